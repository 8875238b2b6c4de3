import { inspect } from "node:util";
import { isKilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { parseByteSize, parseGhaAttrs, parseGoDuration } from "./attrs.js";
import { ghaCache, ghaCacheModule } from "./index.js";

const RESULTS = "https://results-receiver.actions.githubusercontent.com/";
const LEGACY = "https://artifactcache.actions.githubusercontent.com/abc/";

describe("parseGhaAttrs", () => {
  it("fills token and URLs from the runner environment like buildx, v2 when ACTIONS_CACHE_SERVICE_V2 is true", () => {
    const env = {
      ACTIONS_RUNTIME_TOKEN: "tkn",
      ACTIONS_RESULTS_URL: RESULTS,
      ACTIONS_CACHE_URL: LEGACY,
      ACTIONS_CACHE_SERVICE_V2: "True",
    };
    expect(parseGhaAttrs({}, env)).toMatchObject({
      scope: "buildkit",
      token: "tkn",
      url: RESULTS,
      apiVersion: 2,
      timeoutMs: 600_000,
      rateLimit: { requests: 150, perMs: 300_000 },
      sizeBudget: 10 * 1024 ** 3,
    });
    // Not set (or false): the legacy URL and API v1.
    expect(parseGhaAttrs({}, { ...env, ACTIONS_CACHE_SERVICE_V2: undefined })).toMatchObject({
      url: LEGACY,
      apiVersion: 1,
    });
    expect(parseGhaAttrs({}, { ...env, ACTIONS_CACHE_SERVICE_V2: "false" })).toMatchObject({
      url: LEGACY,
      apiVersion: 1,
    });
  });

  it("follows BuildKit's version rules", () => {
    const env = {};
    expect(parseGhaAttrs({ token: "t", url: LEGACY, url_v2: RESULTS }, env)).toMatchObject({
      url: RESULTS,
      apiVersion: 2,
    });
    expect(parseGhaAttrs({ token: "t", url: LEGACY, url_v2: RESULTS, version: "1" }, env)).toMatchObject({
      url: LEGACY,
      apiVersion: 1,
    });
    expect(parseGhaAttrs({ token: "t", url: RESULTS }, env)).toMatchObject({ apiVersion: 2 });
    expect(parseGhaAttrs({ token: "t", url: "http://127.0.0.1:9/" }, env)).toMatchObject({ apiVersion: 1 });
    expect(parseGhaAttrs({ token: "t", url: "http://127.0.0.1:9/", version: "2" }, env)).toMatchObject({
      apiVersion: 2,
    });
    // Without version, ACTIONS_RESULTS_URL is only the v1 fallback URL.
    expect(parseGhaAttrs({ token: "t" }, { ACTIONS_RESULTS_URL: "http://127.0.0.1:9/" })).toMatchObject({
      apiVersion: 1,
    });
  });

  it("parses scope, timeout, rate_limit and size_budget; accepts BuildKit's generic attributes", () => {
    const o = parseGhaAttrs(
      {
        token: "t",
        url: LEGACY,
        scope: "web-amd64",
        timeout: "1h30m",
        rate_limit: "100/10m",
        size_budget: "4GiB",
        mode: "max",
        "ignore-error": "true",
        repository: "o/r",
        ghtoken: "x",
      },
      {},
    );
    expect(o).toMatchObject({
      scope: "web-amd64",
      timeoutMs: 5_400_000,
      rateLimit: { requests: 100, perMs: 600_000 },
      sizeBudget: 4 * 1024 ** 3,
    });
    expect(
      parseGhaAttrs({ token: "t", url: LEGACY, rate_limit: "off", size_budget: "off" }, {}),
    ).toMatchObject({
      rateLimit: undefined,
      sizeBudget: undefined,
    });
  });

  it.each([
    [{ url: LEGACY }, "token not set"],
    [{ token: "t" }, "url not set"],
    [{ token: "t", url: LEGACY, timeout: "10 minutes" }, "timeout"],
    [{ token: "t", url: LEGACY, version: "v2" }, "version"],
    [{ token: "t", url: LEGACY, version: "3" }, "version"],
    [{ token: "t", url: LEGACY, rate_limit: "fast" }, "rate_limit"],
    [{ token: "t", url: LEGACY, size_budget: "big" }, "size_budget"],
    [{ token: "t", url: LEGACY, bucket: "b" }, 'unknown attribute "bucket"'],
  ])("rejects %j with INVALID_ARGUMENT", (attrs, text) => {
    let err: unknown;
    try {
      parseGhaAttrs(attrs as Record<string, string>, {});
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toContain(text);
  });

  it("redacts the token when options are serialized or inspected", () => {
    const options = parseGhaAttrs({ token: "very-secret-token", url: LEGACY }, {});
    expect(options.token).toBe("very-secret-token");
    expect(JSON.stringify(options)).not.toContain("very-secret-token");
    expect(JSON.stringify(options)).toContain('"token":"***"');
    expect(inspect(options)).not.toContain("very-secret-token");
    expect({ ...options }.token).toBe("very-secret-token");
  });

  it("never echoes the token in errors", () => {
    try {
      parseGhaAttrs({ token: "very-secret-token", url: "::not a url" }, {});
      expect.unreachable();
    } catch (e) {
      expect(JSON.stringify({ ...(e as object), m: (e as Error).message })).not.toContain(
        "very-secret-token",
      );
    }
  });
});

describe("duration and size parsing", () => {
  it("reads Go durations", () => {
    expect(parseGoDuration("10m")).toBe(600_000);
    expect(parseGoDuration("1.5s")).toBe(1500);
    expect(parseGoDuration("2h3m4s")).toBe(7_384_000);
    expect(parseGoDuration("250ms")).toBe(250);
    expect(parseGoDuration("10")).toBeUndefined();
    expect(parseGoDuration("m")).toBeUndefined();
  });
  it("reads sizes with decimal and binary units", () => {
    expect(parseByteSize("1024")).toBe(1024);
    expect(parseByteSize("2KiB")).toBe(2048);
    expect(parseByteSize("1.5GB")).toBe(1_500_000_000);
    expect(parseByteSize("10g")).toBe(10_000_000_000);
    expect(parseByteSize("ten")).toBeUndefined();
  });
});

describe("ghaCacheModule", () => {
  it("is type gha; backend() creates a store without I/O", async () => {
    expect(ghaCacheModule.type).toBe("gha");
    const options = ghaCacheModule.parseAttrs({ token: "t", url: "http://127.0.0.1:9/" }, {});
    const backend = ghaCacheModule.backend(options);
    expect(backend).toMatchObject({ type: "gha", options });
    const store = ghaCache(options).create();
    expect(store.capabilities).toEqual({ rangeReads: false, touch: false, conditionalPointers: true });
    await store.close?.();
  });
});
