import { execFileSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createNativeSnapshotter } from "./native.js";
import { makeSpreadDir } from "./spread-dirs.js";

/** Whether `dir` lies on ext2/3/4, whose inodes carry the top-directory flag. */
function onExt4(dir: string): boolean {
  return execFileSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" }).trim().startsWith("ext");
}

const attrs = (dir: string) => execFileSync("lsattr", ["-d", dir], { encoding: "utf8" }).split(/\s/)[0];

describe("makeSpreadDir", () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "kiln-spread-"));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it("marks a new snapshots directory as a top directory where the filesystem has the flag", async () => {
    const root = join(base, "store");
    await createNativeSnapshotter({ root });
    const snapshots = join(root, "snapshots");
    expect((await stat(snapshots)).isDirectory()).toBe(true);
    if (onExt4(base)) expect(attrs(snapshots)).toContain("T");
  });

  it("leaves an existing directory's flags alone and creates missing parents", async () => {
    const dir = join(base, "a", "b");
    await makeSpreadDir(dir, 0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    if (!onExt4(base)) return;
    execFileSync("chattr", ["-T", dir]);
    await makeSpreadDir(dir, 0o700);
    expect(attrs(dir)).not.toContain("T");
  });
});
