import { join } from "node:path";
import { type GhaCacheServer, makeTempDir, startGhaCacheServer, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln } from "./e2e-helpers.test-helpers.js";
import {
  type Fixture,
  imageLayers,
  importBuild,
  makeFixture,
  notCached,
  steps,
  strayLines,
  twoContexts,
} from "./remote-cache.test-helpers.js";

describe("remote cache type=gha (testkit's Actions cache service on loopback)", () => {
  let tmp: TempDir;
  let f: Fixture;
  let server: GhaCacheServer;

  /** Like a workflow step: url and token only from ACTIONS_* in the environment. */
  const exportBuild = (root: string, cacheTo: string, ctx = f.ctx, to = server, extra: string[] = []) =>
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
        ...extra,
        ctx,
      ],
      { env: to.env(2) },
    );
  const blobGets = () => server.stats.operations["blob:GET"] ?? 0;

  beforeAll(async () => {
    tmp = await makeTempDir("cache-gha-e2e");
    f = await makeFixture(tmp.path);
    server = await startGhaCacheServer();
    // The in-process imports read ACTIONS_* like the CLI does.
    Object.assign(process.env, server.env(2));
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await tmp?.cleanup();
  });

  it("exports mode=min and mode=max under their scopes", async () => {
    const first = join(tmp.path, "first.tar");
    const r = await exportBuild("store-export", "type=gha,scope=main,mode=min", f.ctx, server, [
      "--cache-to",
      "type=gha,scope=max,mode=max",
      "-o",
      `type=oci,dest=${first}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(strayLines(r.stderr)).toEqual([]);
    const keys = server.entries().map((e) => e.key);
    // BuildKit's entry names: the index per scope, and one entry per blob.
    expect(keys.some((k) => k.startsWith("index-main-"))).toBe(true);
    expect(keys.some((k) => k.startsWith("index-max-"))).toBe(true);
    const layers = await imageLayers(first);
    for (const digest of layers) expect(keys).toContain(`buildkit-blob-1-${digest}`);
  }, 180_000);

  it("mode=min: every step CACHED, and only the final stage's layer blobs are downloaded", async () => {
    const out = join(tmp.path, "second.tar");
    const before = blobGets();
    const { events, layersRead, storesClosed } = await importBuild(
      f,
      "min",
      { type: "gha", attrs: { scope: "main" } },
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
    // The service saw the three layer downloads plus the index and the cache config, nothing more.
    const gets = blobGets() - before;
    expect(gets).toBeGreaterThanOrEqual(layers.length + 1);
    expect(gets).toBeLessThanOrEqual(layers.length + 2);
  }, 180_000);

  it("mode=min leaves the build stage out; mode=max caches it too, without downloading layers", async () => {
    const min = await importBuild(
      f,
      "min-target",
      { type: "gha", attrs: { scope: "main" } },
      { target: "build" },
    );
    const ranMin = steps(min.events).filter((e) => e.type === "vertex.started");
    expect(ranMin.some((e) => e.name?.includes("RUN echo built"))).toBe(true);

    const max = await importBuild(
      f,
      "max-target",
      { type: "gha", attrs: { scope: "max" } },
      { target: "build" },
    );
    expect(steps(max.events).length).toBeGreaterThanOrEqual(3);
    expect(notCached(max.events)).toEqual([]);
    expect(max.layersRead).toEqual([]);
  }, 180_000);

  it("two concurrent exports to the same scope keep both builds' records", async () => {
    const contexts = await twoContexts(tmp.path, "gha");
    const results = await Promise.all(
      contexts.map((ctx, i) => exportBuild(`store-concurrent-${i}`, "type=gha,scope=shared,mode=max", ctx)),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const [i, ctx] of contexts.entries()) {
      const { events } = await importBuild(
        f,
        `concurrent-import-${i}`,
        { type: "gha", attrs: { scope: "shared" } },
        { ctx },
      );
      expect(steps(events).length).toBeGreaterThanOrEqual(2);
      expect(notCached(events)).toEqual([]);
    }
  }, 240_000);

  it("API v1 (ACTIONS_CACHE_URL, no ACTIONS_CACHE_SERVICE_V2): export, then an import with every step CACHED", async () => {
    const v1 = await startGhaCacheServer();
    const saved = { ...process.env };
    try {
      const env = v1.env(1);
      expect(env.ACTIONS_CACHE_SERVICE_V2).toBeUndefined();
      // This process (and so the CLI child) otherwise carries the v2 server's environment.
      delete process.env.ACTIONS_CACHE_SERVICE_V2;
      Object.assign(process.env, env);
      const r = await kiln(
        [
          "build",
          "--root",
          join(tmp.path, "store-v1"),
          "--progress",
          "rawjson",
          ...f.contextFlags,
          "--cache-to",
          "type=gha,scope=v1",
          f.ctx,
        ],
        { env },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(v1.stats.operations["rest:POST caches"] ?? 0).toBeGreaterThan(0);
      expect(v1.stats.operations.CreateCacheEntry ?? 0).toBe(0);
      const { events } = await importBuild(f, "v1-import", { type: "gha", attrs: { scope: "v1" } });
      expect(steps(events).length).toBeGreaterThanOrEqual(6);
      expect(notCached(events)).toEqual([]);
    } finally {
      process.env = saved;
      await v1.close();
    }
  }, 180_000);

  it("a service answering 429 + Retry-After during export: the export waits and completes, the build succeeds", async () => {
    const throttled = await startGhaCacheServer({ rateLimit: { limit: 4, windowMs: 2_000 } });
    try {
      const r = await exportBuild("store-throttled", "type=gha,scope=main,mode=max", f.ctx, throttled);
      expect(r.code, r.stderr).toBe(0);
      expect(throttled.stats.throttled).toBeGreaterThan(0);
      expect(strayLines(r.stderr)).toEqual([]);
      // Waiting is reported as a build warning, never as an export failure.
      expect(r.stderr).toContain("throttling");
      expect(r.stderr).not.toContain("cache export type=gha failed");
      expect(throttled.entries().some((e) => e.key.startsWith("index-main-"))).toBe(true);
    } finally {
      await throttled.close();
    }
  }, 240_000);

  it("a service that is gone only warns; ignore-error=false fails the build", async () => {
    const gone = await startGhaCacheServer();
    const env = gone.env(2);
    await gone.close();
    const run = (extra: string) =>
      kiln(
        [
          "build",
          "--root",
          join(tmp.path, "store-gone"),
          "--progress",
          "rawjson",
          ...f.contextFlags,
          "--cache-to",
          `type=gha,scope=main,timeout=3s${extra}`,
          f.ctx,
        ],
        { env },
      );
    const lenient = await run("");
    expect(lenient.code, lenient.stderr).toBe(0);
    const warnings = lenient.stderr.split("\n").filter((l) => l.includes("cache export type=gha failed"));
    expect(warnings).toHaveLength(1);
    const strict = await run(",ignore-error=false");
    expect(strict.code).not.toBe(0);
  }, 180_000);
});
