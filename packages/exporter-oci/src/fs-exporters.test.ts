import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { buffer } from "node:stream/consumers";
import { createContentStore } from "@kiln/oci";
import { beforeAll, describe, expect, it } from "vitest";
import { createLocalExporter } from "./local-exporter.js";
import { createTarExporter } from "./tar-exporter.js";
import {
  appLayer,
  baseLayer,
  createTestRef,
  request,
  run,
  type TestRef,
  tempDir,
} from "./test-ref.test-helpers.js";

const store = createContentStore({ root: tempDir("kiln-store-") });
let ref: TestRef;
let tree: string;
beforeAll(async () => {
  ref = await createTestRef(store, [baseLayer, appLayer]);
  const mounted = await ref.mount();
  tree = mounted.path;
  await mounted.release();
});

/** `find`'s view of a tree: type, mode, owner, size and link target of every entry, sorted. */
function describeTree(dir: string): string[] {
  return run("find", [dir, "-mindepth", "1", "-printf", "%P\t%y\t%m\t%U:%G\t%s\t%l\n"])
    .trim()
    .split("\n")
    .map((line) => {
      const [path, type, mode, owner, size, link] = line.split("\t");
      // Directory sizes depend on the filesystem, not on the content.
      return [path, type, mode, owner, type === "d" ? "-" : size, link].join(" ");
    })
    .sort();
}

describe("type=tar", () => {
  it("streams the tree as a deterministic tar that GNU tar extracts to the same tree", async () => {
    const dest = join(tempDir(), "rootfs.tar");
    expect(await createTarExporter().export(request(ref, { dest }))).toEqual({});
    const names = run("tar", ["-tf", dest]).trim().split("\n");
    expect(names).toEqual([...names].sort((a, b) => (a.replace(/\/$/, "") < b.replace(/\/$/, "") ? -1 : 1)));
    expect(names.slice(0, 3)).toEqual(["app/", "app/main.sh", "bin/"]);
    const verbose = run("tar", ["--numeric-owner", "-tvf", dest]);
    expect(verbose).toMatch(/lrwxrwxrwx 0\/0 +0 .* bin\/link -> tool/);
    expect(verbose).toMatch(/hrwxr-xr-x 0\/0 +0 .* bin\/tool-hard link to bin\/tool/);
    expect(verbose).toMatch(/-rwsr-xr-x 0\/0 .* bin\/suid/);
    expect(verbose).toMatch(/---------- 0\/0 .* etc\/locked/);
    expect(verbose).toMatch(/prw-r--r-- 0\/0 .* etc\/fifo/);
    expect(verbose).toMatch(/-rw------- 1234\/5678 .* home\/user\/file/);
    expect(verbose).toMatch(/etc\/outside -> \/etc\/passwd/);

    const out = tempDir();
    run("tar", ["-xpf", dest, "-C", out, "--numeric-owner"]);
    expect(describeTree(out)).toEqual(describeTree(tree));
    expect(
      readFileSync(join(out, "usr/lib/data.bin")).equals(readFileSync(join(tree, "usr/lib/data.bin"))),
    ).toBe(true);
    expect(lstatSync(join(out, "bin/tool")).ino).toBe(lstatSync(join(out, "bin/tool-hard")).ino);
  });

  it("is byte-identical across runs, clamps mtimes to source-date-epoch, and streams to stdout", async () => {
    const stdout = new PassThrough();
    const collected = buffer(stdout);
    const exporter = createTarExporter({ stdout });
    await exporter.export(request(ref, { dest: "-", "source-date-epoch": "86400" }));
    stdout.end();
    const first = await collected;
    const dest = join(tempDir(), "again.tar");
    await exporter.export(request(ref, { dest, "source-date-epoch": "86400" }));
    expect(readFileSync(dest).equals(first)).toBe(true);
    expect(run("tar", ["--full-time", "-tvf", dest, "etc/hello"])).toContain("1970-01-02 00:00:00");
  });
});

describe("type=local", () => {
  it("copies the tree with modes, owners, symlinks and hardlinks", async () => {
    const dest = join(tempDir(), "out", "nested");
    await createLocalExporter().export(request(ref, { dest }));
    expect(describeTree(dest)).toEqual(describeTree(tree));
    expect(readlinkSync(join(dest, "etc/outside"))).toBe("/etc/passwd");
    expect(readlinkSync(join(dest, "bin/link"))).toBe("tool");
    expect(lstatSync(join(dest, "bin/tool")).ino).toBe(lstatSync(join(dest, "bin/tool-hard")).ino);
    expect(lstatSync(join(dest, "etc/fifo")).isFIFO()).toBe(true);
    expect(run("diff", ["-r", "--no-dereference", "-x", "fifo", tree, dest])).toBe(""); // diff calls any two fifos different
    expect(lstatSync(join(dest, "etc/hello")).mtimeMs).toBe(lstatSync(join(tree, "etc/hello")).mtimeMs);
  });

  it("replaces entries in the way instead of writing through symlinks, keeps unrelated files", async () => {
    const dest = tempDir();
    const victim = tempDir();
    symlinkSync(victim, join(dest, "etc")); // a symlink where the result has a directory
    writeFileSync(join(victim, "hello"), "must survive");
    mkdirSync(join(dest, "extra"));
    writeFileSync(join(dest, "extra/keep"), "kept");
    await createLocalExporter().export(request(ref, { dest }));
    expect(readFileSync(join(victim, "hello"), "utf8")).toBe("must survive");
    expect(lstatSync(join(dest, "etc")).isDirectory()).toBe(true);
    expect(readFileSync(join(dest, "etc/hello"), "utf8")).toBe("hello v2\n");
    expect(readFileSync(join(dest, "extra/keep"), "utf8")).toBe("kept");
    expect(existsSync(join(dest, "etc/outside"))).toBe(true);
  });

  it("needs a dest", async () => {
    await expect(createLocalExporter().export(request(ref, {}))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });
});
