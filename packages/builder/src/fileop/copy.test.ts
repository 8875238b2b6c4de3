import { link, lstat, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyFileActions, type FileActionCopy, type SourceTree } from "./index.js";
import { describeTree, tempDir, tree } from "./tree.test-helpers.js";

/** Runs one copy from `src` (input 1) into `target` (input 0, modified in place). */
async function copy(target: string, src: string | SourceTree, c: FileActionCopy): Promise<void> {
  const source = typeof src === "string" ? { root: src } : src;
  await applyFileActions([{ input: 0, secondaryInput: 1, output: 0, copy: c }], {
    inputs: [{ root: target }, source],
    target,
  });
}

const docker = { createDestPath: true, allowWildcard: true, followSymlink: true, dirCopyContents: true };

describe("copy: where things land", () => {
  const cases: Array<[string, FileActionCopy, Record<string, string>]> = [
    ["file to a new name", { src: "/a.txt", dest: "/b.txt" }, { "b.txt": "f 644 0:0 A" }],
    [
      "file into dest/",
      { ...docker, src: "a.txt", dest: "/out/" },
      { out: "d 755 0:0", "out/a.txt": "f 644 0:0 A" },
    ],
    ["file into an existing dir", { src: "/a.txt", dest: "/existing" }, { "existing/a.txt": "f 644 0:0 A" }],
    [
      "directory contents",
      { ...docker, src: "/dir", dest: "/out" },
      { out: "d 755 0:0", "out/x": "f 644 0:0 X", "out/sub": "d 700 0:0", "out/sub/y": "f 600 0:0 Y" },
    ],
    [
      "directory itself into an existing dir",
      { src: "/dir", dest: "/existing" },
      { "existing/dir": "d 750 0:0", "existing/dir/x": "f 644 0:0 X", "existing/dir/sub": "d 700 0:0" },
    ],
    ["dir/. merges into dest", { src: "/dir/.", dest: "/existing" }, { "existing/x": "f 644 0:0 X" }],
    [
      "wildcard matches into dest/",
      { ...docker, src: "/*.txt", dest: "/out/" },
      { "out/a.txt": "f 644 0:0 A", "out/b.txt": "f 644 0:0 B" },
    ],
  ];
  for (const [name, action, expected] of cases) {
    it(name, async () => {
      const src = await tree({
        "a.txt": "A",
        "b.txt": "B",
        dir: { dir: true, mode: 0o750 },
        "dir/x": "X",
        "dir/sub": { dir: true, mode: 0o700 },
        "dir/sub/y": { data: "Y", mode: 0o600 },
      });
      const target = await tree({ existing: { dir: true } });
      await copy(target, src, { createDestPath: true, ...action });
      expect(await describeTree(target)).toMatchObject(expected);
    });
  }

  it("fails with NOT_FOUND naming a missing source, and on an empty wildcard unless allowed", async () => {
    const src = await tree({ "a.txt": "A" });
    const target = await tempDir();
    await expect(copy(target, src, { ...docker, src: "/missing", dest: "/" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: 'failed to copy: "/missing": not found',
    });
    await expect(copy(target, src, { ...docker, src: "/*.none", dest: "/" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await copy(target, src, { ...docker, src: "/*.none", dest: "/", allowEmptyWildcard: true });
    expect(await describeTree(target)).toEqual({});
  });

  it("needs a directory destination for several wildcard matches", async () => {
    const src = await tree({ "a.txt": "A", "b.txt": "B" });
    const target = await tree({ dir: { dir: true } });
    await expect(copy(target, src, { ...docker, src: "/*.txt", dest: "/file" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await copy(target, src, { ...docker, src: "/*.txt", dest: "/dir" });
    expect(Object.keys(await describeTree(target))).toEqual(["dir", "dir/a.txt", "dir/b.txt"]);
  });

  it("reads an absent secondaryInput as input 0 (the proto3 zero value)", async () => {
    const src = await tree({ f: "F" });
    const target = await tempDir();
    await applyFileActions([{ input: -1, output: 0, copy: { src: "/f", dest: "/g" } }], {
      inputs: [{ root: src }],
      target,
    });
    expect(await describeTree(target)).toEqual({ g: "f 644 0:0 F" });
  });

  it("needs an existing parent without createDestPath, and creates parents 0755 with it", async () => {
    const src = await tree({ f: "F" });
    const target = await tempDir();
    await expect(copy(target, src, { src: "/f", dest: "/no/such/f" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await copy(target, src, {
      src: "/f",
      dest: "/no/such/f",
      createDestPath: true,
      owner: { user: { byId: 7 } },
    });
    expect(await describeTree(target)).toEqual({
      no: "d 755 7:7",
      "no/such": "d 755 7:7",
      "no/such/f": "f 644 7:7 F",
    });
  });

  it("hides filtered entries and forces the tree's ownership", async () => {
    const src = await tree({
      keep: { data: "K", uid: 12, gid: 34 },
      "secret.env": "S",
      d: { dir: true, uid: 5 },
    });
    const target = await tempDir();
    const tree1: SourceTree = {
      root: src,
      filter: (rel) => !rel.endsWith(".env"),
      ownership: { uid: 0, gid: 0 },
    };
    await copy(target, tree1, { ...docker, src: "/", dest: "/app" });
    expect(await describeTree(target)).toEqual({
      app: "d 755 0:0",
      "app/d": "d 755 0:0",
      "app/keep": "f 644 0:0 K",
    });
    await expect(copy(target, tree1, { ...docker, src: "/secret.env", dest: "/" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("copy: links and special files", () => {
  it("follows only a trailing source symlink, and only with followSymlink", async () => {
    const src = await tree({
      real: { dir: true },
      "real/f": "F",
      link: { link: "real" },
      "real/rel": { link: "f" },
    });
    const plain = await tempDir();
    await copy(plain, src, { src: "/link", dest: "/out", createDestPath: true });
    expect(await describeTree(plain)).toEqual({ out: "l -> real" });
    const followed = await tempDir();
    await copy(followed, src, { src: "/link", dest: "/out", createDestPath: true, followSymlink: true });
    expect(await describeTree(followed)).toEqual({
      out: "d 755 0:0",
      "out/f": "f 644 0:0 F",
      "out/rel": "l -> f",
    });
  });

  it("keeps hardlinks within the copied set and copies FIFOs", async () => {
    const src = await tree({ d: { dir: true }, "d/a": "shared" });
    await link(join(src, "d/a"), join(src, "d/b"));
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [join(src, "d/pipe")]);
    const target = await tempDir();
    await copy(target, src, { ...docker, src: "/d", dest: "/out" });
    const [a, b] = await Promise.all([stat(join(target, "out/a")), stat(join(target, "out/b"))]);
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    expect((await lstat(join(target, "out/pipe"))).isFIFO()).toBe(true);
  });

  it("never writes through a target symlink that points outside (resolved like a chroot)", async () => {
    const host = await tempDir();
    const sentinel = join(host, "sentinel");
    await writeFile(sentinel, "untouched");
    const src = await tree({ sentinel: "overwritten?", "evil.txt": "E" });
    const target = await tree({ escape: { link: "/" }, up: { link: "../../../../../.." } });
    // Both links name the host's `/`; inside the target they must mean the target's root.
    await copy(target, src, { ...docker, src: "/sentinel", dest: `/escape${host}/` });
    await copy(target, src, { ...docker, src: "/evil.txt", dest: `/up${host}/sentinel` });
    expect(await readFile(sentinel, "utf8")).toBe("untouched");
    expect(await readFile(join(target, host, "sentinel"), "utf8")).toBe("E");
    // A destination that is itself an absolute symlink is followed inside the target too.
    await mkdir(join(target, "d"));
    await symlink(join(host, "moved"), join(target, "d/f"));
    await copy(target, src, { src: "/evil.txt", dest: "/d/f", createDestPath: true });
    expect(await readFile(join(target, host, "moved"), "utf8")).toBe("E");
    expect((await lstat(join(target, "d/f"))).isSymbolicLink()).toBe(true);
    await expect(lstat(join(host, "moved"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
