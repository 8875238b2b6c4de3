import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { cacheKeyOf, type Digest, type Layer, sha256 } from "@kiln/core";
import { blobStoreSuite, makeTempDir } from "@kiln/testkit";
import { describe, expect, it } from "vitest";
import { createCacheChains } from "./chains.js";
import { indexCacheConfig, readCacheImport } from "./import.js";
import { createLocalBlobStore, REF_NAME_ANNOTATION } from "./local-store.js";
import { writeCache } from "./write.js";

blobStoreSuite(
  async () => {
    const tmp = await makeTempDir("local-blob-store");
    return { store: createLocalBlobStore(join(tmp.path, "cache")), cleanup: () => tmp.cleanup() };
  },
  // The layout keeps the pointer's manifest in blobs/ (BuildKit's format), so it is a blob as well.
  { name: "local cache directory (OCI layout)", pointersAreBlobs: true },
);

const outputKey = (name: string, i = 0): Digest => sha256(`${sha256(name)}@${i}`);

function layerBytes(name: string): { layer: Layer; bytes: Buffer } {
  const bytes = Buffer.from(`layer ${name}`);
  return {
    bytes,
    layer: {
      blob: {
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: sha256(bytes),
        size: bytes.length,
      },
      diffId: sha256(`diff ${name}`),
    },
  };
}

/** One build's export: a base record and an app record on top of it with its own layer. */
function buildExport(app: string) {
  const { layer, bytes } = layerBytes(app);
  const cc = createCacheChains();
  const base = cc.add(outputKey("base"));
  cc.add(outputKey(app), [[{ src: base, selector: "sel" }]], { layers: [layer], createdAt: new Date() });
  return { ours: cc.marshal(), bytes };
}

describe("writeCache on the local store", () => {
  it("writes an OCI layout BuildKit reads: index.json tag → manifest → cache config + layers", async () => {
    const tmp = await makeTempDir("local-cache-layout");
    try {
      const dir = join(tmp.path, "cache");
      const store = createLocalBlobStore(dir);
      const { ours, bytes } = buildExport("app");
      const written = await writeCache(ours, {
        store,
        name: "latest",
        layout: "manifest",
        openBlob: async () => Readable.from([bytes]),
      });
      expect(written.uploaded).toBe(1);
      const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0].annotations[REF_NAME_ANNOTATION]).toBe("latest");
      expect(index.manifests[0].digest).toBe(written.descriptor.digest);
      const manifest = JSON.parse(
        await readFile(join(dir, "blobs", "sha256", written.descriptor.digest.slice(7)), "utf8"),
      );
      expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
      expect(manifest.config.mediaType).toBe("application/vnd.buildkit.cacheconfig.v0");
      expect(manifest.layers[0].annotations["containerd.io/uncompressed"]).toBe(sha256("diff app"));
      expect(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8"))).toEqual({
        imageLayoutVersion: "1.0.0",
      });

      // Re-exporting uploads nothing: the blob is there already.
      const again = await writeCache(ours, {
        store,
        name: "latest",
        layout: "manifest",
        openBlob: async () => {
          throw new Error("must not be opened");
        },
      });
      expect(again.uploaded).toBe(0);

      // The import side finds the app record under the key the solver computes for it.
      const pointer = await store.readPointer("latest");
      const { config, layers } = await readCacheImport(store, pointer?.data ?? new Uint8Array());
      const imported = indexCacheConfig(config, layers);
      const baseKey = cacheKeyOf(outputKey("base"), []);
      const appKey = cacheKeyOf(outputKey("app"), [{ key: baseKey, selector: "sel" }]);
      expect(imported.lookup(appKey)?.layers.map((l) => l.blob.digest)).toEqual([sha256(bytes)]);
      expect(imported.lookup(baseKey)).toBeUndefined();
      expect(imported.lookup(cacheKeyOf(outputKey("app"), [{ key: baseKey }]))).toBeUndefined();
    } finally {
      await tmp.cleanup();
    }
  });

  it("two concurrent exports to the same tag keep both builds' records (read-merge-CAS)", async () => {
    const tmp = await makeTempDir("local-cache-merge");
    try {
      const dir = join(tmp.path, "cache");
      // Separate store objects: as separate processes, they share only the directory and its lock.
      const exports = ["app-one", "app-two", "app-three", "app-four"].map((app) => ({
        app,
        ...buildExport(app),
      }));
      const results = await Promise.all(
        exports.map(({ ours, bytes }) =>
          writeCache(ours, {
            store: createLocalBlobStore(dir),
            name: "latest",
            layout: "manifest",
            openBlob: async () => Readable.from([bytes]),
          }),
        ),
      );
      expect(results.some((r) => r.attempts > 1)).toBe(true);
      const store = createLocalBlobStore(dir);
      const pointer = await store.readPointer("latest");
      const { config, layers } = await readCacheImport(store, pointer?.data ?? new Uint8Array());
      const digests = config.records.map((r) => r.digest);
      for (const { app } of exports) expect(digests).toContain(outputKey(app));
      expect(digests.filter((d) => d === outputKey("base"))).toHaveLength(1);
      expect(layers.size).toBe(exports.length);
    } finally {
      await tmp.cleanup();
    }
  });
});
