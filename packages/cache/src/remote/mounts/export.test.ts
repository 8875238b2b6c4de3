import { mkdirSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type BlobStore, type Descriptor, sha256 } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalBlobStore } from "../local-store.js";
import { parseCacheMountAttrs, withoutCacheMountAttrs } from "./attrs.js";
import { type CacheMountSource, exportCacheMounts, mountsPointerName, readMountsPointer } from "./export.js";
import { cacheMountKey, MOUNTS_INDEX_MEDIA_TYPE, SMALL_FILE_MAX } from "./format.js";
import { createCacheMountImporter } from "./importer.js";

const PACKAGES = 600;

/** The real local store, counting blob writes that reach it (existing blobs are skipped before). */
function counting(dir: string): { store: BlobStore; writes: Descriptor[] } {
  const inner = createLocalBlobStore(dir);
  const writes: Descriptor[] = [];
  return {
    writes,
    store: {
      ...inner,
      write(desc, body, o) {
        writes.push(desc);
        return inner.write(desc, body, o);
      },
    },
  };
}

const source = (id: string, path: string): CacheMountSource => ({
  key: cacheMountKey(id),
  id,
  open: async () => ({ path, release: async () => {} }),
});

describe("exportCacheMounts", () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await makeTempDir("mount-export");
  });
  afterEach(() => tmp.cleanup(), 60_000);

  it("node_modules-like: 6000 files become few blobs; re-export uploads only what changed", async () => {
    const dir = join(tmp.path, "npm");
    for (let p = 0; p < PACKAGES; p++) {
      mkdirSync(join(dir, `node_modules/pkg${p}/lib`), { recursive: true });
      for (let f = 0; f < 10; f++) {
        writeFileSync(join(dir, `node_modules/pkg${p}/lib/f${f}.js`), `module.exports = ${p * 10 + f};\n`);
      }
    }
    const { store, writes } = counting(join(tmp.path, "cache"));
    const warnings: string[] = [];
    const opts = { store, name: "latest", maxSize: 1 << 30, warn: (m: string) => warnings.push(m) };
    let started = Date.now();
    const first = await exportCacheMounts([source("npm", dir)], opts);
    const firstMs = Date.now() - started;
    const packs = writes.filter((w) => w.mediaType.includes("pack")).length;
    // ~6000 / 256 packs, plus the tree and the index: a few dozen requests, not 6000.
    expect(first.uploaded).toBe(writes.length);
    expect(packs).toBeGreaterThan(10);
    expect(packs).toBeLessThan(60);
    expect(writes.length).toBe(packs + 2);

    await writeFile(join(dir, "node_modules/pkg123/lib/f3.js"), "module.exports = 'changed';\n");
    writes.length = 0;
    started = Date.now();
    const second = await exportCacheMounts([source("npm", dir)], opts);
    const secondMs = Date.now() - started;
    // One pack (the changed file's), the new tree and the new index.
    expect(writes.map((w) => w.mediaType).sort()).toEqual([
      "application/vnd.kiln.cache-mount.pack.v1.tar+gzip",
      "application/vnd.kiln.cache-mount.tree.v1+json",
      MOUNTS_INDEX_MEDIA_TYPE,
    ]);
    expect(second.uploaded).toBe(3);
    expect(warnings).toEqual([]);
    console.log(
      `cache mounts, ${PACKAGES * 10} files in ${PACKAGES} dirs: first export ${firstMs} ms, ${first.uploaded} blobs (${packs} packs); ` +
        `one file changed: ${secondMs} ms, ${second.uploaded} blobs`,
    );

    // Importing it into an empty directory restores every file.
    const dest = join(tmp.path, "dest");
    await mkdir(dest);
    const importer = createCacheMountImporter(
      [{ store, name: "latest", label: "test", options: { maxSize: 0 } }],
      (m) => warnings.push(m),
    );
    started = Date.now();
    // An importer limited to other ids leaves this one alone.
    const other = join(tmp.path, "other");
    await mkdir(other);
    await createCacheMountImporter(
      [{ store, name: "latest", label: "test", options: { maxSize: 0, ids: new Set(["go"]) } }],
      (m) => warnings.push(m),
    ).restore(cacheMountKey("npm"), "npm", other);
    expect(await readdir(other)).toEqual([]);
    await importer.restore(cacheMountKey("npm"), "npm", dest);
    console.log(`restored ${PACKAGES * 10} files in ${Date.now() - started} ms`);
    expect(await readFile(join(dest, "node_modules/pkg123/lib/f3.js"), "utf8")).toBe(
      "module.exports = 'changed';\n",
    );
    expect(await readFile(join(dest, "node_modules/pkg599/lib/f9.js"), "utf8")).toBe(
      "module.exports = 5999;\n",
    );
    expect(warnings).toEqual([]);
  }, 120_000);

  it("merges by mount: a second build's export keeps the first build's other mounts", async () => {
    const store = createLocalBlobStore(join(tmp.path, "cache"));
    const dirs = ["go", "npm"].map((id) => join(tmp.path, id));
    for (const d of dirs) {
      await mkdir(d);
      await writeFile(join(d, "x"), d);
    }
    const opts = { store, name: "main", maxSize: 1 << 30, warn: () => {} };
    await exportCacheMounts([source("go", dirs[0] as string)], opts);
    await exportCacheMounts([source("npm", dirs[1] as string)], opts);
    const pointer = await store.readPointer(mountsPointerName("main"));
    const index = await readMountsPointer(store, pointer?.data ?? new Uint8Array());
    expect(index.mounts.map((m) => m.id).sort()).toEqual(["go", "npm"]);
    // The BuildKit index's own pointer is never touched.
    expect(await store.readPointer("main")).toBeUndefined();
    // The pointer is an OCI manifest listing every blob, so registries keep them.
    const manifest = JSON.parse(Buffer.from(pointer?.data ?? []).toString());
    expect(manifest.config.mediaType).toBe(MOUNTS_INDEX_MEDIA_TYPE);
    expect(manifest.layers).toHaveLength(4);
  });

  it("a broken import warns once and restores what it can; it never throws", async () => {
    const dir = join(tmp.path, "pip");
    await mkdir(dir);
    await writeFile(join(dir, "small"), "kept\n");
    await writeFile(join(dir, "large"), Buffer.alloc(SMALL_FILE_MAX + 1, 3));
    const cache = join(tmp.path, "cache");
    const store = createLocalBlobStore(cache);
    await exportCacheMounts([source("pip", dir)], {
      store,
      name: "latest",
      maxSize: 1 << 30,
      warn: () => {},
    });
    // The large file's blob is lost from the cache directory.
    await rm(join(cache, "blobs/sha256", sha256(Buffer.alloc(SMALL_FILE_MAX + 1, 3)).slice(7)));
    const warnings: string[] = [];
    const dest = join(tmp.path, "dest");
    await mkdir(dest);
    const importer = createCacheMountImporter(
      [{ store, name: "latest", label: "type=local", options: { maxSize: 0 } }],
      (m) => warnings.push(m),
    );
    await importer.restore(cacheMountKey("pip"), "pip", dest);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cache mount "pip" import from type=local failed.*not found/);
    expect(await readFile(join(dest, "small"), "utf8")).toBe("kept\n");
    expect(await readdir(dest)).toEqual(["small"]);
  });

  it("skips a mount that would pass cache-mounts-max-size, with a warning naming it", async () => {
    const store = createLocalBlobStore(join(tmp.path, "cache"));
    const small = join(tmp.path, "small");
    const big = join(tmp.path, "big");
    await mkdir(small);
    await mkdir(big);
    await writeFile(join(small, "a"), "x".repeat(100));
    await writeFile(join(big, "b"), "y".repeat(5000));
    const warnings: string[] = [];
    const r = await exportCacheMounts([source("small", small), source("big", big)], {
      store,
      name: "latest",
      maxSize: parseCacheMountAttrs({ "cache-mounts": "true", "cache-mounts-max-size": "2k" })?.maxSize ?? 0,
      warn: (m) => warnings.push(m),
    });
    expect(r.exported).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cache mount "big" not exported: 5000 bytes .*cache-mounts-max-size/);
  });
});

describe("cache-mounts attributes", () => {
  it("parses on/off, sizes and ids; backends never see them", () => {
    expect(parseCacheMountAttrs({})).toBeUndefined();
    expect(parseCacheMountAttrs({ "cache-mounts": "false" })).toBeUndefined();
    expect(parseCacheMountAttrs({ "cache-mounts": "true" })?.maxSize).toBe(2 * 1024 ** 3);
    const opts = parseCacheMountAttrs({
      "cache-mounts": "1",
      "cache-mounts-max-size": "512m",
      "cache-mounts-ids": "npm;go-build",
    });
    expect(opts?.maxSize).toBe(512 * 1024 ** 2);
    expect([...(opts?.ids ?? [])]).toEqual(["npm", "go-build"]);
    expect(() => parseCacheMountAttrs({ "cache-mounts": "maybe" })).toThrow(/expected true or false/);
    expect(() => parseCacheMountAttrs({ "cache-mounts": "true", "cache-mounts-max-size": "lots" })).toThrow(
      /a size like 2g/,
    );
    expect(() => parseCacheMountAttrs({ "cache-mounts-ids": "npm" })).toThrow(/need cache-mounts=true/);
    expect(withoutCacheMountAttrs({ dest: "d", "cache-mounts": "true", "cache-mounts-ids": "a" })).toEqual({
      dest: "d",
    });
  });
});
