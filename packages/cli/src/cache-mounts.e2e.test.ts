import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createBuilder } from "@kiln/builder";
import { createLocalBlobStore, MOUNT_FILE_MEDIA_TYPE, MOUNT_PACK_MEDIA_TYPE } from "@kiln/cache";
import type { BlobStore, Descriptor, ProgressEvent } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln } from "./e2e-helpers.test-helpers.js";

/** The real local store, recording blob writes and pointer reads. */
function countingStore(dir: string) {
  const inner = createLocalBlobStore(dir);
  const writes: Descriptor[] = [];
  const pointersRead: string[] = [];
  const store: BlobStore = {
    ...inner,
    write(desc, body, o) {
      writes.push(desc);
      return inner.write(desc, body, o);
    },
    readPointer(name, o) {
      pointersRead.push(name);
      return inner.readPointer(name, o);
    },
  };
  return { store, writes, pointersRead };
}

// 2 MiB of a file is its own blob (large); the rest of the cache is small files in packs.
const FIRST = `FROM busybox
RUN --mount=type=cache,target=/root/.cache,id=tool \\
    echo from-the-first-build > /root/.cache/x && mkdir -p /root/.cache/deep && echo deep > /root/.cache/deep/y && \\
    dd if=/dev/zero of=/root/.cache/big bs=1024 count=2048 2>/dev/null && echo done > /first
`;

/** Another command (another cache key, so it runs) using the same cache id. */
const SECOND = `FROM busybox
RUN --mount=type=cache,target=/root/.cache,id=tool \\
    cat /root/.cache/x /root/.cache/deep/y > /seen && wc -c < /root/.cache/big > /big-size && \\
    echo added > /root/.cache/z
`;

describe("cache mounts through the remote cache (type=local, cache-mounts=true)", () => {
  let tmp: TempDir;
  let contextFlags: string[];
  let busyboxRef: string;
  let cacheDir: string;

  async function context(name: string, dockerfile: string) {
    const dir = join(tmp.path, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "Dockerfile"), dockerfile);
    return dir;
  }

  /** A build in this process on a fresh store, importing and exporting through counting stores. */
  async function libraryBuild(name: string, dockerfile: string, root = join(tmp.path, `store-${name}`)) {
    const from = countingStore(cacheDir);
    const to = countingStore(cacheDir);
    const events: ProgressEvent[] = [];
    const out = join(tmp.path, `out-${name}`);
    const builder = createBuilder({ root });
    try {
      await builder.build({
        contextDir: await context(name, dockerfile),
        buildContexts: { busybox: busyboxRef },
        cacheFrom: [{ type: "local", attrs: { src: cacheDir, "cache-mounts": "true" }, store: from.store }],
        cacheTo: [{ type: "local", attrs: { dest: cacheDir, "cache-mounts": "true" }, store: to.store }],
        outputs: [{ type: "local", attrs: { dest: out } }],
        progress: { write: (e) => events.push(e) },
      });
    } finally {
      await builder.close();
    }
    const warnings = events.filter((e) => e.type === "warning");
    return { out, from, to, warnings };
  }

  beforeAll(async () => {
    tmp = await makeTempDir("cache-mounts-e2e");
    cacheDir = join(tmp.path, "cache");
    contextFlags = await busybox(tmp.path);
    busyboxRef = contextFlags[1]?.replace(/^busybox=/, "") ?? "";
  }, 60_000);
  afterAll(() => tmp?.cleanup());

  it("exports a cache mount with the CLI, restores it into a fresh store before the step that uses it", async () => {
    const first = await kiln([
      "build",
      "--root",
      join(tmp.path, "store-first"),
      ...contextFlags,
      "--cache-to",
      `type=local,dest=${cacheDir},cache-mounts=true`,
      "-o",
      `type=local,dest=${join(tmp.path, "out-first")}`,
      await context("first", FIRST),
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/failed/);
    // The BuildKit index keeps its own pointer; the mounts have theirs beside it.
    const index = JSON.parse(await readFile(join(cacheDir, "index.json"), "utf8"));
    expect(
      index.manifests.map((m: Descriptor) => m.annotations?.["org.opencontainers.image.ref.name"]).sort(),
    ).toEqual(["latest", "latest-cache-mounts"]);
    // The first store is wiped: everything the next build sees comes from the cache directory.
    await rm(join(tmp.path, "store-first"), { recursive: true, force: true });

    const second = await libraryBuild("second", SECOND);
    expect(second.warnings).toEqual([]);
    expect(await readFile(join(second.out, "seen"), "utf8")).toBe("from-the-first-build\ndeep\n");
    expect((await readFile(join(second.out, "big-size"), "utf8")).trim()).toBe(String(2048 * 1024));
    expect(existsSync(join(second.out, "root/.cache/x"))).toBe(false);
    // Re-export: the new small file changes one pack; the 2 MiB file is not uploaded again.
    const written = second.to.writes.map((w) => w.mediaType);
    expect(written.filter((t) => t === MOUNT_FILE_MEDIA_TYPE)).toEqual([]);
    expect(written.filter((t) => t === MOUNT_PACK_MEDIA_TYPE)).toHaveLength(1);
    expect(written.filter((t) => t.includes("cache-mount")).length).toBeLessThanOrEqual(3);
  }, 240_000);

  it("imports lazily: a build whose cache-mount step is CACHED (here from the remote index) never reads the mounts", async () => {
    const lazy = await libraryBuild("lazy", SECOND);
    expect(lazy.from.pointersRead).toContain("latest");
    expect(lazy.from.pointersRead).not.toContain("latest-cache-mounts");
    expect(await readFile(join(lazy.out, "seen"), "utf8")).toBe("from-the-first-build\ndeep\n");
  }, 240_000);

  it("merges into a local cache: local files win, missing ones are added", async () => {
    const root = join(tmp.path, "store-merge");
    // A local cache with its own x (and no z): the restore keeps x and adds deep/y and z. The step
    // reads it under sharing=locked: the restore runs holding the lock, before the step.
    const seed = `FROM busybox\nRUN --mount=type=cache,target=/root/.cache,id=tool echo local > /root/.cache/x\n`;
    const local = await kiln(["build", "--root", root, ...contextFlags, await context("merge-seed", seed)]);
    expect(local.code, local.stderr).toBe(0);
    const check = `FROM busybox
RUN --mount=type=cache,target=/root/.cache,id=tool,sharing=locked cat /root/.cache/x /root/.cache/deep/y /root/.cache/z > /seen
`;
    const merged = await libraryBuild("merge", check, root);
    expect(merged.warnings).toEqual([]);
    expect(merged.from.pointersRead).toContain("latest-cache-mounts");
    expect(await readFile(join(merged.out, "seen"), "utf8")).toBe("local\ndeep\nadded\n");
  }, 240_000);
});
