import { lstat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyFileActions, type FileActionCopy } from "./index.js";
import { describeTree, tempDir, tree } from "./tree.test-helpers.js";

async function copy(target: string, src: string, c: FileActionCopy): Promise<void> {
  await applyFileActions([{ input: 0, secondaryInput: 1, output: 0, copy: c }], {
    inputs: [{ root: target }, { root: src }],
    target,
  });
}

const docker = { createDestPath: true, allowWildcard: true, followSymlink: true, dirCopyContents: true };

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n";
const GROUP = "root:x:0:\nstaff:x:50:\n";

async function source() {
  return tree({ dir: { dir: true, mode: 0o700 }, "dir/run.sh": { data: "#!", mode: 0o700 }, "dir/doc": "D" });
}

describe("copy: ownership, modes and times", () => {
  it("chowns by id (gid defaults to the uid) and by name from the target's /etc files", async () => {
    const src = await source();
    const byId = await tempDir();
    await copy(byId, src, { ...docker, src: "/dir", dest: "/out", owner: { user: { byId: 42 } } });
    expect(await describeTree(byId)).toMatchObject({ out: "d 755 42:42", "out/doc": "f 644 42:42 D" });

    const byName = await tree({ etc: { dir: true }, "etc/passwd": PASSWD, "etc/group": GROUP });
    const owner = {
      user: { byName: { name: "app", input: 0 } },
      group: { byName: { name: "staff", input: 0 } },
    };
    await copy(byName, src, { ...docker, src: "/dir", dest: "/a/b", owner });
    expect(await describeTree(byName)).toMatchObject({
      a: "d 755 1001:50",
      "a/b": "d 755 1001:50",
      "a/b/run.sh": "f 700 1001:50 #!",
    });
    const userOnly = { user: { user: { case: "byName" as const, value: { name: "app", input: 0 } } } };
    await copy(byName, src, { ...docker, src: "/dir/doc", dest: "/c", owner: userOnly });
    expect((await describeTree(byName)).c).toBe("f 644 1001:1002 D");
  });

  it("fails clearly for an unknown user or group name", async () => {
    const target = await tree({ etc: { dir: true }, "etc/passwd": PASSWD, "etc/group": GROUP });
    const src = await source();
    const user = { user: { byName: { name: "nobody-here", input: 0 } } };
    await expect(
      copy(target, src, { ...docker, src: "/dir", dest: "/x", owner: user }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: 'unable to find user "nobody-here": no matching entries in /etc/passwd',
    });
    const group = { group: { byName: { name: "wheel", input: 0 } } };
    await expect(
      copy(target, src, { ...docker, src: "/dir", dest: "/x", owner: group }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("applies a numeric mode, and a symbolic one per entry", async () => {
    const src = await source();
    const numeric = await tempDir();
    await copy(numeric, src, { ...docker, src: "/dir", dest: "/n", mode: 0o640 });
    expect(await describeTree(numeric)).toMatchObject({ n: "d 640 0:0", "n/doc": "f 640 0:0 D" });

    const symbolic = await tempDir();
    await copy(symbolic, src, { src: "/dir", dest: "/s", createDestPath: true, modeStr: "u=rwX,go=rX" });
    expect(await describeTree(symbolic)).toMatchObject({
      s: "d 755 0:0",
      "s/run.sh": "f 755 0:0 #!",
      "s/doc": "f 644 0:0 D",
    });
    const plusX = await tempDir();
    await copy(plusX, src, { src: "/dir/doc", dest: "/doc", modeStr: "+x" });
    expect((await describeTree(plusX)).doc).toBe("f 755 0:0 D");
    await expect(copy(plusX, src, { src: "/dir/doc", dest: "/bad", modeStr: "u=rwq" })).rejects.toMatchObject(
      {
        code: "INVALID_ARGUMENT",
      },
    );
  });

  it("keeps source mtimes, or sets the timestamp (seconds or BuildKit nanoseconds) on everything", async () => {
    const src = await source();
    await utimes(join(src, "dir/doc"), 1_000_000, 1_000_000);
    const kept = await tempDir();
    await copy(kept, src, { ...docker, src: "/dir", dest: "/k" });
    expect((await lstat(join(kept, "k/doc"))).mtimeMs).toBe(1_000_000_000);

    for (const timestamp of [1_700_000_000, 1_700_000_000_000_000_000n]) {
      const stamped = await tempDir();
      await copy(stamped, src, { ...docker, src: "/dir", dest: "/p/t", timestamp });
      for (const p of ["p", "p/t", "p/t/doc", "p/t/run.sh"]) {
        expect((await lstat(join(stamped, p))).mtimeMs, p).toBe(1_700_000_000_000);
      }
    }
  });

  it("filters with include and exclude patterns relative to the source", async () => {
    const src = await tree({
      "app.js": "1",
      "app.test.js": "2",
      lib: { dir: true },
      "lib/a.js": "3",
      "lib/deep": { dir: true },
      "lib/deep/b.js": "4",
      "lib/deep/b.md": "5",
      node_modules: { dir: true },
      "node_modules/x.js": "6",
    });
    const target = await tempDir();
    await copy(target, src, {
      ...docker,
      src: "/",
      dest: "/out",
      includePatterns: ["**/*.js"],
      excludePatterns: ["**/*.test.js", "node_modules"],
    });
    expect(Object.keys(await describeTree(target))).toEqual([
      "out",
      "out/app.js",
      "out/lib",
      "out/lib/a.js",
      "out/lib/deep",
      "out/lib/deep/b.js",
    ]);
  });
});
