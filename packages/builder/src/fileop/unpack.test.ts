import { execFileSync } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { applyFileActions, type FileActionCopy } from "./index.js";
import { describeTree, tempDir, tree } from "./tree.test-helpers.js";

async function add(target: string, src: string, c: FileActionCopy): Promise<void> {
  const action = {
    createDestPath: true,
    allowWildcard: true,
    followSymlink: true,
    dirCopyContents: true,
    ...c,
  };
  await applyFileActions(
    [{ input: 0, secondaryInput: 1, output: 0, copy: { attemptUnpackDockerCompatibility: true, ...action } }],
    {
      inputs: [{ root: target }, { root: src }],
      target,
    },
  );
}

/** A ustar entry written by hand, so tests can build archives no well-behaved tar tool would make. */
function entry(name: string, o: { type?: string; data?: string; link?: string; mode?: number } = {}): Buffer {
  const data = Buffer.from(o.data ?? "");
  const h = Buffer.alloc(512);
  const put = (s: string, at: number, len: number) => h.write(s.slice(0, len), at, "utf8");
  const oct = (n: number, at: number, len: number) =>
    put(`${n.toString(8).padStart(len - 1, "0")}\0`, at, len);
  put(name, 0, 100);
  oct(o.mode ?? 0o644, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(data.length, 124, 12);
  oct(1_600_000_000, 136, 12);
  h.fill(0x20, 148, 156);
  put(o.type ?? "0", 156, 1);
  put(o.link ?? "", 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}
const archive = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

describe("copy with attemptUnpackDockerCompatibility (ADD)", () => {
  it("extracts plain, gzip, bzip2 and xz tar archives into dest, keeping modes", async () => {
    const content = await tree({
      app: { dir: true },
      "app/bin": { data: "#!", mode: 0o755 },
      "app/cfg": "c",
    });
    const src = await tempDir();
    execFileSync("tar", ["-C", content, "-cf", join(src, "a.tar"), "app"]);
    execFileSync("tar", ["-C", content, "-czf", join(src, "a.tar.gz"), "app"]);
    execFileSync("tar", ["-C", content, "-cjf", join(src, "a.tar.bz2"), "app"]);
    execFileSync("tar", ["-C", content, "-cJf", join(src, "a.txz"), "app"]);
    for (const name of ["a.tar", "a.tar.gz", "a.tar.bz2", "a.txz"]) {
      const target = await tempDir();
      await add(target, src, { src: `/${name}`, dest: "/opt/" });
      expect(await describeTree(target), name).toEqual({
        opt: "d 755 0:0",
        "opt/app": "d 755 0:0",
        "opt/app/bin": "f 755 0:0 #!",
        "opt/app/cfg": "f 644 0:0 c",
      });
      const seconds = async (p: string) => Math.floor((await stat(p)).mtimeMs / 1000);
      expect(await seconds(join(target, "opt/app/cfg"))).toBe(await seconds(join(content, "app/cfg")));
    }
  });

  it("chowns extracted entries with --chown and copies non-archives as they are", async () => {
    const src = await tempDir();
    await writeFile(
      join(src, "t.tgz"),
      gzipSync(archive(entry("x/", { type: "5", mode: 0o750 }), entry("x/f", { data: "F" }))),
    );
    await writeFile(join(src, "notes.gz"), gzipSync("just text, not a tar"));
    const target = await tempDir();
    await add(target, src, { src: "/t.tgz", dest: "/d", owner: { user: { byId: 9 } } });
    await add(target, src, { src: "/notes.gz", dest: "/d/" });
    expect(await describeTree(target)).toMatchObject({ "d/x": "d 750 9:9", "d/x/f": "f 644 9:9 F" });
    expect((await readFile(join(target, "d/notes.gz"))).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it("refuses hostile archives and writes nothing outside the destination", async () => {
    const host = await tempDir();
    await writeFile(join(host, "sentinel"), "untouched");
    const hostile: Record<string, Buffer> = {
      "dotdot.tar": archive(
        entry("../../../../../../../../..", { type: "5" }),
        entry(`../../../../../../../..${host}/sentinel`, { data: "pwned" }),
      ),
      "hardlink.tar": archive(entry("h", { type: "1", link: `../../../../../../../..${host}/sentinel` })),
      "relative-link.tar": archive(
        entry("l", { type: "2", link: "../../../../../../../../.." }),
        entry(`l${host}/sentinel`, { data: "pwned" }),
      ),
    };
    const src = await tempDir();
    for (const [name, bytes] of Object.entries(hostile)) await writeFile(join(src, name), bytes);
    for (const name of Object.keys(hostile)) {
      const target = await tempDir();
      await expect(add(target, src, { src: `/${name}`, dest: "/x/" }), name).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
    // An absolute symlink is kept verbatim but, written through, resolves inside the destination.
    await writeFile(
      join(src, "abs.tar"),
      archive(entry("a", { type: "2", link: "/" }), entry(`a${host}/sentinel`, { data: "inside" })),
    );
    const target = await tempDir();
    await add(target, src, { src: "/abs.tar", dest: "/x/" });
    expect(await readFile(join(target, "x", host, "sentinel"), "utf8")).toBe("inside");
    expect(await readFile(join(host, "sentinel"), "utf8")).toBe("untouched");
  });
});
