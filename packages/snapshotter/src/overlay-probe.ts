import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshotter } from "@kiln/core";
import { isMissing } from "./fs-errors.js";
import { mountOverlay, mountPoints, mountTargetPrefix, unmount } from "./mount-exec.js";
import { createNativeSnapshotter } from "./native.js";
import { createOverlaySnapshotter } from "./overlay.js";

const probes = new Map<string, Promise<boolean>>();

/**
 * Whether overlay snapshots work under `root`: mounts a tiny overlay there (in `<root>/mnt/`, so a
 * probe killed halfway is cleaned up like any stale mount), deletes a lower file and replaces a lower
 * directory through it, and checks what the merged view and the upperdir show. That catches missing
 * privileges, a kernel without overlay, backing filesystems overlay refuses (overlay itself, some
 * network filesystems) and ones without d_type (whiteouts would show up as char devices). Probes once
 * per root and process.
 */
export function isOverlaySupported(root: string): Promise<boolean> {
  let probe = probes.get(root);
  if (probe === undefined) {
    probe = probeOverlay(root).catch(() => false);
    probes.set(root, probe);
  }
  return probe;
}

async function probeOverlay(root: string): Promise<boolean> {
  if (process.platform !== "linux") return false;
  const mountDir = join(await ensureDir(root), "mnt");
  await mkdir(mountDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(mountDir, `${mountTargetPrefix()}probe-`));
  const [lower1, lower2, upper, work, merged] = ["l1", "l2", "u", "w", "m"].map((d) => join(dir, d)) as [
    string,
    string,
    string,
    string,
    string,
  ];
  try {
    for (const d of [lower1, join(lower2, "dir"), upper, work, merged]) await mkdir(d, { recursive: true });
    await writeFile(join(lower1, "file"), "lower");
    await writeFile(join(lower2, "dir", "old"), "old");
    await mountOverlay(`lowerdir=${lower1}:${lower2},upperdir=${upper},workdir=${work}`, merged);
    try {
      if ((await readFile(join(merged, "file"), "utf8")) !== "lower") return false;
      await rm(join(merged, "file"));
      await rm(join(merged, "dir"), { recursive: true });
      await mkdir(join(merged, "dir"));
      await writeFile(join(merged, "dir", "new"), "new");
      const top = (await readdir(merged)).sort().join(",");
      const inDir = (await readdir(join(merged, "dir"))).join(",");
      const whiteout = await lstat(join(upper, "file"));
      return top === "dir" && inDir === "new" && whiteout.isCharacterDevice() && whiteout.rdev === 0;
    } finally {
      await unmount(merged);
    }
  } finally {
    if (!(await mountPoints()).includes(merged)) await rm(dir, { recursive: true, force: true });
    else await rmdir(dir).catch(() => {});
  }
}

async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return realpath(dir);
}

export interface DefaultSnapshotterOptions {
  readonly root: string;
}

/**
 * The snapshotter for `root`: the one that already owns it (its `driver` file, or native for a root
 * from before that file), else overlay when isOverlaySupported, else native. A root keeps its
 * snapshotter, so snapshot names recorded elsewhere (the cache's metadata) stay valid.
 */
export async function createDefaultSnapshotter(options: DefaultSnapshotterOptions): Promise<Snapshotter> {
  const root = await ensureDir(options.root);
  const owner = await readFile(join(root, "driver"), "utf8").then(
    (text) => text.trim(),
    (err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    },
  );
  const legacy = owner === undefined && (await readdir(join(root, "snapshots")).catch(() => [])).length > 0;
  const useOverlay =
    owner === "overlay" || (owner === undefined && !legacy && (await isOverlaySupported(root)));
  return useOverlay ? createOverlaySnapshotter({ root }) : createNativeSnapshotter({ root });
}
