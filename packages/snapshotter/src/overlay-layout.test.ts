import { lstat, readdir, readFile, readlink, realpath, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshotter } from "@kiln/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, readTree, type TempDir } from "../../testkit/src/index.js";
import { mountPoints } from "./mount-exec.js";
import { MAX_MOUNT_DATA, mountedPath, overlayMountData } from "./mounts.js";
import { createNativeSnapshotter } from "./native.js";
import { snapshotId } from "./native-store.js";
import { createOverlaySnapshotter, linkName } from "./overlay.js";
import { createDefaultSnapshotter, isOverlaySupported } from "./overlay-probe.js";

const probe = await makeTempDir("overlay-probe");
const supported = await isOverlaySupported(probe.path);
await probe.cleanup();

describe.skipIf(!supported)("overlay snapshotter layout and mounts", () => {
  let tmp: TempDir;
  let root: string;
  let sn: Snapshotter;
  beforeEach(async () => {
    tmp = await makeTempDir("overlay");
    root = await realpath(tmp.path);
    sn = await createOverlaySnapshotter({ root });
  });
  afterEach(async () => {
    await sn.close();
    await tmp.cleanup();
  });

  const dir = (name: string) => join(root, "snapshots", snapshotId(name));
  const link = (name: string) => join(root, "l", linkName(name));

  async function layer(name: string, parent: string | undefined, files: Record<string, string>) {
    const mounted = await mountedPath(await sn.prepare(`${name}-key`, parent));
    for (const [path, content] of Object.entries(files)) await writeFile(join(mounted.path, path), content);
    await mounted.release();
    await sn.commit(name, `${name}-key`);
  }

  it("prepares empty fs/ and work/ and mounts the parent chain as lowerdirs, nearest first", async () => {
    expect(await sn.prepare("k0", undefined)).toEqual([
      { type: "bind", source: join(dir("k0"), "fs"), options: ["rbind", "rw"] },
    ]);
    await sn.commit("base", "k0");
    expect(await readlink(link("base"))).toBe(join("..", "snapshots", snapshotId("base"), "fs"));
    await layer("mid", "base", {});
    const mounts = await sn.prepare("k", "mid");
    expect(await readdir(dir("k"))).toEqual(["fs", "info.json", "work"]);
    expect(await readdir(join(dir("k"), "fs"))).toEqual([]);
    expect(mounts).toEqual([
      {
        type: "overlay",
        source: "overlay",
        options: [
          `lowerdir=${link("mid")}:${link("base")}`,
          `upperdir=${join(dir("k"), "fs")}`,
          `workdir=${join(dir("k"), "work")}`,
        ],
      },
    ]);
    // Views: one layer is a read-only bind of it, more are a read-only overlay without upperdir.
    expect(await sn.view("v1", "base")).toEqual([
      { type: "bind", source: join(dir("base"), "fs"), options: ["rbind", "ro"] },
    ]);
    expect(await sn.view("v2", "mid")).toEqual([
      { type: "overlay", source: "overlay", options: [`lowerdir=${link("mid")}:${link("base")}`, "ro"] },
    ]);
  });

  it("keeps each layer's own changes only, with whiteouts for deletions", async () => {
    await layer("base", undefined, { a: "a", b: "b" });
    const mounted = await mountedPath(await sn.prepare("k", "base"));
    expect((await readTree(mounted.path)).a).toMatchObject({ content: "a" });
    await writeFile(join(mounted.path, "c"), "c");
    await rm(join(mounted.path, "b"));
    await mounted.release();
    const upper = join(dir("k"), "fs");
    expect((await readdir(upper)).sort()).toEqual(["b", "c"]);
    const whiteout = await lstat(join(upper, "b"));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect((await sn.usage("k")).inodes).toBeLessThanOrEqual(4);
  });

  it("unmounts on release and removes the mount point; writes to a read-only view fail", async () => {
    await layer("base", undefined, { a: "a" });
    await layer("top", "base", { b: "b" });
    const view = await mountedPath(await sn.view("v", "top"));
    expect(view.path.startsWith(join(root, "mnt"))).toBe(true);
    expect(await mountPoints()).toContain(view.path);
    await expect(writeFile(join(view.path, "x"), "x")).rejects.toMatchObject({ code: "EROFS" });
    await view.release();
    await view.release();
    expect(await mountPoints()).not.toContain(view.path);
    expect(await readdir(join(root, "mnt"))).toEqual([]);
  });

  it("mounts a 128-layer chain although absolute lowerdirs exceed a page", async () => {
    let parent: string | undefined;
    for (let i = 0; i < 128; i++) {
      // Written straight into the upperdir (no mount needed while it is not mounted): faster.
      await sn.prepare(`l${i}-key`, parent);
      await writeFile(join(dir(`l${i}-key`), "fs", `f${i}`), `${i}`);
      await sn.commit(`l${i}`, `l${i}-key`);
      parent = `l${i}`;
    }
    const mounts = await sn.prepare("top", parent);
    const options = mounts[0]?.options ?? [];
    expect(options.join(",").length).toBeGreaterThan(MAX_MOUNT_DATA);
    const { data, cwd } = overlayMountData(options);
    expect(cwd).toBe(join(root, "l"));
    expect(data.length).toBeLessThanOrEqual(MAX_MOUNT_DATA);
    const mounted = await mountedPath(mounts);
    const names = await readdir(mounted.path);
    expect(names).toHaveLength(128);
    await writeFile(join(mounted.path, "f0"), "changed");
    await mounted.release();
    expect(await readFile(join(dir("top"), "fs", "f0"), "utf8")).toBe("changed");
  }, 240_000);

  it("refuses a root that belongs to the native snapshotter, and the other way round", async () => {
    const nativeRoot = join(root, "native-root");
    await (await createNativeSnapshotter({ root: nativeRoot })).close();
    await expect(createOverlaySnapshotter({ root: nativeRoot })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
    await expect(createNativeSnapshotter({ root })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    const byDefault = await createDefaultSnapshotter({ root: nativeRoot });
    expect(byDefault.name).toBe("native");
    await byDefault.close();
    const fresh = await createDefaultSnapshotter({ root: join(root, "fresh") });
    expect(fresh.name).toBe("overlay");
    await fresh.close();
  });
});
