import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type Descriptor, type Digest, sha256 } from "@kiln/core";
import { makeTempDir } from "@kiln/testkit";
import { describe, expect, it } from "vitest";
import { layerChain } from "./cache-config.js";
import { readCacheImport } from "./import.js";
import { createLocalBlobStore } from "./local-store.js";

const fixtures = join(import.meta.dirname, "fixtures");

/**
 * An inline cache written by a real BuildKit (dockerd 20.10's, from ../shared/anchors) for
 *   FROM busybox AS build / RUN echo built > /built.txt
 *   FROM busybox / COPY hello.txt / COPY --from=build /built.txt / RUN cat … > /both.txt
 * pushed to a registry; the manifest and config are kept byte for byte. kiln must read it as BuildKit
 * does: records with links and selectors, results as positions in the image's layer list.
 */
describe("BuildKit-written caches", () => {
  it("reads dockerd 20.10 BuildKit's inline cache from an image", async () => {
    const manifest = await readFile(join(fixtures, "buildkit-20.10-inline.manifest.json"));
    const config = await readFile(join(fixtures, "buildkit-20.10-inline.config.json"));
    const tmp = await makeTempDir("bk-interop");
    try {
      const store = createLocalBlobStore(tmp.path);
      const configDesc = (JSON.parse(manifest.toString()) as { config: Descriptor }).config;
      expect(configDesc.digest).toBe(sha256(config));
      await store.write(configDesc, Readable.from([config]));
      await store.writePointer("bk", manifest);

      const pointer = await store.readPointer("bk");
      const imported = await readCacheImport(store, pointer?.data ?? new Uint8Array());
      const { records, layers } = imported.config;
      expect(records).toHaveLength(7);
      expect(layers.map((l) => l.parent)).toEqual([-1, 0, 1, 2]);

      const byDigest = new Map(records.map((r) => [r.digest, r]));
      const run = byDigest.get(
        "sha256:2fa7b2fde3e45cd1cda51ee13faaf30be486f7cab7d4ea916033069fd6f908d0" as Digest,
      );
      // The last RUN's result is the whole image: layer 3 with its three parents.
      expect(run?.results.map((r) => layerChain(imported.config, r.layer))).toEqual([[0, 1, 2, 3]]);
      // COPY --from: one input linked by selector to the build stage's record, the other by content.
      const copyFrom = byDigest.get(
        "sha256:fdc8c814729d8fbe011d47d61498b35e65cb32110dfd156b8275deea38d808a5" as Digest,
      );
      const alternatives = copyFrom?.inputs[1] ?? [];
      expect(alternatives).toHaveLength(2);
      expect(alternatives.some((l) => l.selector?.startsWith("sha256:5892ac89"))).toBe(true);
      expect(alternatives.some((l) => !l.selector)).toBe(true);
      // Every imported layer knows its diff id (from the image config's rootfs).
      expect(imported.layers.size).toBe(4);
      for (const layer of imported.layers.values()) expect(layer.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await tmp.cleanup();
    }
  });
});
