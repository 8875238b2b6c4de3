import { createHash } from "node:crypto";
import { chmod, lchown, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Digest, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { tree } from "../fileop/tree.test-helpers.js";
import { createContentHasher, type FileDigestKey, type FileDigestMemo } from "./index.js";

const hasher = createContentHasher();
const digestOf = (root: string, path = "/") => hasher.checksum({ root }, { path });

describe("contenthash digests", () => {
  it("matches a digest computed by hand from the tarsum v1 header format", async () => {
    const root = await tree({ "hello.txt": { data: "hi\n", mode: 0o640, uid: 1000, gid: 50 } });
    // name, mode (decimal), uid, gid, size, typeflag, linkname, uname, gname, devmajor, devminor; no mtime.
    const header = ["name", "mode416", "uid1000", "gid50", "size3", "typeflag0", "linkname", "uname", "gname"]
      .concat(["devmajor0", "devminor0"])
      .join("");
    const expected = `sha256:${createHash("sha256").update(header).update("hi\n").digest("hex")}`;
    expect(await digestOf(root, "hello.txt")).toBe(expected);
  });

  it("ignores mtime but sees one changed byte, a mode change and a new symlink target", async () => {
    const root = await tree({ dir: { dir: true }, "dir/a": "hello", "dir/l": { link: "a" } });
    const before = await digestOf(root);
    await utimes(join(root, "dir/a"), 1, 1);
    await utimes(join(root, "dir"), 2, 2);
    expect(await digestOf(root)).toBe(before);

    await writeFile(join(root, "dir/a"), "hellp");
    const byte = await digestOf(root);
    expect(byte).not.toBe(before);

    await chmod(join(root, "dir/a"), 0o755);
    const mode = await digestOf(root);
    expect(mode).not.toBe(byte);

    await rm(join(root, "dir/l"));
    await symlink("b", join(root, "dir/l"));
    expect(await digestOf(root)).not.toBe(mode);
  });

  it("reports forced ownership instead of the files' uid/gid", async () => {
    const a = await tree({ f: { data: "x", uid: 1234, gid: 99 }, d: { dir: true, uid: 5, gid: 5 } });
    const b = await tree({ f: "x", d: { dir: true } });
    expect(await digestOf(a)).not.toBe(await digestOf(b));
    const forced = { uid: 0, gid: 0 };
    const sumA = await hasher.checksum({ root: a, ownership: forced }, { path: "/" });
    expect(sumA).toBe(await hasher.checksum({ root: b, ownership: forced }, { path: "/" }));
    await lchown(join(b, "f"), 7, 7);
    expect(await hasher.checksum({ root: b, ownership: forced }, { path: "/" })).toBe(sumA);
  });

  it("hides filtered entries, and a filtered path is not found", async () => {
    const root = await tree({ keep: "1", "skip.log": "2", logs: { dir: true }, "logs/x": "3" });
    const filter = (rel: string) => !rel.endsWith(".log") && rel !== "logs";
    const filtered = await hasher.checksum({ root, filter }, { path: "/" });
    const plain = await tree({ keep: "1" });
    expect(filtered).toBe(await digestOf(plain));
    await expect(hasher.checksum({ root, filter }, { path: "skip.log" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: 'failed to compute cache key: "/skip.log": not found',
    });
    await expect(hasher.checksum({ root, filter }, { path: "logs/x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("selects by wildcard, include/exclude patterns and required paths", async () => {
    const root = await tree({
      "a.txt": "a",
      "b.txt": "b",
      "c.md": "c",
      src: { dir: true },
      "src/x.txt": "x",
    });
    const star = await hasher.checksum({ root }, { path: "/*.txt", wildcard: true });
    const both = await tree({ "a.txt": "a", "b.txt": "b", "other.bin": "z" });
    expect(await hasher.checksum({ root: both }, { path: "/*.txt", wildcard: true })).toBe(star);
    await writeFile(join(root, "c.md"), "changed");
    expect(await hasher.checksum({ root }, { path: "/*.txt", wildcard: true })).toBe(star);
    await writeFile(join(root, "b.txt"), "changed");
    expect(await hasher.checksum({ root }, { path: "/*.txt", wildcard: true })).not.toBe(star);

    expect(await hasher.checksum({ root }, { path: "/*.none", wildcard: true })).toBe(sha256(""));
    const excluded = await hasher.checksum({ root }, { path: "/", excludePatterns: ["**/*.txt"] });
    await writeFile(join(root, "src/x.txt"), "ignored change");
    expect(await hasher.checksum({ root }, { path: "/", excludePatterns: ["**/*.txt"] })).toBe(excluded);
    await expect(
      hasher.checksum({ root }, { path: "/", includePatterns: ["src"], requiredPaths: ["/nope"] }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      hasher.checksum({ root }, { path: "/", includePatterns: ["src"], requiredPaths: ["/src"] }),
    ).resolves.toMatch(/^sha256:/);
  });

  it("combines selectors like BuildKit's NewContentHashFunc", async () => {
    const root = await tree({ a: "1", b: "2" });
    const a = await digestOf(root, "/a");
    const b = await digestOf(root, "/b");
    expect(await hasher.multiChecksum({ root }, [{ path: "a" }, { path: "/b/" }])).toBe(sha256(`${a}\0${b}`));
    expect(await hasher.multiChecksum({ root }, [])).toBe(sha256(await digestOf(root)));
  });

  it("stats only, and reads nothing, when the memo knows every file", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`d${i % 5}/f${i}`] = `content ${i}`;
    files.empty = "";
    const root = await tree(files);
    const store = new Map<string, Digest>();
    const calls = { get: 0, hits: 0, set: 0 };
    const id = (k: FileDigestKey) => JSON.stringify([k.path, k.size, k.mtimeMs, k.ino, k.mode]);
    const memo: FileDigestMemo = {
      get(k) {
        calls.get++;
        const d = store.get(id(k));
        if (d) calls.hits++;
        return d;
      },
      set(k, d) {
        calls.set++;
        store.set(id(k), d);
      },
    };
    const memoHasher = createContentHasher({ memo });
    const cold = await memoHasher.checksum({ root }, { path: "/" });
    expect(cold).toBe(await digestOf(root));
    expect(calls).toEqual({ get: 50, hits: 0, set: 50 });
    calls.get = calls.hits = calls.set = 0;
    expect(await memoHasher.checksum({ root }, { path: "/" })).toBe(cold);
    // Every file came from the memo: a set would mean a file was read and hashed.
    expect(calls).toEqual({ get: 50, hits: 50, set: 0 });

    await writeFile(join(root, "d3/f8"), "content 88");
    calls.get = calls.hits = calls.set = 0;
    const changed = await memoHasher.checksum({ root }, { path: "/" });
    expect(calls).toEqual({ get: 50, hits: 49, set: 1 });
    expect(changed).toBe(await digestOf(root));
    expect(changed).not.toBe(cold);
  });
});
