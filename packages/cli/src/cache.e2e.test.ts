import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { createBuilder } from "@kiln/builder";
import { CACHE_CONFIG_MEDIA_TYPE, createLocalBlobStore } from "@kiln/cache";
import type { BlobStore, Descriptor, ProgressEvent } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln, run } from "./e2e-helpers.test-helpers.js";

const DOCKERFILE = `FROM busybox AS build
RUN echo built > /built.txt
COPY a.txt /a.txt
RUN cat /a.txt /built.txt > /combined.txt

FROM busybox
COPY --from=build /combined.txt /app/combined.txt
RUN wc -c /app/combined.txt > /app/size.txt
`;

/** The real local store, counting which layer blobs are read from it. */
function countingStore(dir: string): { store: BlobStore; layersRead: string[] } {
  const inner = createLocalBlobStore(dir);
  const layersRead: string[] = [];
  return {
    layersRead,
    store: {
      ...inner,
      read(desc: Descriptor, o): Promise<Readable> {
        if (desc.mediaType !== CACHE_CONFIG_MEDIA_TYPE) layersRead.push(desc.digest);
        return inner.read(desc, o);
      },
    },
  };
}

describe("remote cache (type=local): export, wipe the store, import", () => {
  let tmp: TempDir;
  let ctx: string;
  let contextFlags: string[];
  let busyboxRef: string;

  /** Steps the user sees ([stage n/m] …), not [internal] loads. */
  const steps = (list: { type: string; name?: string }[]) =>
    list.filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));

  /** A build in this process on a fresh store, importing from `src` through a counting store. */
  async function importBuild(name: string, src: string, extra: { target?: string; out?: string } = {}) {
    const counting = countingStore(src);
    const events: ProgressEvent[] = [];
    const builder = createBuilder({ root: join(tmp.path, `store-${name}`) });
    try {
      await builder.build({
        contextDir: ctx,
        buildContexts: { busybox: busyboxRef },
        cacheFrom: [{ type: "local", attrs: { src }, store: counting.store }],
        ...(extra.target ? { target: extra.target } : {}),
        outputs: extra.out ? [{ type: "oci", attrs: { dest: extra.out } }] : [],
        progress: { write: (e) => events.push(e) },
      });
    } finally {
      await builder.close();
    }
    return { events: events as { type: string; name?: string }[], layersRead: counting.layersRead };
  }

  beforeAll(async () => {
    tmp = await makeTempDir("cache-e2e");
    ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
    await writeFile(join(ctx, "a.txt"), "alpha\n");
    contextFlags = await busybox(tmp.path);
    busyboxRef = contextFlags[1]?.replace(/^busybox=/, "") ?? "";
  }, 60_000);
  afterAll(() => tmp?.cleanup());

  it("exports with --cache-to (min and max) and reports cache.manifest in --metadata-file", async () => {
    const meta = join(tmp.path, "meta.json");
    const r = await kiln([
      "build",
      "--root",
      join(tmp.path, "store-export"),
      "--progress",
      "rawjson",
      ...contextFlags,
      "--cache-to",
      `type=local,dest=${join(tmp.path, "cache-min")}`,
      "--export-cache",
      `type=local,dest=${join(tmp.path, "cache-max")},mode=max`,
      "-o",
      `type=oci,dest=${join(tmp.path, "first.tar")}`,
      "--metadata-file",
      meta,
      ctx,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const metadata = JSON.parse(await readFile(meta, "utf8"));
    expect(metadata["cache.manifest"].mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    for (const dir of ["cache-min", "cache-max"]) {
      const index = JSON.parse(await readFile(join(tmp.path, dir, "index.json"), "utf8"));
      expect(
        index.manifests.map((m: Descriptor) => m.annotations?.["org.opencontainers.image.ref.name"]),
      ).toEqual(["latest"]);
    }
    // skopeo reads the cache directory as an OCI layout whose manifest's config is the cache config.
    const raw = await run("skopeo", ["inspect", "--raw", `oci:${join(tmp.path, "cache-min")}:latest`]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(JSON.parse(raw.stdout).config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
  }, 180_000);

  it("mode=min: every step CACHED and only the final image's layer blobs are downloaded", async () => {
    const out = join(tmp.path, "second.tar");
    const { events, layersRead } = await importBuild("min", join(tmp.path, "cache-min"), { out });
    const seen = steps(events);
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);

    const manifest = await run("skopeo", ["inspect", "--raw", `oci-archive:${out}`]);
    expect(manifest.code, manifest.stderr).toBe(0);
    const layers = (JSON.parse(manifest.stdout).layers as Descriptor[]).map((l) => l.digest);
    expect(layers).toHaveLength(3);
    expect([...layersRead].sort()).toEqual([...layers].sort());
    // The image is the one the first build wrote.
    const first = await run("skopeo", ["inspect", "--raw", `oci-archive:${join(tmp.path, "first.tar")}`]);
    expect(JSON.parse(first.stdout).layers.map((l: Descriptor) => l.digest)).toEqual(layers);
  }, 180_000);

  it("mode=min keeps intermediate stages out; mode=max caches them too", async () => {
    const min = await importBuild("min-target", join(tmp.path, "cache-min"), { target: "build" });
    const ranMin = steps(min.events)
      .filter((e) => e.type === "vertex.started")
      .map((e) => e.name);
    expect(ranMin.some((n) => n?.includes("RUN echo built"))).toBe(true);

    const max = await importBuild("max-target", join(tmp.path, "cache-max"), { target: "build" });
    const seen = steps(max.events);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    // No output asked for the layers: nothing was downloaded at all.
    expect(max.layersRead).toEqual([]);
  }, 180_000);

  it("a changed last step runs on its imported input: only that input's blobs are downloaded", async () => {
    const changed = join(tmp.path, "ctx-changed");
    await mkdir(changed);
    await writeFile(join(changed, "Dockerfile"), DOCKERFILE.replace("wc -c", "wc -l"));
    await writeFile(join(changed, "a.txt"), "alpha\n");
    const counting = countingStore(join(tmp.path, "cache-max"));
    const events: { type: string; name?: string }[] = [];
    const builder = createBuilder({ root: join(tmp.path, "store-changed") });
    try {
      await builder.build({
        contextDir: changed,
        buildContexts: { busybox: busyboxRef },
        cacheFrom: [{ type: "local", attrs: { src: join(tmp.path, "cache-max") }, store: counting.store }],
        progress: { write: (e) => events.push(e) },
      });
    } finally {
      await builder.close();
    }
    const ran = steps(events)
      .filter((e) => e.type === "vertex.started")
      .map((e) => e.name);
    expect(ran).toEqual([expect.stringContaining("RUN wc -l")]);
    expect(steps(events).filter((e) => e.type === "vertex.cached").length).toBeGreaterThanOrEqual(5);
    // The RUN's input is FROM busybox + COPY --from: two layers; the build stage is never downloaded.
    expect(counting.layersRead).toHaveLength(2);
    const first = await run("skopeo", ["inspect", "--raw", `oci-archive:${join(tmp.path, "first.tar")}`]);
    const finalLayers = JSON.parse(first.stdout).layers.map((l: Descriptor) => l.digest);
    expect([...counting.layersRead].sort()).toEqual(finalLayers.slice(0, 2).sort());

    // The applied input is now in the local cache: another change builds without any import.
    await writeFile(join(changed, "Dockerfile"), DOCKERFILE.replace("wc -c", "wc -w"));
    const local: { type: string; name?: string }[] = [];
    const again = createBuilder({ root: join(tmp.path, "store-changed") });
    try {
      await again.build({
        contextDir: changed,
        buildContexts: { busybox: busyboxRef },
        progress: { write: (e) => local.push(e) },
      });
    } finally {
      await again.close();
    }
    const ranAgain = steps(local)
      .filter((e) => e.type === "vertex.started")
      .map((e) => e.name);
    expect(ranAgain).toEqual([expect.stringContaining("RUN wc -w")]);
  }, 180_000);

  it("re-exporting an imported cache downloads nothing; exporting it elsewhere copies only its blobs", async () => {
    const src = join(tmp.path, "cache-min");
    const counting = countingStore(src);
    const elsewhere = join(tmp.path, "cache-copy");
    const builder = createBuilder({ root: join(tmp.path, "store-reexport") });
    try {
      await builder.build({
        contextDir: ctx,
        buildContexts: { busybox: busyboxRef },
        cacheFrom: [{ type: "local", attrs: { src }, store: counting.store }],
        cacheTo: [
          { type: "local", attrs: { dest: src }, store: counting.store },
          { type: "local", attrs: { dest: elsewhere } },
        ],
      });
    } finally {
      await builder.close();
    }
    // The same directory already has every blob; the other one gets the three layers of the result,
    // streamed from the imported cache (the fresh store never held them).
    const copied = JSON.parse(await readFile(join(elsewhere, "index.json"), "utf8")).manifests[0];
    const manifest = JSON.parse(
      await readFile(join(elsewhere, "blobs", "sha256", copied.digest.slice(7)), "utf8"),
    );
    expect(manifest.layers).toHaveLength(3);
    expect([...counting.layersRead].sort()).toEqual(manifest.layers.map((l: Descriptor) => l.digest).sort());

    const again = await importBuild("reexported", elsewhere);
    expect(steps(again.events).filter((e) => e.type !== "vertex.cached")).toEqual([]);
  }, 180_000);

  it("a missing or corrupt cache to import warns and the build runs", async () => {
    const corrupt = join(tmp.path, "cache-corrupt");
    await mkdir(corrupt);
    await writeFile(join(corrupt, "index.json"), "{ not json");
    for (const [i, src] of [join(tmp.path, "cache-absent"), corrupt].entries()) {
      // A fresh store: a local hit at the top would never consult the import at all.
      const builder = createBuilder({ root: join(tmp.path, `store-bad-import-${i}`) });
      const warnings: string[] = [];
      try {
        await builder.build({
          contextDir: ctx,
          buildContexts: { busybox: busyboxRef },
          cacheFrom: [{ type: "local", attrs: { src } }],
          progress: { write: (e) => e.type === "warning" && warnings.push(e.message) },
        });
      } finally {
        await builder.close();
      }
      expect(warnings.filter((w) => w.startsWith("cache import"))).toHaveLength(1);
    }
  }, 120_000);

  it("two concurrent builds exporting to the same cache keep each other's records", async () => {
    const shared = join(tmp.path, "cache-shared");
    const contexts = await Promise.all(
      ["one", "two"].map(async (name) => {
        const dir = join(tmp.path, `ctx-${name}`);
        await mkdir(dir);
        await writeFile(join(dir, "Dockerfile"), `FROM busybox\nRUN echo ${name} > /${name}.txt\n`);
        return dir;
      }),
    );
    const results = await Promise.all(
      contexts.map((dir, i) =>
        kiln([
          "build",
          "--root",
          join(tmp.path, `store-concurrent-${i}`),
          "--progress",
          "rawjson",
          ...contextFlags,
          "--cache-to",
          `type=local,dest=${shared},mode=max`,
          dir,
        ]),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const [i, dir] of contexts.entries()) {
      const builder = createBuilder({ root: join(tmp.path, `store-concurrent-import-${i}`) });
      const events: { type: string; name?: string }[] = [];
      try {
        await builder.build({
          contextDir: dir,
          buildContexts: { busybox: busyboxRef },
          cacheFrom: [{ type: "local", attrs: { src: shared } }],
          progress: { write: (e) => events.push(e) },
        });
      } finally {
        await builder.close();
      }
      const seen = steps(events);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    }
  }, 240_000);

  it("a failing cache export only warns, unless ignore-error=false", async () => {
    const blocker = join(tmp.path, "not-a-dir");
    await writeFile(blocker, "a file where the cache directory should go\n");
    const build = (...extra: string[]) =>
      kiln([
        "build",
        "--root",
        join(tmp.path, "store-export"),
        "--progress",
        "rawjson",
        ...contextFlags,
        "--cache-to",
        `type=local,dest=${join(blocker, "cache")}${extra.join("")}`,
        ctx,
      ]);
    const lenient = await build();
    expect(lenient.code, lenient.stderr).toBe(0);
    const warnings = lenient.stderr.split("\n").filter((l) => l.includes("cache export type=local failed"));
    expect(warnings).toHaveLength(1);

    const strict = await build(",ignore-error=false");
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain("not-a-dir");
  }, 120_000);

  it("rejects unknown cache types and attributes before building, and names the missing backends", async () => {
    const flags = ["build", "--root", join(tmp.path, "store-export"), ...contextFlags];
    const unknown = await kiln([...flags, "--cache-to", "type=floppy,dest=x", ctx]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown cache type "floppy"');
    const azblob = await kiln([...flags, "--cache-from", "type=azblob,name=x", ctx]);
    expect(azblob.code).not.toBe(0);
    expect(azblob.stderr).toContain("cache type=azblob is not available");
    const attr = await kiln([...flags, "--cache-to", `type=local,dest=${tmp.path}/c,colour=blue`, ctx]);
    expect(attr.code).not.toBe(0);
    expect(attr.stderr).toContain('unknown attribute "colour"');
    const mode = await kiln([...flags, "--cache-to", `type=local,dest=${tmp.path}/c,mode=all`, ctx]);
    expect(mode.code).not.toBe(0);
    expect(mode.stderr).toContain("use min or max");
  }, 120_000);
});
