import { chown, lstat, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFiltered, excludesAny } from "./local-copy.js";

describe("filtered copies of a local directory", () => {
  let tmp: TempDir;
  let root: string;
  // `.env` and everything under `node_modules` are left out.
  const filter = (rel: string) => rel !== ".env" && !rel.startsWith("node_modules");

  beforeAll(async () => {
    tmp = await makeTempDir("local-copy");
    root = join(tmp.path, "ctx");
    await mkdir(join(root, "src", "deep"), { recursive: true });
    await mkdir(join(root, "node_modules", "x"), { recursive: true });
    await writeFile(join(root, "src", "deep", "a.txt"), "a");
    await writeFile(join(root, ".env"), "SECRET=1");
    await symlink("deep/a.txt", join(root, "src", "link"));
    await chown(join(root, "src", "deep", "a.txt"), 4321, 8765);
  });
  afterAll(() => tmp.cleanup());

  it("knows whether anything below a path is left out", async () => {
    expect(await excludesAny(root, root, filter)).toBe(true);
    expect(await excludesAny(root, join(root, "src"), filter)).toBe(false);
    expect(await excludesAny(root, join(root, ".env"), filter)).toBe(true);
    expect(await excludesAny(root, join(root, "src", "deep", "a.txt"), filter)).toBe(false);
  });

  it("copies only what the filter keeps, with owners and symlinks as they are", async () => {
    const copy = join(tmp.path, "copy");
    await copyFiltered(root, root, copy, filter);
    expect((await readdir(copy, { recursive: true })).sort()).toEqual([
      "src",
      "src/deep",
      "src/deep/a.txt",
      "src/link",
    ]);
    expect(await lstat(join(copy, "src", "deep", "a.txt"))).toMatchObject({ uid: 4321, gid: 8765 });
    expect((await lstat(join(copy, "src", "link"))).isSymbolicLink()).toBe(true);
  });
});
