import { describe, expect, it } from "vitest";
import { makeTempDir } from "./temp-dir.js";
import { readTree, writeTree } from "./tree.js";

const isRoot = process.getuid?.() === 0;

describe("writeTree / readTree", () => {
  it("round-trips files, dirs, symlinks, hardlinks, fifos, modes, owners and times", async () => {
    const tmp = await makeTempDir("tree");
    try {
      await writeTree(tmp.path, {
        "a/file": { type: "file", content: "x", mode: 0o4750, mtime: 1_600_000_000.5 },
        "a/same": { type: "hardlink", target: "a/file" },
        "b/link": { type: "symlink", target: "../a/file" },
        "b/fifo": { type: "fifo", mode: 0o600 },
        c: { type: "dir", mode: 0o1777, mtime: new Date("2020-01-01T00:00:00Z") },
        plain: "text",
        bin: { type: "file", content: new Uint8Array([0xff, 0xfe]) },
        ...(isRoot ? { owned: { type: "file" as const, uid: 12, gid: 34 } } : {}),
      });
      const tree = await readTree(tmp.path, { mtimes: true });
      expect(Object.keys(tree)).toEqual([
        "a",
        "a/file",
        "a/same",
        "b",
        "b/fifo",
        "b/link",
        "bin",
        "c",
        ...(isRoot ? ["owned"] : []),
        "plain",
      ]);
      expect(tree["a/file"]).toMatchObject({
        type: "file",
        mode: 0o4750,
        content: "x",
        mtime: 1_600_000_000.5,
      });
      expect(tree["a/same"]).toEqual({ type: "hardlink", target: "a/file" });
      expect(tree["b/link"]).toMatchObject({ type: "symlink", target: "../a/file" });
      expect(tree["b/fifo"]).toMatchObject({ type: "fifo", mode: 0o600 });
      expect(tree.c).toMatchObject({ type: "dir", mode: 0o1777, mtime: 1_577_836_800 });
      expect(tree.plain).toMatchObject({ type: "file", mode: 0o644, content: "text" });
      expect(tree.bin).toMatchObject({ content: "base64://4=" });
      if (isRoot) expect(tree.owned).toMatchObject({ uid: 12, gid: 34, content: "" });
    } finally {
      await tmp.cleanup();
    }
  });
});
