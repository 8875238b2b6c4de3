import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, link, mkdir, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { type DirectoryRef, type ImmutableRef, type Layer, sha256 } from "@kiln/core";
import { parallelGzipStream } from "@kiln/oci";
import { snapshotterDiff } from "@kiln/snapshotter";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalStore } from "../store.js";
import { fileOp } from "./file.js";
import { openTestEnv } from "./remote.test-helpers.js";
import type { OpEnvironment } from "./types.js";

/**
 * A lone COPY writes its layer while copying (layer-capture.ts). That layer must be byte for byte the
 * one the differ makes of the finished snapshot, or the same build would push different images
 * depending on which path made the layer; and a copy the capture cannot describe must fall back to
 * the differ. Each case runs on both snapshotters.
 */
describe.each(["overlay", "native"] as const)("layers written during a COPY (%s snapshotter)", (kind) => {
  let tmp: TempDir;
  let store: LocalStore;
  let env: OpEnvironment;
  let base: ImmutableRef;
  let context: DirectoryRef;

  beforeAll(async () => {
    tmp = await makeTempDir(`file-capture-${kind}`);
    ({ store, env } = await openTestEnv(join(tmp.path, "store"), {}, kind));
    base = await store.refs.build(undefined, "base", async (dir) => {
      await mkdir(join(dir, "usr/local/bin"), { recursive: true });
      await mkdir(join(dir, "etc"));
      await writeFile(join(dir, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
      await symlink("usr/local", join(dir, "opt"));
    });
    context = await makeContext(join(tmp.path, "ctx"));
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await tmp.cleanup();
  });

  const cases: Array<{ name: string; copy: Record<string, unknown>; captured: boolean }> = [
    {
      name: "a directory's contents into a new path",
      copy: { src: "/", dest: "/app/", dirCopyContents: true, createDestPath: true },
      captured: true,
    },
    {
      name: "a directory under an existing one",
      copy: { src: "/tree", dest: "/usr/local/", createDestPath: true },
      captured: true,
    },
    {
      name: "a directory through a symlinked parent",
      copy: { src: "/tree", dest: "/opt/tree2", createDestPath: true },
      captured: true,
    },
    {
      name: "one file",
      copy: { src: "/tree/big.bin", dest: "/etc/big.bin", createDestPath: true },
      captured: true,
    },
    {
      name: "with chown and chmod",
      copy: {
        src: "/tree",
        dest: "/srv/",
        dirCopyContents: true,
        createDestPath: true,
        owner: { user: { byId: 1000 }, group: { byId: 1001 } },
        mode: 0o750,
      },
      captured: true,
    },
    {
      name: "onto an existing directory (merge)",
      copy: { src: "/", dest: "/usr/", dirCopyContents: true, createDestPath: true },
      captured: false,
    },
    {
      name: "with a fixed timestamp",
      copy: {
        src: "/tree",
        dest: "/stamped/",
        dirCopyContents: true,
        createDestPath: true,
        timestamp: 1700000000,
      },
      captured: false,
    },
    {
      name: "with include patterns",
      copy: {
        src: "/tree",
        dest: "/picked/",
        dirCopyContents: true,
        createDestPath: true,
        includePatterns: ["sub/**"],
      },
      captured: false,
    },
  ];

  it.each(cases)(
    "$name",
    async ({ copy, captured }) => {
      const op = fileOp(
        {
          inputs: [
            { digest: "sha256:a", index: 0 },
            { digest: "sha256:b", index: 0 },
          ],
          file: { actions: [{ input: 0, secondaryInput: 1, output: 0, copy }] },
        } as never,
        env,
        "COPY",
      );
      const [ref] = (await op.exec([base, context], {})) as ImmutableRef[];
      if (!ref) throw new Error("no result");
      // The ref's own blob is recorded at commit only when the copy wrote it.
      const row = store.metadata.getRef(ref.id);
      expect(row?.blob_digest != null).toBe(captured);
      const diffed = await diffLayer(store, ref, base);
      const layer = (await ref.layers()).at(-1) as Layer;
      expect(layer.diffId).toBe(diffed.diffId);
      expect(layer.blob.digest).toBe(diffed.digest);
    },
    60_000,
  );

  it("gives up cleanly when the copy fails", async () => {
    const op = fileOp(
      {
        inputs: [
          { digest: "sha256:a", index: 0 },
          { digest: "sha256:b", index: 0 },
        ],
        file: {
          actions: [{ input: 0, secondaryInput: 1, output: 0, copy: { src: "/missing", dest: "/x" } }],
        },
      } as never,
      env,
      "COPY",
    );
    await expect(op.exec([base, context], {})).rejects.toThrow(/not found/);
  });
});

/** The layer the differ makes of `ref` against `parent`, deflated the way the ref manager does. */
async function diffLayer(store: LocalStore, ref: ImmutableRef, parent: ImmutableRef) {
  const tar = new PassThrough();
  const gz = tar.pipe(parallelGzipStream());
  const chunks: Buffer[] = [];
  gz.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => gz.on("end", resolve));
  const diff = await snapshotterDiff(store.snapshotter, ref.snapshot as string, parent.snapshot, tar);
  await ended;
  return { diffId: diff.diffId, digest: sha256(Buffer.concat(chunks)) };
}

/** Files of every kind, with the metadata a copy must carry: modes, owners, ns mtimes, hardlinks. */
async function makeContext(root: string): Promise<DirectoryRef> {
  await mkdir(join(root, "tree/sub/empty"), { recursive: true });
  await writeFile(join(root, "tree/a.txt"), "alpha\n");
  await writeFile(join(root, "tree/empty.txt"), "");
  // Over 4 MiB: several gzip members and more than one read chunk.
  await writeFile(join(root, "tree/big.bin"), randomBytes(5 * 1024 * 1024 + 123));
  await writeFile(join(root, "tree/sub/run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(root, "tree/sub/run.sh"), 0o4755);
  await writeFile(join(root, "tree/sub/secret"), "s");
  await chmod(join(root, "tree/sub/secret"), 0o600);
  await chown(join(root, "tree/sub/secret"), 123, 456);
  await link(join(root, "tree/a.txt"), join(root, "tree/sub/a-link.txt"));
  await symlink("../a.txt", join(root, "tree/sub/to-a"));
  execFileSync("mkfifo", [join(root, "tree/sub/pipe")]);
  await writeFile(join(root, "tree/Ünïcode-ñame"), "x");
  await writeFile(join(root, `tree/${"long-name-".repeat(12)}.txt`), "long");
  await writeFile(join(root, "top.txt"), "top\n");
  // Fractional and whole-second times, on files and directories.
  await utimes(join(root, "tree/a.txt"), 1600000000.123456, 1600000000.987654);
  await utimes(join(root, "tree/sub"), 1500000000, 1500000000);
  await utimes(join(root, "tree"), 1400000000.5, 1400000000.5);
  return {
    id: "ctx",
    snapshot: undefined,
    directory: root,
    filter: () => true,
    mount: async () => ({ path: root, release: async () => {} }),
    layers: async () => [],
  };
}
