import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CACHE_CONFIG_MEDIA_TYPE } from "@kiln/cache";
import type { Descriptor } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "../../registry/src/test-helpers/proxy.test-helpers.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { busybox, events, kiln, run } from "./e2e-helpers.test-helpers.js";

const DOCKERFILE = `FROM busybox AS build
RUN echo built > /built.txt
COPY a.txt /a.txt
RUN cat /a.txt /built.txt > /combined.txt

FROM busybox
COPY --from=build /combined.txt /app/combined.txt
RUN wc -c /app/combined.txt > /app/size.txt
`;

/** Steps the user sees ([stage n/m] …), not [internal] loads. */
const steps = (stderr: string) =>
  events(stderr).filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));

/**
 * `--cache-to/--cache-from type=registry` against the real docker-registry on loopback, every request
 * going through a counting proxy (plain HTTP: loopback registries need no TLS flag).
 */
describe("remote cache (type=registry): export, wipe the store, import", () => {
  let tmp: TempDir;
  let registry: RegistryServer;
  let proxy: FaultProxy;
  let ctx: string;
  let contextFlags: string[];

  const build = (store: string, ...args: string[]) =>
    kiln(["build", "--root", join(tmp.path, store), "--progress", "rawjson", ...contextFlags, ...args]);
  /** Requests since `from`, e.g. the blob GETs of one repository. */
  const since = (from: number) => proxy.requests.slice(from);
  const blobGets = (from: number, repository: string) =>
    since(from)
      .filter((r) => r.method === "GET" && r.path.startsWith(`/v2/${repository}/blobs/sha256:`))
      .map((r) => r.path.replace(/^.*\/blobs\//, ""));
  /** Digests of completed blob uploads (the final PUT names the digest). */
  const uploadedDigests = (from: number, repository: string) =>
    since(from)
      .filter((r) => r.method === "PUT" && r.path.startsWith(`/v2/${repository}/blobs/uploads/`))
      .map((r) => decodeURIComponent(r.path.replace(/^.*[?&]digest=([^&]+).*$/, "$1")));
  const uploads = (from: number) =>
    since(from).filter((r) => r.method === "POST" && r.path.includes("/blobs/uploads/"));

  async function manifestOf(ref: string) {
    const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    expect(raw.code, raw.stderr).toBe(0);
    return JSON.parse(raw.stdout) as { config: Descriptor; layers: Descriptor[] };
  }

  beforeAll(async () => {
    tmp = await makeTempDir("registry-cache-e2e");
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
    ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
    await writeFile(join(ctx, "a.txt"), "alpha\n");
    contextFlags = await busybox(tmp.path);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await tmp?.cleanup();
  });

  it("exports mode=min and mode=max as a cache manifest under the ref's tag, uploading in parallel", async () => {
    const from = proxy.requests.length;
    const r = await build(
      "store-export",
      "--cache-to",
      `type=registry,ref=${proxy.host}/cache:min`,
      "--cache-to",
      `type=registry,ref=${proxy.host}/cache:max,mode=max`,
      "-o",
      `type=oci,dest=${join(tmp.path, "first.tar")}`,
      ctx,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stderr).filter((e) => e.type === "warning")).toEqual([]);
    for (const tag of ["min", "max"]) {
      const manifest = await manifestOf(`${registry.host}/cache:${tag}`);
      expect(manifest.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
      expect(manifest.layers.length).toBeGreaterThanOrEqual(3);
    }
    expect((await manifestOf(`${registry.host}/cache:max`)).layers.length).toBeGreaterThan(
      (await manifestOf(`${registry.host}/cache:min`)).layers.length,
    );
    // Every layer is uploaded once, over both exports: the second one finds the shared ones (HEAD).
    const max = await manifestOf(`${registry.host}/cache:max`);
    expect(uploads(from).length).toBe(max.layers.length + 2); // + the two cache configs
    expect(proxy.maxInFlight()).toBeGreaterThan(1);
  }, 180_000);

  it("exporting again uploads no layer: every one is there (HEAD only); only the merged config is new", async () => {
    const from = proxy.requests.length;
    const r = await build(
      "store-export",
      "--cache-to",
      `type=registry,ref=${proxy.host}/cache:max,mode=max`,
      ctx,
    );
    expect(r.code, r.stderr).toBe(0);
    const manifest = await manifestOf(`${registry.host}/cache:max`);
    // The config carries fresh timestamps, so it is a new blob; no layer is uploaded or downloaded.
    expect(uploadedDigests(from, "cache")).toEqual([manifest.config.digest]);
    expect(blobGets(from, "cache").filter((d) => manifest.layers.some((l) => l.digest === d))).toEqual([]);
    const heads = since(from)
      .filter((q) => q.method === "HEAD" && q.path.startsWith("/v2/cache/blobs/"))
      .map((q) => q.path.replace(/^.*\/blobs\//, ""));
    for (const layer of manifest.layers) expect(heads).toContain(layer.digest);
  }, 180_000);

  it("mode=min: every step CACHED on a wiped store, and only the final stage's layers are downloaded", async () => {
    const from = proxy.requests.length;
    const out = join(tmp.path, "second.tar");
    const r = await build(
      "store-import-min",
      "--cache-from",
      `type=registry,ref=${proxy.host}/cache:min`,
      "-o",
      `type=oci,dest=${out}`,
      ctx,
    );
    expect(r.code, r.stderr).toBe(0);
    const seen = steps(r.stderr);
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);

    const image = await run("skopeo", ["inspect", "--raw", `oci-archive:${out}`]);
    expect(image.code, image.stderr).toBe(0);
    const layers = (JSON.parse(image.stdout).layers as Descriptor[]).map((l) => l.digest);
    expect(layers).toHaveLength(3);
    const config = (await manifestOf(`${registry.host}/cache:min`)).config.digest;
    expect(blobGets(from, "cache").sort()).toEqual([config, ...layers].sort());
  }, 180_000);

  it("mode=max caches the build stage: --target build is CACHED and downloads no layer (bare ref)", async () => {
    const from = proxy.requests.length;
    const r = await build(
      "store-import-max",
      "--cache-from",
      `${proxy.host}/cache:max`,
      "--target",
      "build",
      ctx,
    );
    expect(r.code, r.stderr).toBe(0);
    const seen = steps(r.stderr);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    const config = (await manifestOf(`${registry.host}/cache:max`)).config.digest;
    expect(blobGets(from, "cache")).toEqual([config]);

    // mode=min has no record of the build stage's own result: its steps run.
    const min = await build(
      "store-import-min-target",
      "--cache-from",
      `${proxy.host}/cache:min`,
      "--target",
      "build",
      ctx,
    );
    expect(min.code, min.stderr).toBe(0);
    expect(
      steps(min.stderr).some((e) => e.type === "vertex.started" && e.name?.includes("RUN echo built")),
    ).toBe(true);
  }, 180_000);

  it("--push beside --cache-to: both run at once, and imported layers are mounted, not downloaded", async () => {
    // Every request is slowed down, so a push and an export one after the other cannot overlap.
    proxy.setFault(() => ({ delay: 50 }));
    const from = proxy.requests.length;
    try {
      const r = await build(
        "store-push",
        "--cache-from",
        `type=registry,ref=${proxy.host}/cache:min`,
        "--cache-to",
        `type=registry,ref=${proxy.host}/cache:pushed`,
        "-t",
        `${proxy.host}/app:1`,
        "--push",
        ctx,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(steps(r.stderr).filter((e) => e.type !== "vertex.cached")).toEqual([]);
    } finally {
      proxy.setFault(undefined);
    }
    const image = await manifestOf(`${registry.host}/app:1`);
    const imported = (await manifestOf(`${registry.host}/cache:min`)).config.digest;
    const exported = (await manifestOf(`${registry.host}/cache:pushed`)).config.digest;
    // Only cache configs are read (the import's, and the export's re-read); no layer is downloaded.
    expect([...new Set(blobGets(from, "cache"))].sort()).toEqual([imported, exported].sort());
    // Each image layer was linked from the cache repository, none uploaded.
    const mounted = uploads(from)
      .filter((r) => r.path.startsWith("/v2/app/") && r.path.includes("&from=cache"))
      .map((r) => r.path.replace(/^.*mount=([^&]+).*$/, "$1"));
    for (const layer of image.layers) expect(mounted).toContain(layer.digest);
    const uploadedToApp = uploadedDigests(from, "app");
    expect(uploadedToApp).toEqual([image.config.digest]);
    const copied = await run("skopeo", [
      "copy",
      "--src-tls-verify=false",
      `docker://${registry.host}/app:1`,
      `oci:${join(tmp.path, "pushed-copy")}:1`,
    ]);
    expect(copied.code, copied.stderr).toBe(0);

    const requests = since(from);
    const index = (pred: (path: string) => boolean, last = false) =>
      last ? requests.findLastIndex((r) => pred(r.path)) : requests.findIndex((r) => pred(r.path));
    const firstExport = index(
      (p) => p.startsWith("/v2/cache/") && p.includes("/blobs/") && !p.endsWith(imported),
    );
    const lastPush = index((p) => p.startsWith("/v2/app/"), true);
    expect(firstExport).toBeGreaterThanOrEqual(0);
    expect(firstExport).toBeLessThan(lastPush);
  }, 180_000);

  it("two concurrent exports to the same ref keep both builds' records (write, re-read, merge)", async () => {
    const contexts = await Promise.all(
      ["one", "two"].map(async (name) => {
        const dir = join(tmp.path, `ctx-${name}`);
        await mkdir(dir);
        await writeFile(join(dir, "Dockerfile"), `FROM busybox\nRUN echo ${name} > /${name}.txt\n`);
        return dir;
      }),
    );
    const ref = `type=registry,ref=${proxy.host}/cache:shared,mode=max`;
    const results = await Promise.all(
      contexts.map((dir, i) => build(`store-concurrent-${i}`, "--cache-to", ref, dir)),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const [i, dir] of contexts.entries()) {
      const r = await build(
        `store-concurrent-import-${i}`,
        "--cache-from",
        `${proxy.host}/cache:shared`,
        dir,
      );
      expect(r.code, r.stderr).toBe(0);
      const seen = steps(r.stderr);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    }
  }, 240_000);

  it("a registry killed mid-export leaves the build successful with one warning; ignore-error=false fails", async () => {
    const doomed = await startRegistry();
    const front = await startFaultProxy(doomed.port);
    let killed: Promise<void> | undefined;
    // The registry process is stopped when the first blob upload starts: the rest of the export meets
    // a dead server (the proxy's upstream connection fails and drops the client's).
    front.setFault((req) => {
      if (req.method === "POST" && req.path.includes("/blobs/uploads/")) {
        killed ??= doomed.stop();
        return { reset: true };
      }
      return undefined;
    });
    try {
      const lenient = await build(
        "store-export",
        "--cache-to",
        `type=registry,ref=${front.host}/cache:x`,
        "-o",
        `type=oci,dest=${join(tmp.path, "killed.tar")}`,
        ctx,
      );
      expect(lenient.code, lenient.stderr).toBe(0);
      expect(killed).toBeDefined();
      const warnings = events(lenient.stderr)
        .filter((e) => e.type === "warning")
        .map((e) => (e as { message?: string }).message ?? "");
      expect(warnings, warnings.join("\n")).toHaveLength(1);
      expect(warnings[0]).toContain("cache export type=registry failed, the build result is unaffected");

      const strict = await build(
        "store-export",
        "--cache-to",
        `type=registry,ref=${front.host}/cache:x,ignore-error=false`,
        ctx,
      );
      expect(strict.code).not.toBe(0);
      expect(strict.stderr).toContain(front.host);
    } finally {
      await front.stop();
      await killed;
      await doomed.stop().catch(() => {});
    }
  }, 240_000);
});
