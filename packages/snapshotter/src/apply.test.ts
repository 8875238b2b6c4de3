import { createHash } from "node:crypto";
import { lstat, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, readTree, type TempDir, writeTree } from "../../testkit/src/index.js";
import { applyLayer } from "./apply.js";
import { rawTar, streamOf } from "./tar.test-helpers.js";

describe("applyLayer", () => {
  let tmp: TempDir;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTempDir("apply");
    root = join(tmp.path, "root");
    await mkdir(root);
  });
  afterEach(() => tmp.cleanup());

  it("returns the sha256 of the tar bytes as diffId", async () => {
    const tar = await rawTar([{ name: "a", content: "a" }]);
    const result = await applyLayer(streamOf(tar), root);
    expect(result.diffId).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    expect(result.size).toBe(tar.length);
  });

  it("empties an opaque directory of lower content only, wherever the marker sorts", async () => {
    await writeTree(root, {
      "d/old": "old",
      "d/sub/old": "old",
      "d/sub/keep-dir/x": "x",
      "other/untouched": "u",
    });
    const tar = await rawTar([
      { name: "d/", type: "directory", mode: 0o755 },
      { name: "d/-written-before-marker", content: "new" },
      { name: "d/sub/", type: "directory", mode: 0o750 },
      { name: "d/sub/new", content: "new" },
      { name: "d/.wh..wh..opq" },
    ]);
    await applyLayer(streamOf(tar), root);
    expect(Object.keys(await readTree(root))).toEqual([
      "d",
      "d/-written-before-marker",
      "d/sub",
      "d/sub/new",
      "other",
      "other/untouched",
    ]);
  });

  it("deletes whiteout targets from lower layers but not content of the same layer", async () => {
    await writeTree(root, { "a/gone": "x", "a/dir/deep": "x" });
    const tar = await rawTar([
      { name: "a/same-layer", content: "stays" },
      { name: "a/.wh.dir" },
      { name: "a/.wh.gone" },
      { name: "a/.wh.same-layer" },
      { name: "a/.wh.never-existed" },
      { name: "a/.wh..wh.plnk" }, // aufs bookkeeping: ignored
    ]);
    await applyLayer(streamOf(tar), root);
    expect(Object.keys(await readTree(root))).toEqual(["a", "a/same-layer"]);
  });

  it("replaces entries of a different type and keeps directories that stay directories", async () => {
    await writeTree(root, { "x/child": "c", y: "file", "z/keep": "k", w: { type: "symlink", target: "z" } });
    const tar = await rawTar([
      { name: "x", content: "now a file" },
      { name: "y/", type: "directory" },
      { name: "y/inside", content: "i" },
      { name: "z/", type: "directory", mode: 0o700 },
      { name: "w/", type: "directory" },
    ]);
    await applyLayer(streamOf(tar), root);
    const tree = await readTree(root);
    expect(tree.x).toMatchObject({ type: "file", content: "now a file" });
    expect(tree["y/inside"]).toMatchObject({ type: "file" });
    expect(tree.z).toMatchObject({ type: "dir", mode: 0o700 });
    expect(tree["z/keep"]).toMatchObject({ type: "file", content: "k" });
    expect(tree.w).toMatchObject({ type: "dir" });
    expect(tree["z/keep"]).toBeDefined();
  });

  it("applies owners, modes with setuid after chown, symlink times and directory times", async () => {
    const t = new Date("2021-02-03T04:05:06Z");
    const tar = await rawTar([
      { name: "d/", type: "directory", mode: 0o2750, uid: 7, gid: 8, mtime: t },
      { name: "d/suid", content: "x", mode: 0o4755, uid: 1000, gid: 1000, mtime: t },
      { name: "d/link", type: "symlink", linkname: "suid", uid: 5, gid: 6, mtime: t },
      { name: "d/hard", type: "link", linkname: "d/suid" },
      { name: "d/fifo", type: "fifo", mode: 0o600 },
    ]);
    const warnings: string[] = [];
    await applyLayer(streamOf(tar), root, { onWarning: (m) => warnings.push(m) });
    const tree = await readTree(root, { mtimes: true });
    const sec = t.getTime() / 1000;
    expect(tree.d).toEqual({ type: "dir", mode: 0o2750, uid: 7, gid: 8, mtime: sec });
    // readTree names the first path in byte order as the file, later ones as hardlinks to it.
    expect(tree["d/hard"]).toEqual({
      type: "file",
      mode: 0o4755,
      uid: 1000,
      gid: 1000,
      content: "x",
      mtime: sec,
    });
    expect(tree["d/link"]).toEqual({ type: "symlink", target: "suid", uid: 5, gid: 6, mtime: sec });
    expect(tree["d/suid"]).toEqual({ type: "hardlink", target: "d/hard" });
    if (warnings.length === 0) expect(tree["d/fifo"]).toMatchObject({ type: "fifo", mode: 0o600 });
  });

  it("creates missing parents, follows in-root symlinked parents (usrmerge) and keeps long PAX names", async () => {
    await writeTree(root, { "usr/lib/.keep": "", lib: { type: "symlink", target: "usr/lib" } });
    const long = `${"p".repeat(90)}/${"q".repeat(90)}/file`;
    const tar = await rawTar([
      { name: "lib/libc.so", content: "libc" },
      { name: "./new/parent/file", content: "f" },
      { name: long, content: "long" },
    ]);
    await applyLayer(streamOf(tar), root);
    expect(await readFile(join(root, "usr/lib/libc.so"), "utf8")).toBe("libc");
    expect((await lstat(join(root, "lib"))).isSymbolicLink()).toBe(true);
    expect((await stat(join(root, "new/parent"))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(root, long), "utf8")).toBe("long");
  });

  it("rejects a file entry below a non-directory", async () => {
    const tar = await rawTar([
      { name: "f", content: "f" },
      { name: "f/x", content: "x" },
    ]);
    await expect(applyLayer(streamOf(tar), root)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("stops on abort", async () => {
    const tar = await rawTar([{ name: "a", content: "a" }]);
    const controller = new AbortController();
    controller.abort();
    await expect(applyLayer(streamOf(tar), root, { signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELED",
    });
  });
});
