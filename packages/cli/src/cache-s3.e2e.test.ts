import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln } from "./e2e-helpers.test-helpers.js";
import {
  type Fixture,
  imageLayers,
  importBuild,
  makeFixture,
  notCached,
  type RequestLoggingS3,
  startRequestLoggingS3,
  steps,
  strayLines,
  twoContexts,
} from "./remote-cache.test-helpers.js";

// Credentials and region come from the environment, like on a CI runner (BuildKit's AWS_* fallbacks).
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: "kiln-e2e-key",
  AWS_SECRET_ACCESS_KEY: "kiln-e2e-secret-value",
  AWS_REGION: "us-east-1",
};

describe("remote cache type=s3 (fauxqs on loopback): export, wipe the store, import", () => {
  let tmp: TempDir;
  let f: Fixture;
  let s3: RequestLoggingS3;
  const bucket = "kiln-e2e";

  const attrs = (extra: Record<string, string> = {}) => ({
    bucket,
    endpoint_url: s3.endpoint,
    use_path_style: "true",
    ...extra,
  });
  const flag = (a: Record<string, string>) =>
    Object.entries({ type: "s3", ...a })
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  const exportBuild = (root: string, cacheTo: string, ctx = f.ctx) =>
    kiln(
      [
        "build",
        "--root",
        join(tmp.path, root),
        "--progress",
        "rawjson",
        ...f.contextFlags,
        "--cache-to",
        cacheTo,
        ctx,
      ],
      { env: AWS_ENV },
    );

  beforeAll(async () => {
    // The in-process imports read AWS_* like the CLI does.
    Object.assign(process.env, AWS_ENV);
    tmp = await makeTempDir("cache-s3-e2e");
    f = await makeFixture(tmp.path);
    s3 = await startRequestLoggingS3();
    await s3.bucket(bucket);
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
    await tmp?.cleanup();
  });

  it("exports mode=min under each of name=a;b and mode=max, with no SDK noise in the output", async () => {
    const first = join(tmp.path, "first.tar");
    const r = await kiln(
      [
        "build",
        "--root",
        join(tmp.path, "store-export"),
        "--progress",
        "rawjson",
        ...f.contextFlags,
        "--cache-to",
        flag(attrs({ name: "main;pr-7", mode: "min", upload_parallelism: "2" })),
        "--cache-to",
        flag(attrs({ name: "max", mode: "max" })),
        "-o",
        `type=oci,dest=${first}`,
        f.ctx,
      ],
      { env: AWS_ENV },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(strayLines(r.stderr)).toEqual([]);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK/);
    for (const name of ["main", "pr-7", "max"]) {
      const res = await fetch(`${s3.endpoint}/${bucket}/manifests/${name}`);
      expect(res.status, name).toBe(200);
      const index = (await res.json()) as { cacheconfig?: unknown; layers?: unknown[] };
      expect(index.layers?.length, name).toBeGreaterThan(0);
    }
  }, 180_000);

  it("mode=min: every step CACHED, and only the final stage's layer blobs are downloaded", async () => {
    const out = join(tmp.path, "second.tar");
    const before = s3.requests.length;
    const { events, layersRead, storesClosed } = await importBuild(
      f,
      "min",
      { type: "s3", attrs: attrs({ name: "main" }) },
      { out },
    );
    expect(steps(events).length).toBeGreaterThanOrEqual(6);
    expect(notCached(events)).toEqual([]);
    const layers = await imageLayers(out);
    expect(layers).toHaveLength(3);
    expect([...layersRead].sort()).toEqual([...layers].sort());
    expect(layers).toEqual(await imageLayers(join(tmp.path, "first.tar")));
    // The build closed the store it created for --cache-from.
    expect(storesClosed).toBe(1);
    // The server's own log agrees: the three layers and nothing else of the blobs.
    const blobGets = s3.requests
      .slice(before)
      .filter((r) => r.startsWith(`GET /${bucket}/blobs/`))
      .map((r) => r.replace(/^GET \/[^/]+\/blobs\//, "").replace(/\?.*$/, ""));
    const layerGets = blobGets.filter((d) => layers.includes(decodeURIComponent(d)));
    expect([...new Set(layerGets.map(decodeURIComponent))].sort()).toEqual([...layers].sort());
    // Besides the layers, at most the cache config is fetched.
    expect(blobGets.length - layerGets.length).toBeLessThanOrEqual(1);
  }, 180_000);

  it("mode=min leaves the build stage out; mode=max caches it too, without downloading anything", async () => {
    const min = await importBuild(
      f,
      "min-target",
      { type: "s3", attrs: attrs({ name: "main" }) },
      { target: "build" },
    );
    const ranMin = steps(min.events).filter((e) => e.type === "vertex.started");
    expect(ranMin.some((e) => e.name?.includes("RUN echo built"))).toBe(true);

    const max = await importBuild(
      f,
      "max-target",
      { type: "s3", attrs: attrs({ name: "max" }) },
      { target: "build" },
    );
    expect(steps(max.events).length).toBeGreaterThanOrEqual(3);
    expect(notCached(max.events)).toEqual([]);
    expect(max.layersRead).toEqual([]);
  }, 180_000);

  it("two concurrent exports to the same name keep both builds' records", async () => {
    const contexts = await twoContexts(tmp.path, "s3");
    const results = await Promise.all(
      contexts.map((ctx, i) =>
        exportBuild(`store-concurrent-${i}`, flag(attrs({ name: "shared", mode: "max" })), ctx),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const [i, ctx] of contexts.entries()) {
      const { events } = await importBuild(
        f,
        `concurrent-import-${i}`,
        { type: "s3", attrs: attrs({ name: "shared" }) },
        { ctx },
      );
      expect(steps(events).length).toBeGreaterThanOrEqual(2);
      expect(notCached(events)).toEqual([]);
    }
  }, 240_000);

  it("upload_parallelism bounds the blob uploads in flight (default 4)", async () => {
    for (const [parallelism, check] of [
      ["1", (n: number) => expect(n).toBe(1)],
      [undefined, (n: number) => expect(n).toBeGreaterThan(1)],
    ] as const) {
      const server = await startRequestLoggingS3();
      try {
        await server.bucket(bucket);
        server.slowBlobUploads(300);
        const a = { bucket, endpoint_url: server.endpoint, use_path_style: "true", mode: "max" };
        const r = await exportBuild(
          `store-parallel-${parallelism ?? "default"}`,
          flag(parallelism ? { ...a, upload_parallelism: parallelism } : a),
        );
        expect(r.code, r.stderr).toBe(0);
        // mode=max: busybox plus the build stage's and the final stage's layers, all new here.
        expect(
          server.requests.filter((q) => q.startsWith("PUT") && q.includes("/blobs/")).length,
        ).toBeGreaterThan(3);
        check(server.maxBlobUploadsInFlight);
      } finally {
        await server.stop();
      }
    }
  }, 240_000);

  it("a server killed mid-export: the build succeeds with one clear warning; ignore-error=false fails it", async () => {
    const dying = await startRequestLoggingS3();
    try {
      await dying.bucket(bucket);
      dying.crashWhen((method, url) => method === "PUT" && url.includes("/blobs/"));
      const cacheTo = flag({
        bucket,
        endpoint_url: dying.endpoint,
        use_path_style: "true",
        retry_max_attempts: "2",
      });
      const lenient = await exportBuild("store-killed", cacheTo);
      expect(lenient.code, lenient.stderr).toBe(0);
      // The server really died during the upload of blobs, before any index was written.
      expect(dying.requests.some((r) => r.startsWith("PUT") && r.includes("/blobs/"))).toBe(true);
      expect(dying.requests.some((r) => r.includes("/manifests/"))).toBe(false);
      // Every warning about the cache (the build's "no output" note aside): exactly one.
      const warnings = lenient.stderr
        .split("\n")
        .filter((l) => l.includes('"warning"') && /s3|upload|export/i.test(l));
      expect(warnings, lenient.stderr).toHaveLength(1);
      expect(warnings[0]).toContain("cache export type=s3 failed, the build result is unaffected");
      expect(strayLines(lenient.stderr)).toEqual([]);
    } finally {
      await dying.stop();
    }
    const dyingToo = await startRequestLoggingS3();
    try {
      await dyingToo.bucket(bucket);
      dyingToo.crashWhen((method, url) => method === "PUT" && url.includes("/blobs/"));
      const strict = await exportBuild(
        "store-killed-strict",
        flag({ bucket, endpoint_url: dyingToo.endpoint, use_path_style: "true", "ignore-error": "false" }),
      );
      expect(strict.code).not.toBe(0);
      expect(strict.stderr).toContain("ECONNREFUSED");
    } finally {
      await dyingToo.stop();
    }
  }, 240_000);

  it("bad s3 attributes fail before building, naming the attribute", async () => {
    const noBucket = await kiln(
      [
        "build",
        "--root",
        join(tmp.path, "store-bad"),
        ...f.contextFlags,
        "--cache-to",
        "type=s3,region=x",
        f.ctx,
      ],
      { env: { AWS_BUCKET: "" } },
    );
    expect(noBucket.code).not.toBe(0);
    expect(noBucket.stderr).toContain("bucket");
    const unknown = await exportBuild("store-bad", flag(attrs({ colour: "blue" })));
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("unknown attribute colour");
  }, 120_000);
});
