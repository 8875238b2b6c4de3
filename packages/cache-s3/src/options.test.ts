import { inspect } from "node:util";
import { isKilnError, type KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { s3CacheModule } from "./index.js";

const parse = (attrs: Record<string, string>, env: Record<string, string | undefined> = {}) =>
  s3CacheModule.parseAttrs(attrs, env);

function failure(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    expect(isKilnError(err, "INVALID_ARGUMENT"), String(err)).toBe(true);
    return err as KilnError;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("s3 parseAttrs", () => {
  it("fills BuildKit's defaults", () => {
    expect(parse({ bucket: "b", region: "eu-west-1" })).toEqual({
      bucket: "b",
      region: "eu-west-1",
      prefix: "",
      blobsPrefix: "blobs/",
      manifestsPrefix: "manifests/",
      names: ["buildkit"],
      usePathStyle: false,
      touchRefreshMs: 24 * 3_600_000,
      uploadParallelism: 4,
      retryMode: "standard",
      retryMaxAttempts: 3,
      disableAcceptEncoding: false,
    });
  });

  it("reads every attribute", () => {
    const o = parse({
      type: "s3",
      mode: "max",
      "ignore-error": "true",
      bucket: "b",
      region: "r",
      prefix: "p/",
      blobs_prefix: "bl/",
      manifests_prefix: "ma/",
      name: "main;pr-1",
      endpoint_url: "http://127.0.0.1:9000",
      use_path_style: "true",
      access_key_id: "AKID",
      secret_access_key: "SECRET",
      session_token: "TOKEN",
      touch_refresh: "1h30m",
      upload_parallelism: "8",
      retry_mode: "adaptive",
      retry_max_attempts: "5",
      disable_accept_encoding: "1",
    });
    expect(o).toMatchObject({
      prefix: "p/",
      blobsPrefix: "bl/",
      manifestsPrefix: "ma/",
      names: ["main", "pr-1"],
      endpointUrl: "http://127.0.0.1:9000",
      usePathStyle: true,
      touchRefreshMs: 90 * 60_000,
      uploadParallelism: 8,
      retryMode: "adaptive",
      retryMaxAttempts: 5,
      disableAcceptEncoding: true,
      credentials: { accessKeyId: "AKID", secretAccessKey: "SECRET", sessionToken: "TOKEN" },
    });
  });

  it("falls back to AWS_BUCKET, AWS_REGION and the AWS_* keys; attributes win", () => {
    const env = {
      AWS_BUCKET: "env-b",
      AWS_REGION: "env-r",
      AWS_ACCESS_KEY_ID: "ENVKEY",
      AWS_SECRET_ACCESS_KEY: "ENVSECRET",
      AWS_SESSION_TOKEN: "ENVTOKEN",
    };
    expect(parse({}, env)).toMatchObject({
      bucket: "env-b",
      region: "env-r",
      credentials: { accessKeyId: "ENVKEY", secretAccessKey: "ENVSECRET", sessionToken: "ENVTOKEN" },
    });
    const explicit = parse({ bucket: "b", access_key_id: "K", secret_access_key: "S" }, env);
    expect(explicit.bucket).toBe("b");
    // The environment's session token belongs to the environment's key, not to an explicit one.
    expect(explicit.credentials).toEqual({ accessKeyId: "K", secretAccessKey: "S" });
    // No keys anywhere: the SDK's default chain (profile, SSO, instance role) decides.
    expect(parse({ bucket: "b", region: "r" }).credentials).toBeUndefined();
  });

  it("keeps secrets out of JSON and inspect output", () => {
    const o = parse({ bucket: "b", region: "r", access_key_id: "AKID", secret_access_key: "TOPSECRET" });
    const text = `${JSON.stringify(o)} ${inspect(o, { depth: 5 })}`;
    expect(text).not.toContain("TOPSECRET");
    expect(text).toContain("AKID");
    expect(o.credentials?.secretAccessKey).toBe("TOPSECRET");
  });

  it.each([
    [{ region: "r" }, "bucket"],
    [{ bucket: "b" }, "region"],
    [{ bucket: "b", region: "r", access_key_id: "K" }, "secret_access_key"],
    [{ bucket: "b", region: "r", secret_access_key: "S" }, "access_key_id"],
    [{ bucket: "b", region: "r", touch_refresh: "1d" }, "touch_refresh"],
    [{ bucket: "b", region: "r", touch_refresh: "-5m" }, "touch_refresh"],
    [{ bucket: "b", region: "r", use_path_style: "yes" }, "use_path_style"],
    [{ bucket: "b", region: "r", upload_parallelism: "0" }, "upload_parallelism"],
    [{ bucket: "b", region: "r", upload_parallelism: "4x" }, "upload_parallelism"],
    [{ bucket: "b", region: "r", retry_mode: "legacy" }, "retry_mode"],
    [{ bucket: "b", region: "r", retry_max_attempts: "0" }, "retry_max_attempts"],
    [{ bucket: "b", region: "r", disable_accept_encoding: "maybe" }, "disable_accept_encoding"],
    [{ bucket: "b", region: "r", endpoint_url: "not a url" }, "endpoint_url"],
    [{ bucket: "b", region: "r", name: "a;;b" }, "name"],
    [{ bucket: "b", region: "r", bukket: "x" }, "bukket"],
    [{ bucket: "b", region: "r", type: "gha" }, "type"],
  ])("refuses %j naming %s", (attrs, name) => {
    expect(failure(() => parse(attrs)).message).toContain(name);
  });

  it("accepts Go durations", () => {
    const ms = (v: string) => parse({ bucket: "b", region: "r", touch_refresh: v }).touchRefreshMs;
    expect(ms("0")).toBe(0);
    expect(ms("300ms")).toBe(300);
    expect(ms("1.5h")).toBe(5_400_000);
    expect(ms("2h45m30s")).toBe(9_930_000);
    expect(ms("1000us")).toBe(1);
  });
});
