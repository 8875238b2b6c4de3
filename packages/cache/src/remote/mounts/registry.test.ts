import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BlobStore, Descriptor } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The registry backend and the real registry server, from their sources (not dependencies of this
// package: the format must work over any BlobStore, and this proves it over a real registry).
import { createRegistryBlobStore } from "../../../../cache-registry/src/index.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../../../registry/src/test-helpers/registry-server.test-helpers.js";
import { type CacheMountSource, exportCacheMounts, mountsPointerName } from "./export.js";
import { cacheMountKey, MOUNT_FILE_MEDIA_TYPE, MOUNTS_INDEX_MEDIA_TYPE, SMALL_FILE_MAX } from "./format.js";
import { createCacheMountImporter } from "./importer.js";

const run = promisify(execFile);

describe("cache mounts over a real registry (docker-registry)", () => {
  let tmp: TempDir;
  let registry: RegistryServer;
  beforeAll(async () => {
    tmp = await makeTempDir("mounts-registry");
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
    await tmp?.cleanup();
  });

  it("exports under the <tag>-cache-mounts tag, re-exports only changes, restores into an empty dir", async () => {
    const ref = `${registry.host}/cache/mounts:buildcache`;
    const inner = createRegistryBlobStore({ ref }, { auth: { get: async () => undefined } });
    const writes: Descriptor[] = [];
    const store: BlobStore = {
      ...inner,
      write(desc, body, o) {
        writes.push(desc);
        return inner.write(desc, body, o);
      },
    };
    const dir = join(tmp.path, "go-build");
    await mkdir(join(dir, "00"), { recursive: true });
    for (let i = 0; i < 300; i++) await writeFile(join(dir, "00", `${i}-d`), `object ${i}\n`);
    await writeFile(join(dir, "big"), Buffer.alloc(SMALL_FILE_MAX * 2, 1));
    const mount: CacheMountSource = {
      key: cacheMountKey("go-build"),
      id: "go-build",
      open: async () => ({ path: dir, release: async () => {} }),
    };
    const opts = { store, name: "buildcache", maxSize: 1 << 30, warn: (m: string) => expect.fail(m) };
    const first = await exportCacheMounts([mount], opts);
    expect(first.uploaded).toBe(writes.length);
    expect(writes.some((w) => w.mediaType === MOUNT_FILE_MEDIA_TYPE)).toBe(true);

    // The registry accepted the pointer as a manifest; skopeo reads it like any other.
    const raw = await run("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${registry.host}/cache/mounts:${mountsPointerName("buildcache")}`,
    ]);
    const manifest = JSON.parse(raw.stdout);
    expect(manifest.config.mediaType).toBe(MOUNTS_INDEX_MEDIA_TYPE);
    expect(manifest.layers.length).toBe(writes.length - 1);

    await writeFile(join(dir, "00", "7-d"), "changed\n");
    writes.length = 0;
    const second = await exportCacheMounts([mount], opts);
    expect(second.uploaded).toBe(3); // one pack, the tree, the index
    expect(writes.some((w) => w.mediaType === MOUNT_FILE_MEDIA_TYPE)).toBe(false);

    const dest = join(tmp.path, "restored");
    await mkdir(dest);
    const importer = createCacheMountImporter(
      [{ store, name: "buildcache", label: "registry", options: { maxSize: 0 } }],
      (m) => expect.fail(m),
    );
    await importer.restore(cacheMountKey("go-build"), "go-build", dest);
    expect(await readFile(join(dest, "00", "7-d"), "utf8")).toBe("changed\n");
    expect(await readFile(join(dest, "00", "299-d"), "utf8")).toBe("object 299\n");
    expect((await readFile(join(dest, "big"))).length).toBe(SMALL_FILE_MAX * 2);
  }, 120_000);
});
