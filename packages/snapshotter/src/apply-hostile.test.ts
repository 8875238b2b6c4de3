import { randomBytes } from "node:crypto";
import { lstat, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  makeTempDir,
  readTree,
  type TempDir,
  type TreeEntryInfo,
  writeTree,
} from "../../testkit/src/index.js";
import { applyLayer } from "./apply.js";
import { type RawEntry, rawTar, streamOf } from "./tar.test-helpers.js";

/** A unique name, so a broken implementation that writes to the host's `/` is noticed and cleaned. */
const probe = `kiln-hostile-probe-${randomBytes(6).toString("hex")}`;
const hostProbes = [`/${probe}`, `/etc/${probe}`, `/tmp/etc/${probe}`];
const existsOnHost = async (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * Hostile layers. The layout is <tmp>/root (the target) next to <tmp>/sentinel; after every case the
 * sentinel must be exactly as before and nothing may exist outside the root but the two of them.
 */
describe("applyLayer on hostile layers", () => {
  let tmp: TempDir;
  let root: string;
  let sentinel: string;
  let before: Record<string, TreeEntryInfo>;
  beforeEach(async () => {
    tmp = await makeTempDir("hostile");
    root = join(tmp.path, "root");
    sentinel = join(tmp.path, "sentinel");
    await mkdir(root);
    await writeTree(sentinel, { canary: "alive", "sub/deep": "alive" });
    before = await readTree(sentinel, { mtimes: true });
  });
  afterEach(async () => {
    const leaked = [];
    for (const path of hostProbes) {
      if (await existsOnHost(path)) leaked.push(path);
      await rm(path, { force: true });
    }
    expect(leaked).toEqual([]);
    expect(await readTree(sentinel, { mtimes: true })).toEqual(before);
    expect(Object.keys(await readTree(tmp.path)).filter((p) => !/^(root|sentinel)(\/|$)/.test(p))).toEqual(
      [],
    );
    await tmp.cleanup();
  });

  const apply = async (entries: RawEntry[]) => applyLayer(streamOf(await rawTar(entries)), root);
  const refused = async (entries: RawEntry[], message: RegExp) =>
    expect(apply(entries)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(message),
    });

  it("refuses entries that climb out with ..", async () => {
    await refused([{ name: "../sentinel/canary", content: "pwned" }], /escapes the root/);
    await refused([{ name: "a/../../sentinel/x", content: "pwned" }], /escapes the root/);
    await refused([{ name: `../../etc/${probe}`, content: "pwned" }], /escapes the root/);
  });

  it("refuses absolute entry paths", async () => {
    await refused([{ name: `${sentinel}/canary`, content: "pwned" }], /absolute/);
    await refused([{ name: `/etc/${probe}`, content: "pwned" }], /absolute/);
  });

  it("keeps `a -> /` then `a/...` inside the root (chroot semantics)", async () => {
    await apply([
      { name: "a", type: "symlink", linkname: "/" },
      { name: `a/etc/${probe}`, content: "in root" },
      { name: `a/${probe}`, content: "in root" },
      { name: "b", type: "symlink", linkname: sentinel },
      { name: "b/canary", content: "in root" },
    ]);
    expect(await readFile(join(root, "etc", probe), "utf8")).toBe("in root");
    expect(await readFile(join(root, probe), "utf8")).toBe("in root");
    expect(await readFile(join(root, sentinel, "canary"), "utf8")).toBe("in root");
  });

  it("clamps relative symlinks `a -> ../../..` and `c -> ../sentinel` at the root", async () => {
    await apply([
      { name: "a", type: "symlink", linkname: "../../.." },
      { name: `a/${probe}`, content: "in root" },
      { name: "c", type: "symlink", linkname: "../sentinel" },
      { name: "c/canary", content: "in root" },
    ]);
    expect(await readFile(join(root, probe), "utf8")).toBe("in root");
    expect(await readFile(join(root, "sentinel/canary"), "utf8")).toBe("in root");
  });

  it("re-resolves after a directory is swapped for a symlink in the same layer", async () => {
    await apply([
      { name: "d/", type: "directory" },
      { name: "d/first", content: "1" },
      { name: "d", type: "symlink", linkname: sentinel },
      { name: "d/canary", content: "in root" },
    ]);
    expect(await readFile(join(root, sentinel, "canary"), "utf8")).toBe("in root");
  });

  it("replaces a final-component symlink instead of writing through it", async () => {
    await writeTree(root, { f: { type: "symlink", target: join(sentinel, "canary") } });
    await apply([{ name: "f", content: "replaced" }]);
    expect((await lstat(join(root, "f"))).isFile()).toBe(true);
    await writeTree(root, { g: { type: "symlink", target: join(sentinel, "sub") } });
    await apply([{ name: "g/", type: "directory", mode: 0o777 }]);
    expect((await lstat(join(root, "g"))).isDirectory()).toBe(true);
  });

  it("refuses hardlinks to paths outside the root", async () => {
    await refused([{ name: "h", type: "link", linkname: "../sentinel/canary" }], /escapes the root/);
    await refused([{ name: "h", type: "link", linkname: `${sentinel}/canary` }], /absolute/);
  });

  it("resolves hardlink targets through symlinked parents inside the root", async () => {
    await writeTree(root, { p: { type: "symlink", target: sentinel } });
    // p/canary means <root>/<sentinel>/canary in chroot terms, which does not exist.
    await refused([{ name: "h", type: "link", linkname: "p/canary" }], /does not exist/);
  });

  it("refuses a hardlink to a symlink that escapes the root", async () => {
    await refused(
      [
        { name: "s", type: "symlink", linkname: "../sentinel/canary" },
        { name: "h", type: "link", linkname: "s" },
      ],
      /symlink that escapes/,
    );
  });

  it("keeps whiteouts and opaque markers behind symlinks inside the root", async () => {
    await apply([
      { name: "w", type: "symlink", linkname: sentinel },
      { name: "w/.wh.canary" },
      { name: "w/sub/.wh..wh..opq" },
      { name: "r", type: "symlink", linkname: "../sentinel" },
      { name: "r/.wh.canary" },
      { name: "r/.wh..wh..opq" },
    ]);
  });

  it("refuses whiteouts of . and ..", async () => {
    await refused([{ name: "x/.wh.." }], /invalid whiteout/);
  });
});
