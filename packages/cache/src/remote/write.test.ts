import { join } from "node:path";
import { Readable } from "node:stream";
import { type BlobStore, cacheKeyOf, type Digest, type Layer, sha256 } from "@kiln/core";
import { makeTempDir } from "@kiln/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { createCacheChains } from "./chains.js";
import { indexCacheConfig, readCacheImport } from "./import.js";
import { createLocalBlobStore } from "./local-store.js";
import { defaultCacheModules, parseDuration, resolveCacheExport, resolveCacheImport } from "./session.js";
import { writeCache } from "./write.js";

const outputKey = (name: string): Digest => sha256(`${sha256(name)}@0`);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function tempStore(): Promise<{ dir: string; store: BlobStore }> {
  const tmp = await makeTempDir("cache-write");
  cleanups.push(() => tmp.cleanup());
  const dir = join(tmp.path, "cache");
  return { dir, store: createLocalBlobStore(dir) };
}

function oneRecord(app: string, createdAt = new Date()) {
  const bytes = Buffer.from(`layer of ${app}`);
  const layer: Layer = {
    blob: {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: sha256(bytes),
      size: bytes.length,
    },
    diffId: sha256(`diff of ${app}`),
  };
  const cc = createCacheChains();
  cc.add(outputKey(app), [], { layers: [layer], createdAt });
  return { ours: cc.marshal(), openBlob: async () => Readable.from([bytes]), layer };
}

async function importedKeys(store: BlobStore, name = "latest") {
  const pointer = await store.readPointer(name);
  const { config, layers } = await readCacheImport(store, pointer?.data ?? new Uint8Array());
  return { config, layers, index: indexCacheConfig(config, layers) };
}

describe("writeCache layouts", () => {
  it("json (S3/GHA): the pointer is the config itself, with layer annotations that import reads", async () => {
    const { store } = await tempStore();
    const { ours, openBlob, layer } = oneRecord("json-app");
    await writeCache(ours, { store, name: "buildkit", layout: "json", openBlob });
    const raw = JSON.parse(Buffer.from((await store.readPointer("buildkit"))?.data ?? []).toString());
    expect(raw.layers[0].annotations).toMatchObject({
      mediaType: layer.blob.mediaType,
      diffID: layer.diffId,
      size: layer.blob.size,
    });
    const { index } = await importedKeys(store, "buildkit");
    expect(index.lookup(cacheKeyOf(outputKey("json-app"), []))?.layers).toEqual([layer]);
  });

  it("index (image-manifest=false): layers then the config in an OCI index", async () => {
    const { store } = await tempStore();
    const { ours, openBlob, layer } = oneRecord("index-app");
    await writeCache(ours, { store, name: "latest", layout: "index", openBlob });
    const raw = JSON.parse(Buffer.from((await store.readPointer("latest"))?.data ?? []).toString());
    expect(raw.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(raw.manifests.at(-1).mediaType).toBe("application/vnd.buildkit.cacheconfig.v0");
    const { index } = await importedKeys(store);
    expect(index.lookup(cacheKeyOf(outputKey("index-app"), []))?.layers).toEqual([layer]);
  });
});

describe("writeCache retention", () => {
  it("drops results older than the retention window from the merged index, keeps fresh ones", async () => {
    const { store } = await tempStore();
    const old = oneRecord("old", new Date(Date.now() - 30 * 24 * 3_600_000));
    const fresh = oneRecord("fresh", new Date(Date.now() - 3_600_000));
    // Both in one write (what a build that imported the old result would export).
    const seed = createCacheChains();
    for (const r of [old, fresh]) seed.addConfig(r.ours.config, r.ours.layers);
    const blobs = new Map([old, fresh].map((r) => [r.layer.blob.digest, r.openBlob]));
    await writeCache(seed.marshal(), {
      store,
      name: "latest",
      layout: "manifest",
      openBlob: (layer) => (blobs.get(layer.blob.digest) as () => Promise<Readable>)(),
    });
    expect((await importedKeys(store)).config.records).toHaveLength(2);
    const mine = oneRecord("mine");
    await writeCache(mine.ours, { store, name: "latest", layout: "manifest", openBlob: mine.openBlob });
    const { config } = await importedKeys(store);
    expect(config.records.map((r) => r.digest).sort()).toEqual(
      [outputKey("fresh"), outputKey("mine")].sort(),
    );
  });
});

describe("writeCache without compare-and-swap", () => {
  it("re-reads after writing and merges again when another writer's index replaced its own", async () => {
    const { store: inner } = await tempStore();
    const intruder = oneRecord("intruder");
    let intrude = true;
    // A store without CAS whose first pointer write is immediately overwritten by another build.
    const store: BlobStore = {
      ...inner,
      capabilities: { ...inner.capabilities, conditionalPointers: false },
      async writePointer(name, data) {
        await inner.writePointer(name, data);
        if (intrude) {
          intrude = false;
          await writeCache(intruder.ours, {
            store: inner,
            name,
            layout: "manifest",
            openBlob: intruder.openBlob,
          });
        }
        return true;
      },
    };
    const mine = oneRecord("mine");
    const result = await writeCache(mine.ours, {
      store,
      name: "latest",
      layout: "manifest",
      openBlob: mine.openBlob,
    });
    expect(result.attempts).toBe(2);
    const { config } = await importedKeys(inner);
    expect(config.records.map((r) => r.digest).sort()).toEqual(
      [outputKey("intruder"), outputKey("mine")].sort(),
    );
  });
});

describe("writeCache without compare-and-swap: a late overwrite", () => {
  it("looks again after settling and merges back records a slower writer's stale index dropped", async () => {
    const { store: inner } = await tempStore();
    const stale = oneRecord("stale");
    // The slower writer's index: built from a read before ours landed, so it lacks our records.
    await writeCache(stale.ours, {
      store: inner,
      name: "other",
      layout: "manifest",
      openBlob: stale.openBlob,
    });
    const staleIndex = (await inner.readPointer("other"))?.data ?? new Uint8Array();
    let wrote = false;
    let overwritten = false;
    const store: BlobStore = {
      ...inner,
      capabilities: { ...inner.capabilities, conditionalPointers: false },
      async writePointer(name, data) {
        wrote = true;
        return inner.writePointer(name, data);
      },
      async readPointer(name, o) {
        const value = await inner.readPointer(name, o);
        // Our read-back sees our own index (confirmed); the stale one lands right after it.
        if (wrote && !overwritten) {
          overwritten = true;
          await inner.writePointer(name, staleIndex);
        }
        return value;
      },
    };
    const mine = oneRecord("mine");
    const result = await writeCache(mine.ours, {
      store,
      name: "latest",
      layout: "manifest",
      openBlob: mine.openBlob,
      settleMs: 10,
    });
    expect(overwritten).toBe(true);
    expect(result.attempts).toBe(2);
    const { config } = await importedKeys(inner);
    expect(config.records.map((r) => r.digest).sort()).toEqual(
      [outputKey("mine"), outputKey("stale")].sort(),
    );
  });
});

describe("writeCache on stores that expire blobs", () => {
  it("touches an existing blob older than touch_refresh instead of uploading it, leaves young ones", async () => {
    const { store: inner } = await tempStore();
    const old = oneRecord("old");
    const young = oneRecord("young");
    for (const r of [old, young]) {
      await writeCache(r.ours, { store: inner, name: "seed", layout: "json", openBlob: r.openBlob });
    }
    const touched: string[] = [];
    const store: BlobStore = {
      ...inner,
      capabilities: { ...inner.capabilities, touch: true },
      async info(digest, o) {
        const info = await inner.info(digest, o);
        const age = digest === old.layer.blob.digest ? 48 * 3_600_000 : 60_000;
        return info && { size: info.size, updatedAt: new Date(Date.now() - age) };
      },
      touch: async (digest) => void touched.push(digest),
    };
    const both = createCacheChains();
    both.addConfig(old.ours.config, old.ours.layers);
    both.addConfig(young.ours.config, young.ours.layers);
    const result = await writeCache(both.marshal(), {
      store,
      name: "buildkit",
      layout: "json",
      touchAfterMs: parseDuration("24h", "touch_refresh"),
      openBlob: async () => {
        throw new Error("nothing is uploaded");
      },
    });
    expect(result.uploaded).toBe(0);
    expect(touched).toEqual([old.layer.blob.digest]);
  });

  it("parses Go durations", () => {
    expect(parseDuration("1h30m", "x")).toBe(5_400_000);
    expect(parseDuration("500ms", "x")).toBe(500);
    expect(() => parseDuration("soon", "x")).toThrow(/duration/);
  });
});

describe("resolving --cache-to / --cache-from", () => {
  const modules = defaultCacheModules();

  it("applies BuildKit's defaults and kiln's lenient ignore-error", () => {
    const exp = resolveCacheExport({ type: "local", attrs: { dest: "/tmp/x" } }, modules);
    expect([exp.mode, exp.ignoreError, exp.layout, exp.names]).toEqual(["min", true, "manifest", ["latest"]]);
    const strict = resolveCacheExport(
      {
        type: "local",
        attrs: { dest: "/tmp/x", mode: "max", "ignore-error": "false", "image-manifest": "false", tag: "v1" },
      },
      modules,
    );
    expect([strict.mode, strict.ignoreError, strict.layout, strict.names]).toEqual([
      "max",
      false,
      "index",
      ["v1"],
    ]);
    const zstd = resolveCacheExport(
      { type: "local", attrs: { dest: "/tmp/x", compression: "zstd" } },
      modules,
    );
    expect(zstd.warnings.join()).toContain("never re-compressed");
    expect(resolveCacheImport({ type: "local", attrs: { src: "/tmp/x", tag: "v2" } }, modules).name).toBe(
      "v2",
    );
  });

  it("fails clearly on unknown types, separately packaged backends, bad attributes", () => {
    expect(() => resolveCacheExport({ type: "floppy", attrs: {} }, modules)).toThrow(
      /unknown cache type "floppy"/,
    );
    expect(() => resolveCacheImport({ type: "s3", attrs: { bucket: "b" } }, modules)).toThrow(
      /type=s3 is not available/,
    );
    expect(() => resolveCacheExport({ type: "local", attrs: {} }, modules)).toThrow(/dest=DIR/);
    expect(() => resolveCacheExport({ type: "local", attrs: { dest: "x", mode: "all" } }, modules)).toThrow(
      /min or max/,
    );
    expect(() =>
      resolveCacheExport({ type: "local", attrs: { dest: "x", "ignore-error": "maybe" } }, modules),
    ).toThrow(/true or false/);
    expect(() => resolveCacheExport({ type: "local", attrs: { dest: "x", reset: "true" } }, modules)).toThrow(
      /reset=true is not supported/,
    );
  });
});
