import { lstat, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyFileActions, type FileAction } from "./index.js";
import { describeTree, tempDir, tree } from "./tree.test-helpers.js";

/** Runs a chain of actions on `target`, each one on the previous one's result. */
async function chain(target: string, ...actions: FileAction[]): Promise<void> {
  const linked = actions.map((a, i) => ({
    ...a,
    input: i === 0 ? 0 : 1 + i - 1,
    output: i === actions.length - 1 ? 0 : -1,
  }));
  await applyFileActions(linked, { inputs: [{ root: target }], target });
}

describe("mkdir, mkfile, rm, symlink", () => {
  it("mkdir: exact mode, owner and time; parents only with makeParents; existing is fine", async () => {
    const target = await tempDir();
    await chain(
      target,
      {
        mkdir: {
          path: "/a/b/c",
          mode: 0o750,
          makeParents: true,
          owner: { user: { byId: 5 } },
          timestamp: 86_400,
        },
      },
      { mkdir: { path: "/a", mode: 0o700 } },
      { mkdir: { path: "/single", mode: 0o711 } },
    );
    expect(await describeTree(target)).toEqual({
      a: "d 750 5:5",
      "a/b": "d 750 5:5",
      "a/b/c": "d 750 5:5",
      single: "d 711 0:0",
    });
    expect((await lstat(join(target, "a/b/c"))).mtimeMs).toBe(86_400_000);
    await expect(chain(target, { mkdir: { path: "/x/y", mode: 0o755 } })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: 'mkdir "/x/y": no such file or directory',
    });
  });

  it("mkfile: writes data with mode and owner; an existing file keeps its mode", async () => {
    const target = await tree({ old: { data: "old", mode: 0o600 } });
    await chain(
      target,
      {
        mkfile: {
          path: "/new",
          mode: 0o4755,
          data: new TextEncoder().encode("bytes"),
          owner: { group: { byId: 7 } },
        },
      },
      { mkfile: { path: "old", mode: 0o644, data: "replaced" } },
    );
    expect(await describeTree(target)).toEqual({ new: "f 755 0:7 bytes", old: "f 600 0:0 replaced" });
  });

  it("rm: recursive, NOT_FOUND unless allowed, wildcards, and never follows the last link", async () => {
    const outside = await tree({ keep: "k" });
    const target = await tree({
      d: { dir: true },
      "d/f": "x",
      "a.log": "1",
      "b.log": "2",
      link: { link: outside },
    });
    await chain(
      target,
      { rm: { path: "/d" } },
      { rm: { path: "/*.log", allowWildcard: true } },
      { rm: { path: "/link" } },
    );
    expect(await describeTree(target)).toEqual({});
    expect(await readFile(join(outside, "keep"), "utf8")).toBe("k");
    await expect(chain(target, { rm: { path: "/gone" } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await chain(
      target,
      { rm: { path: "/gone", allowNotFound: true } },
      { rm: { path: "/*.x", allowWildcard: true } },
    );
  });

  it("symlink: stores oldpath verbatim and creates newpath inside the root", async () => {
    const host = await tempDir();
    const target = await tree({ up: { link: "/" } });
    await chain(
      target,
      { symlink: { oldpath: "../../etc/passwd", newpath: "/rel", owner: { user: { byId: 3 } } } },
      { mkdir: { path: `/up${host}`, mode: 0o755, makeParents: true } },
      { symlink: { oldpath: "/x", newpath: `/up${host}/escaped` } },
    );
    expect(await readlink(join(target, "rel"))).toBe("../../etc/passwd");
    expect((await lstat(join(target, "rel"))).uid).toBe(3);
    expect(await readlink(join(target, host, "escaped"))).toBe("/x");
    await expect(lstat(join(host, "escaped"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(
      chain(target, { symlink: { oldpath: "a", newpath: `/up${host}/escaped/..` } }),
    ).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
  });
});

describe("applyFileActions chains", () => {
  it("accepts protobuf-es oneofs and bigint int64 fields", async () => {
    const target = await tempDir();
    await applyFileActions(
      [
        {
          input: -1n,
          secondaryInput: -1n,
          output: -1n,
          action: { case: "mkdir", value: { path: "/d", mode: 0o755 } },
        },
        {
          input: 0n,
          secondaryInput: -1n,
          output: 0n,
          action: {
            case: "mkfile",
            value: { path: "/d/f", mode: 0o644, data: new Uint8Array([104, 105]), timestamp: -1n },
          },
        },
      ],
      { inputs: [], target },
    );
    expect(await describeTree(target)).toEqual({ d: "d 755 0:0", "d/f": "f 644 0:0 hi" });
  });

  it("runs side chains in scratch space and snapshots trees that later actions read", async () => {
    const target = await tree({ base: "b" });
    // 0: mkfile on the base (main chain); 1: a scratch chain from -1; 2: copy from 1 into 0's result;
    // 3: copy from 0's result (a snapshot, so /base2 does not contain /gen) into the main chain.
    await applyFileActions(
      [
        { input: 0, secondaryInput: -1, output: -1, mkfile: { path: "/one", mode: 0o644, data: "1" } },
        { input: -1, secondaryInput: -1, output: -1, mkfile: { path: "/gen", mode: 0o600, data: "g" } },
        { input: 1, secondaryInput: 2, output: -1, copy: { src: "/gen", dest: "/gen" } },
        {
          input: 3,
          secondaryInput: 1,
          output: 0,
          copy: { src: "/", dest: "/snap", dirCopyContents: true, createDestPath: true },
        },
      ],
      { inputs: [{ root: target }], target },
    );
    expect(await describeTree(target)).toEqual({
      base: "f 644 0:0 b",
      gen: "f 600 0:0 g",
      one: "f 644 0:0 1",
      snap: "d 755 0:0",
      "snap/base": "f 644 0:0 b",
      "snap/one": "f 644 0:0 1",
    });
  });

  it("rejects invalid input indexes and empty actions", async () => {
    const target = await tempDir();
    await expect(
      applyFileActions([{ input: 5, mkdir: { path: "/x" } }], { inputs: [], target }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(applyFileActions([{ input: -1 }], { inputs: [], target })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await writeFile(join(target, "f"), "");
    const aborted = AbortSignal.abort();
    await expect(
      applyFileActions([{ input: -1, rm: { path: "/f" } }], { inputs: [], target, signal: aborted }),
    ).rejects.toMatchObject({ code: "CANCELED" });
  });
});
