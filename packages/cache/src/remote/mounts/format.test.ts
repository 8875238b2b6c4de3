import { execFile } from "node:child_process";
import { chmod, lchown, lstat, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Digest, sha256 } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalBlobStore } from "../local-store.js";
import {
  cacheMountKey,
  cutsPackAfter,
  MOUNT_PACK_MEDIA_TYPE,
  parseMountTree,
  planPacks,
  SMALL_FILE_MAX,
} from "./format.js";
import { restoreMountTree } from "./restore.js";
import { type MountSnapshot, snapshotMountDir } from "./snapshot.js";

/** A snapshot without a size limit (it is never `tooLarge`). */
async function snapshot(id: string, dir: string, sink: Parameters<typeof snapshotMountDir>[2]) {
  return (await snapshotMountDir(id, dir, sink)) as MountSnapshot;
}

const run = promisify(execFile);

describe("cacheMountKey", () => {
  it("is the id alone, or the id with its seed: a seeded cache is another cache", () => {
    expect(cacheMountKey("npm")).toBe(cacheMountKey("npm"));
    expect(cacheMountKey("npm")).not.toBe(cacheMountKey("npm", "sha256:abc:0:/"));
    expect(cacheMountKey("npm", "sha256:abc:0:/")).not.toBe(cacheMountKey("npm", "sha256:abd:0:/"));
  });
});

describe("planPacks", () => {
  const files = Array.from({ length: 5000 }, (_, i) => ({ path: `node_modules/p${i}/index.js`, size: 100 }));

  it("cuts by path, about PACK_CUT_EVERY files per pack, and every file lands once", () => {
    const packs = planPacks(files);
    expect(packs.flat()).toEqual(files);
    expect(packs.length).toBeGreaterThan(5);
    expect(packs.length).toBeLessThan(60);
    for (const pack of packs.slice(0, -1)) expect(cutsPackAfter(pack.at(-1)?.path ?? "")).toBe(true);
  });

  it("a changed or inserted file changes only its own pack", () => {
    const before = planPacks(files).map((p) => JSON.stringify(p));
    const changed = files.map((f, i) => (i === 2500 ? { ...f, size: 999 } : f));
    const inserted = [
      ...files.slice(0, 1000),
      { path: "node_modules/p1000x/a.js", size: 1 },
      ...files.slice(1000),
    ];
    for (const next of [changed, inserted]) {
      const after = new Set(planPacks(next).map((p) => JSON.stringify(p)));
      expect(before.filter((p) => !after.has(p))).toHaveLength(1);
    }
  });

  it("a pack never passes the byte cap unless one file alone does", () => {
    const big = Array.from({ length: 40 }, (_, i) => ({ path: `f${i}`, size: 900 * 1024 }));
    for (const pack of planPacks(big)) {
      expect(pack.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(8 * 1024 * 1024);
    }
  });
});

describe("snapshot and restore", () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await makeTempDir("mount-format");
  });
  afterEach(() => tmp.cleanup());

  async function fixture(dir: string) {
    await mkdir(join(dir, "pkg/sub"), { recursive: true });
    await writeFile(join(dir, "pkg/a.txt"), "alpha\n");
    await writeFile(join(dir, "pkg/dup.txt"), "alpha\n");
    await writeFile(join(dir, "pkg/empty"), "");
    await writeFile(join(dir, "pkg/sub/run.sh"), "#!/bin/sh\n");
    await lchown(join(dir, "pkg/sub/run.sh"), 1000, 1001);
    await chmod(join(dir, "pkg/sub/run.sh"), 0o4755);
    await chmod(join(dir, "pkg/sub"), 0o700);
    await symlink("../a.txt", join(dir, "pkg/sub/link"));
    await writeFile(join(dir, "big.bin"), Buffer.alloc(SMALL_FILE_MAX + 10, 7));
  }

  it("round-trips contents, modes, owners, symlinks, empty and large files through a real store", async () => {
    const src = join(tmp.path, "src");
    await fixture(src);
    const store = createLocalBlobStore(join(tmp.path, "cache"));
    const snap = await snapshot("npm", src, (b) => store.write(b.desc, b.open()));
    expect(snap.files).toBe(5);
    expect(snap.tree.blobs.map((b) => b.mediaType).sort()).toEqual([
      "application/vnd.kiln.cache-mount.file.v1",
      MOUNT_PACK_MEDIA_TYPE,
    ]);
    // The pack is a plain gzip tar: the real tar lists one member per distinct content.
    const pack = snap.tree.blobs.find((b) => b.mediaType === MOUNT_PACK_MEDIA_TYPE);
    const listed = await run("tar", [
      "-tzf",
      join(tmp.path, "cache/blobs/sha256", pack?.digest.slice(7) ?? ""),
    ]);
    expect(listed.stdout.trim().split("\n").sort()).toEqual(
      [sha256("alpha\n"), sha256("#!/bin/sh\n")].map((d) => d.slice(7)).sort(),
    );

    const dest = join(tmp.path, "dest");
    await mkdir(dest);
    const r = await restoreMountTree(store, snap.treeBytes, dest);
    expect(r).toEqual({ restored: 8, kept: 0, blobsRead: 2 });
    expect(await readFile(join(dest, "pkg/dup.txt"), "utf8")).toBe("alpha\n");
    expect((await readFile(join(dest, "big.bin"))).equals(Buffer.alloc(SMALL_FILE_MAX + 10, 7))).toBe(true);
    const script = await lstat(join(dest, "pkg/sub/run.sh"));
    expect([script.mode & 0o7777, script.uid, script.gid]).toEqual([0o4755, 1000, 1001]);
    expect((await lstat(join(dest, "pkg/sub"))).mode & 0o777).toBe(0o700);
    expect(await readlink(join(dest, "pkg/sub/link"))).toBe("../a.txt");
    expect((await lstat(join(dest, "pkg/empty"))).size).toBe(0);
    // Same contents, same tree: an unchanged directory exports byte-identical metadata.
    const again = await snapshot("npm", dest, async () => {});
    expect(again.tree).toEqual(snap.tree);
    expect(again.treeDesc.digest).toBe(snap.treeDesc.digest);
  });

  it("merges: local files win, missing ones are restored, nothing goes below a local non-directory", async () => {
    const src = join(tmp.path, "src");
    await fixture(src);
    const store = createLocalBlobStore(join(tmp.path, "cache"));
    const snap = await snapshot("npm", src, (b) => store.write(b.desc, b.open()));
    const dest = join(tmp.path, "dest");
    await mkdir(join(dest, "pkg"), { recursive: true });
    await writeFile(join(dest, "pkg/a.txt"), "local\n");
    await writeFile(join(dest, "big.bin"), "local big\n");
    await symlink("/etc", join(dest, "pkg/sub"));
    const r = await restoreMountTree(store, snap.treeBytes, dest);
    expect(await readFile(join(dest, "pkg/a.txt"), "utf8")).toBe("local\n");
    expect(await readFile(join(dest, "big.bin"), "utf8")).toBe("local big\n");
    expect(await readFile(join(dest, "pkg/dup.txt"), "utf8")).toBe("alpha\n");
    // pkg/sub is a local symlink: its remote children (run.sh, link) are not written through it.
    expect(r).toEqual({ restored: 2, kept: 5, blobsRead: 1 });
  });

  it("a corrupt pack member fails the restore with DATA_LOSS and leaves no partial file", async () => {
    const src = join(tmp.path, "src");
    await mkdir(src);
    await writeFile(join(src, "x"), "real\n");
    const store = createLocalBlobStore(join(tmp.path, "cache"));
    const snap = await snapshot("x", src, async () => {});
    // The store holds a pack with the right digest name but other bytes inside.
    const other = join(tmp.path, "other");
    await mkdir(other);
    await writeFile(join(other, "x"), "fake\n");
    const fake = await snapshot("x", other, (b) => store.write(b.desc, b.open()));
    const tree = JSON.parse(snap.treeBytes.toString());
    tree.blobs = fake.tree.blobs;
    const dest = join(tmp.path, "dest");
    await mkdir(dest);
    await expect(restoreMountTree(store, Buffer.from(JSON.stringify(tree)), dest)).rejects.toMatchObject({
      code: "DATA_LOSS",
    });
    expect(await lstat(join(dest, "x")).catch(() => undefined)).toBeUndefined();
  });

  it("rejects trees with paths that escape the mount", () => {
    for (const path of ["../x", "/etc/passwd", "a/../../b", "a//b", ""]) {
      const tree = {
        mediaType: "application/vnd.kiln.cache-mount.tree.v1+json",
        entries: [{ path, type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 }],
        blobs: [],
      };
      expect(() => parseMountTree(Buffer.from(JSON.stringify(tree)))).toThrow(/bad path/);
    }
  });

  it("packs are deterministic: the same files give the same blob digests", async () => {
    const digests: Digest[][] = [];
    for (const name of ["one", "two"]) {
      const dir = join(tmp.path, name);
      await mkdir(dir);
      for (let i = 0; i < 50; i++) await writeFile(join(dir, `f${i}`), `content ${i}\n`);
      const snap = await snapshot("x", dir, async () => {});
      digests.push(snap.tree.blobs.map((b) => b.digest));
    }
    expect(digests[0]).toEqual(digests[1]);
  });
});
