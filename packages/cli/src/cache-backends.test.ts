import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { resolveCacheExport, resolveCacheImport } from "@kiln/cache";
import { describe, expect, it } from "vitest";
import { CACHE_BACKENDS } from "./cache-backends.js";

const S3 = { bucket: "ci-cache", region: "eu-west-1", endpoint_url: "http://127.0.0.1:9" };

describe("the CLI's cache backend table", () => {
  it("s3: every name of name=a;b is written, the first is read; upload_parallelism reaches the exporter", () => {
    const exp = resolveCacheExport(
      { type: "s3", attrs: { ...S3, name: "main;pr-7", upload_parallelism: "2", mode: "max" } },
      CACHE_BACKENDS,
    );
    expect(exp.names).toEqual(["main", "pr-7"]);
    expect(exp.uploadParallelism).toBe(2);
    expect(exp.layout).toBe("json");
    expect(exp.ignoreError).toBe(true);
    const imp = resolveCacheImport({ type: "s3", attrs: { ...S3, name: "main;pr-7" } }, CACHE_BACKENDS);
    expect(imp.name).toBe("main");
    expect(resolveCacheExport({ type: "s3", attrs: S3 }, CACHE_BACKENDS).names).toEqual(["buildkit"]);
  });

  it("s3: bucket and region fall back to AWS_BUCKET / AWS_REGION; ignore-error=false is kept", () => {
    const exp = resolveCacheExport({ type: "s3", attrs: { "ignore-error": "false" } }, CACHE_BACKENDS, {
      AWS_BUCKET: "from-env",
      AWS_REGION: "us-east-2",
    });
    expect(exp.label).toBe("type=s3");
    expect(exp.ignoreError).toBe(false);
    expect(() => resolveCacheExport({ type: "s3", attrs: {} }, CACHE_BACKENDS, {})).toThrow(/bucket/);
  });

  it("gha: the scope names the index, url and token come from ACTIONS_* when not given", () => {
    const env = {
      ACTIONS_RESULTS_URL: "http://127.0.0.1:9/",
      ACTIONS_RUNTIME_TOKEN: "t",
      ACTIONS_CACHE_SERVICE_V2: "true",
    };
    const exp = resolveCacheExport(
      { type: "gha", attrs: { scope: "pr-7", mode: "max" } },
      CACHE_BACKENDS,
      env,
    );
    expect(exp.names).toEqual(["pr-7"]);
    expect(exp.layout).toBe("json");
    expect(resolveCacheImport({ type: "gha", attrs: {} }, CACHE_BACKENDS, env).name).toBe("buildkit");
    expect(() => resolveCacheExport({ type: "gha", attrs: {} }, CACHE_BACKENDS, {})).toThrow(/token|url/i);
  });

  it("loading the table does not load the AWS SDK (it is loaded on first use of an s3 cache)", () => {
    const table = fileURLToPath(new URL("./cache-backends.ts", import.meta.url));
    const script = `
      import { createRequire } from "node:module";
      await import(${JSON.stringify(table)});
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes("@aws-sdk"));
      console.log(JSON.stringify(loaded.length));`;
    const r = spawnSync(
      process.execPath,
      [
        "--conditions=@kiln/source",
        "--import",
        import.meta.resolve("tsx"),
        "--input-type=module",
        "-e",
        script,
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toBe(0);
  });
});

describe("configured backends handed over by library users (createBuilder + build({ cacheTo }))", () => {
  it("a CacheSpec's backend brings its own pointer names and upload parallelism", async () => {
    const { s3Cache } = await import("@kiln/cache-s3");
    const { ghaCache } = await import("@kiln/cache-gha");
    const s3 = resolveCacheExport(
      {
        type: "s3",
        attrs: { mode: "max" },
        backend: s3Cache({ bucket: "b", region: "r", names: ["x", "y"], uploadParallelism: 3 }),
      },
      {},
    );
    expect(s3.names).toEqual(["x", "y"]);
    expect(s3.uploadParallelism).toBe(3);
    expect(s3.mode).toBe("max");
    const gha = resolveCacheImport(
      {
        type: "gha",
        attrs: {},
        backend: ghaCache({
          scope: "web",
          token: "t",
          url: "http://127.0.0.1:9/",
          apiVersion: 2,
          timeoutMs: 1000,
        }),
      },
      {},
    );
    expect(gha.name).toBe("web");
  });
});
