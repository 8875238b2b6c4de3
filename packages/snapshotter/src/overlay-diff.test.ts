import { appendFile, chmod, chown, mkdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable, type Writable } from "node:stream";
import type { Snapshotter } from "@kiln/core";
import tarStream from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, readTree, type TempDir, type TreeSpec, writeTree } from "../../testkit/src/index.js";
import { applyLayer } from "./apply.js";
import { copyTree } from "./copy-tree.js";
import { writeLayerDiff } from "./diff.js";
import { mountedPath } from "./mounts.js";
import { createNativeSnapshotter } from "./native.js";
import { createOverlaySnapshotter } from "./overlay.js";
import { snapshotterDiff, writeOverlayDiff } from "./overlay-diff.js";
import { isOverlaySupported } from "./overlay-probe.js";

const isRoot = process.getuid?.() === 0;

const base: TreeSpec = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
  "etc/group": "root:x:0:\n",
  "bin/tool": { type: "file", content: "#!/bin/sh\n", mode: 0o755 },
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
  "opaque/sub/deep": "deep",
  // Untouched: the overlay walk never enters these.
  ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`untouched/d${i % 10}/f${i}`, `${i}`])),
};

/** One of every kind of change, made through the mounted snapshot. */
async function mutate(dir: string): Promise<void> {
  await appendFile(join(dir, "etc/passwd"), "nobody:x:65534:65534::/:/bin/false\n");
  await chmod(join(dir, "bin/tool"), 0o700);
  await rm(join(dir, "data/remove-me"));
  await rm(join(dir, "gone"), { recursive: true });
  await rm(join(dir, "dir-to-file"), { recursive: true });
  await writeFile(join(dir, "dir-to-file"), "now a file");
  await unlink(join(dir, "file-to-dir"));
  await mkdir(join(dir, "file-to-dir"));
  await writeFile(join(dir, "file-to-dir/inside"), "inside");
  await unlink(join(dir, "link"));
  await symlink("/etc/group", join(dir, "link"));
  if (isRoot) await chown(join(dir, "owned"), 2000, 2001);
  // Replace a directory: overlay makes it opaque.
  await rm(join(dir, "opaque"), { recursive: true });
  await writeTree(dir, {
    "opaque/new1": "new",
    "opaque/sub/other": "other",
    "new/dir/file": { type: "file", content: "deep", mode: 0o600 },
    "new/h1": "hardlinked",
    "new/h2": { type: "hardlink", target: "new/h1" },
    "new/fifo": { type: "fifo", mode: 0o640 },
  });
}

async function toBuffer(write: (out: Writable) => Promise<unknown>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await write(out);
  return Buffer.concat(chunks);
}

/** Everything but mtimes: two snapshotters make the same changes at different times. */
async function entries(tar: Buffer): Promise<string[]> {
  const listed: string[] = [];
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (h, stream, next) => {
      const mode = (h.mode ?? 0).toString(8);
      listed.push(`${h.name} ${h.type} ${mode} ${h.uid}:${h.gid} ${h.size} ${h.linkname ?? ""}`);
      stream.on("end", next).resume();
    });
    extract.on("finish", resolve).on("error", reject);
  });
  Readable.from([tar]).pipe(extract);
  await done;
  return listed;
}

const probe = await makeTempDir("overlay-probe");
const supported = await isOverlaySupported(probe.path);
await probe.cleanup();

describe.skipIf(!supported)("overlay layer diff", () => {
  let tmp: TempDir;
  let overlay: Snapshotter;
  let native: Snapshotter;
  beforeAll(async () => {
    tmp = await makeTempDir("overlay-diff");
    overlay = await createOverlaySnapshotter({ root: join(tmp.path, "overlay") });
    native = await createNativeSnapshotter({ root: join(tmp.path, "native") });
    for (const sn of [overlay, native]) {
      const mounted = await mountedPath(await sn.prepare("base-key", undefined));
      await writeTree(mounted.path, base);
      await mounted.release();
      await sn.commit("base", "base-key");
      const child = await mountedPath(await sn.prepare("child-key", "base"));
      await mutate(child.path);
      await child.release();
    }
  });
  afterAll(async () => {
    await overlay.close();
    await native.close();
    await tmp.cleanup();
  });

  it("walks the upperdir into exactly the tar the double walk writes for the same trees", async () => {
    const upperDir = join(tmp.path, "overlay/snapshots");
    const lower = await overlay.view("lower", "base");
    const upper = await mountedPath(await overlay.mounts("child-key"));
    const lowerPath = await mountedPath(lower);
    const full = await toBuffer((out) => writeLayerDiff(lowerPath.path, upper.path, out));
    await upper.release();
    await lowerPath.release();
    const options = (await overlay.mounts("child-key"))[0]?.options ?? [];
    const layer = options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length) ?? upperDir;
    const fast = await toBuffer((out) => writeOverlayDiff(layer, lower, out));
    expect(fast.equals(full)).toBe(true);
    await overlay.remove("lower");
  });

  it("lists the same entries as the native snapshotter's diff, whiteouts and opaque dirs included", async () => {
    for (const sn of [overlay, native]) await sn.commit("child", "child-key");
    const fromOverlay = await entries(
      await toBuffer((out) => snapshotterDiff(overlay, "child", "base", out)),
    );
    const fromNative = await entries(await toBuffer((out) => snapshotterDiff(native, "child", "base", out)));
    expect(fromOverlay).toEqual(fromNative);
    const names = fromOverlay.map((e) => e.split(" ")[0]);
    expect(names).toEqual(
      expect.arrayContaining([
        "data/.wh.remove-me",
        ".wh.gone",
        "opaque/",
        "opaque/.wh.old1",
        "opaque/.wh.old2",
        "opaque/new1",
        "opaque/sub/.wh.deep",
        "opaque/sub/other",
        "dir-to-file",
        "file-to-dir/",
        "file-to-dir/inside",
        "new/h2",
      ]),
    );
    expect(names.filter((n) => n.startsWith("untouched"))).toEqual([]);
    expect(names).not.toContain("etc/group");
    // Temporary views are gone again.
    const left: string[] = [];
    await overlay.walk((info) => {
      left.push(info.name);
    });
    expect(left.sort()).toEqual(["base", "child"]);
  });

  it("applies onto the base to give the child's tree; a whole-tree diff has no whiteouts", async () => {
    const layer = await toBuffer((out) => snapshotterDiff(overlay, "child", "base", out));
    const target = join(tmp.path, "applied");
    await mkdir(target);
    const baseView = await mountedPath(await overlay.view("base-view", "base"));
    await copyTree(baseView.path, target);
    await applyLayer(Readable.from([layer]), target);
    const childView = await mountedPath(await overlay.view("child-view", "child"));
    const seconds = (tree: Awaited<ReturnType<typeof readTree>>) =>
      Object.fromEntries(Object.entries(tree).map(([p, e]) => [p, { ...e, mtime: undefined }]));
    expect(seconds(await readTree(target))).toEqual(seconds(await readTree(childView.path)));
    const whole = await entries(await toBuffer((out) => snapshotterDiff(overlay, "child", undefined, out)));
    expect(whole.some((e) => e.includes(".wh."))).toBe(false);
    expect(whole.map((e) => e.split(" ")[0])).toContain("untouched/d3/f13");
    expect(await readFile(join(childView.path, "etc/passwd"), "utf8")).toContain("nobody");
    await childView.release();
    await baseView.release();
    await overlay.remove("child-view");
    await overlay.remove("base-view");
  });
});
