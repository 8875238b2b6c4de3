import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import {
  appendFile,
  chmod,
  chown,
  link,
  mkdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { sha256 } from "@kiln/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  makeTempDir,
  readTree,
  type TempDir,
  type TreeEntryInfo,
  writeTree,
} from "../../testkit/src/index.js";
import { applyLayer } from "./apply.js";
import { copyTree } from "./copy-tree.js";
import { writeLayerDiff } from "./diff.js";

const isRoot = process.getuid?.() === 0;
const LONG = `${"long-directory-name-".repeat(4)}/${"x".repeat(120)}.txt`;

const lowerSpec = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
  "etc/group": "root:x:0:\n",
  "bin/tool": { type: "file", content: "#!/bin/sh\necho tool\n", mode: 0o755 },
  "bin/su": { type: "file", content: "su", mode: 0o4755 },
  "data/keep": "keep",
  "data/remove-me": "bye",
  "gone/a": "a",
  "gone/b/c": "c",
  "dir-to-file/child": "child",
  "file-to-dir": "was a file",
  link: { type: "symlink", target: "etc/passwd" },
  owned: { type: "file", content: "mine", uid: 1000, gid: 1000 },
  "opaque/old1": "1",
  "opaque/old2": "2",
} as const;

/** Makes `upper` a copy of `lower` and applies one of every kind of change to it. */
async function mutate(upper: string): Promise<void> {
  await appendFile(join(upper, "etc/passwd"), "nobody:x:65534:65534::/:/bin/false\n");
  await chmod(join(upper, "bin/tool"), 0o700);
  await rm(join(upper, "data/remove-me"));
  await rm(join(upper, "gone"), { recursive: true });
  await rm(join(upper, "dir-to-file"), { recursive: true });
  await writeFile(join(upper, "dir-to-file"), "now a file");
  await unlink(join(upper, "file-to-dir"));
  await mkdir(join(upper, "file-to-dir"));
  await writeFile(join(upper, "file-to-dir/inside"), "inside");
  await unlink(join(upper, "link"));
  await symlink("/etc/group", join(upper, "link"));
  if (isRoot) await chown(join(upper, "owned"), 2000, 2001);
  await rm(join(upper, "opaque/old1"));
  await rm(join(upper, "opaque/old2"));
  await writeTree(upper, {
    "opaque/new1": "new",
    "new/dir/file": { type: "file", content: "deep", mode: 0o600 },
    "new/h1": "hardlinked",
    "new/h2": { type: "hardlink", target: "new/h1" },
    "new/sgid": { type: "dir", mode: 0o2775 },
    "new/fifo": { type: "fifo", mode: 0o640 },
    tmp: { type: "dir", mode: 0o1777 },
    "ünïcode.txt": "utf-8 name",
    [LONG]: "long path",
    "new/binary": { type: "file", content: new Uint8Array([0, 255, 1, 254]) },
  });
}

/** Tar keeps whole seconds; compare trees at that precision. */
function seconds(tree: Record<string, TreeEntryInfo>): Record<string, TreeEntryInfo> {
  return Object.fromEntries(
    Object.entries(tree).map(([p, e]) => [
      p,
      "mtime" in e && e.mtime !== undefined ? { ...e, mtime: Math.floor(e.mtime) } : e,
    ]),
  );
}

async function diffToFile(lower: string | undefined, upper: string, file: string) {
  return writeLayerDiff(lower, upper, createWriteStream(file));
}

describe("writeLayerDiff + applyLayer", () => {
  let tmp: TempDir;
  let lower: string;
  let upper: string;
  beforeEach(async () => {
    tmp = await makeTempDir("diff");
    lower = join(tmp.path, "lower");
    upper = join(tmp.path, "upper");
    await writeTree(lower, lowerSpec);
    await mkdir(upper);
    await copyTree(lower, upper);
    await mutate(upper);
  });
  afterEach(() => tmp.cleanup());

  it("reproduces the upper tree when applied onto the lower tree", async () => {
    const layer = join(tmp.path, "layer.tar");
    const result = await diffToFile(lower, upper, layer);
    const bytes = await readFile(layer);
    expect(result.diffId).toBe(sha256(bytes));
    expect(result.size).toBe(bytes.length);

    const target = join(tmp.path, "target");
    await mkdir(target);
    await copyTree(lower, target);
    const applied = await applyLayer(createReadStream(layer), target);
    expect(applied.diffId).toBe(result.diffId);
    expect(seconds(await readTree(target, { mtimes: true }))).toEqual(
      seconds(await readTree(upper, { mtimes: true })),
    );
  });

  it("builds a base layer (no lower) that recreates the tree from nothing", async () => {
    const layer = join(tmp.path, "base.tar");
    await diffToFile(undefined, upper, layer);
    const target = join(tmp.path, "target");
    await mkdir(target);
    await applyLayer(createReadStream(layer), target);
    expect(seconds(await readTree(target, { mtimes: true }))).toEqual(
      seconds(await readTree(upper, { mtimes: true })),
    );
  });

  it("writes a tar that GNU tar lists, with whiteouts, hardlinks and no unchanged files", async () => {
    const layer = join(tmp.path, "layer.tar");
    await diffToFile(lower, upper, layer);
    const listing = execFileSync("tar", ["-tvf", layer], { encoding: "utf8" });
    const names = execFileSync("tar", ["-tf", layer], { encoding: "utf8" }).trim().split("\n");
    expect(names).toContain("etc/passwd");
    expect(names).toContain("data/.wh.remove-me");
    expect(names).toContain(".wh.gone");
    expect(names).toContain("opaque/.wh.old1");
    expect(names).toContain("dir-to-file");
    expect(names).toContain("file-to-dir/");
    expect(names).toContain("file-to-dir/inside");
    expect(names).toContain(LONG);
    expect(names).not.toContain("etc/group");
    expect(names).not.toContain("data/keep");
    expect(names).not.toContain("gone/a");
    expect(names).not.toContain("dir-to-file/.wh.child");
    expect(names.every((n) => !n.startsWith("./") && !n.startsWith("/"))).toBe(true);
    expect(names.indexOf("etc/")).toBeLessThan(names.indexOf("etc/passwd"));
    expect(listing).toMatch(/^hrw-r--r-- 0\/0 +0 .* new\/h2 link to new\/h1$/m);
    expect(listing).toMatch(/^prw-r----- .* new\/fifo$/m);
    expect(listing).toMatch(/^drwxrwsr-x .* new\/sgid\/$/m);
    expect(listing).toMatch(/^drwxrwxrwt .* tmp\/$/m);
    expect(listing).toMatch(/^-rwx------ .* bin\/tool$/m);
    if (isRoot) expect(listing).toMatch(/^-rw-r--r-- 2000\/2001 .* owned$/m);
  });

  it("orders entries by name bytes within each directory, parents first", async () => {
    const layer = join(tmp.path, "base.tar");
    await diffToFile(undefined, upper, layer);
    const names = execFileSync("tar", ["-tf", layer], { encoding: "utf8" }).trim().split("\n");
    const dirsOf = (n: string) => n.replace(/\/$/, "").split("/").slice(0, -1);
    for (const [i, name] of names.entries()) {
      const parents = dirsOf(name);
      if (parents.length > 0) expect(names.slice(0, i)).toContain(`${parents.join("/")}/`);
    }
    const top = names.filter((n) => !n.replace(/\/$/, "").includes("/")).map((n) => n.replace(/\/$/, ""));
    expect(top).toEqual([...top].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it("is deterministic: the same trees give the same diffID", async () => {
    const a = await diffToFile(lower, upper, join(tmp.path, "a.tar"));
    const b = await diffToFile(lower, upper, join(tmp.path, "b.tar"));
    expect(a.diffId).toBe(b.diffId);
  });

  it("produces an empty layer for identical trees, and notices same-second rewrites without ns", async () => {
    const same = join(tmp.path, "same");
    await mkdir(same);
    await copyTree(lower, same);
    const layer = join(tmp.path, "empty.tar");
    const result = await diffToFile(lower, same, layer);
    expect(result.size).toBe(1024); // just the end-of-archive blocks
    // Whole-second mtimes (as after a copy that dropped ns): content decides.
    const t = new Date("2024-05-01T00:00:00Z");
    await writeTree(lower, { "sec/a": { type: "file", content: "AAAA", mtime: t } });
    await writeTree(same, { "sec/a": { type: "file", content: "BBBB", mtime: t } });
    await diffToFile(lower, same, layer);
    expect(execFileSync("tar", ["-tf", layer], { encoding: "utf8" })).toContain("sec/a");
  });

  it.skipIf(!isRoot)("carries character devices (major/minor) through diff and apply", async () => {
    const made = spawnSync("mknod", ["-m", "0640", join(upper, "null"), "c", "1", "3"]);
    if (made.status !== 0) return; // no CAP_MKNOD here
    const layer = join(tmp.path, "layer.tar");
    await diffToFile(lower, upper, layer);
    expect(execFileSync("tar", ["-tvf", layer], { encoding: "utf8" })).toMatch(
      /^crw-r----- 0\/0 +1,3 .* null$/m,
    );
    const target = join(tmp.path, "t");
    await mkdir(target);
    await copyTree(lower, target);
    await applyLayer(createReadStream(layer), target);
    const [applied, expected] = [(await readTree(target)).null, (await readTree(upper)).null];
    expect(applied).toEqual(expected);
    expect(applied).toMatchObject({ type: "char", mode: 0o640 });
  });

  it("writes a hardlink entry only for the second name, and the first carries the content", async () => {
    const layer = join(tmp.path, "layer.tar");
    await link(join(upper, "new/h1"), join(upper, "new/h3"));
    await diffToFile(lower, upper, layer);
    const listing = execFileSync("tar", ["-tvf", layer], { encoding: "utf8" });
    expect(listing).toMatch(/ new\/h1$/m);
    expect(listing).toMatch(/new\/h3 link to new\/h1$/m);
    const target = join(tmp.path, "t");
    await mkdir(target);
    await applyLayer(createReadStream(layer), target);
    expect((await stat(join(target, "new/h3"))).nlink).toBe(3);
  });
});
