import { mkdir, readdir, readlink, realpath, rm, stat, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, type Mount, type Snapshotter } from "@kiln/core";
import { createDirSnapshotter } from "./dir-snapshotter.js";
import { errnoCode, isMissing } from "./fs-errors.js";
import { removeStaleMounts } from "./mount-exec.js";
import { registerMountDir } from "./mounts.js";
import { claimRoot, FS_DIR, removeLeftovers, snapshotId } from "./native-store.js";
import { makeSpreadDir } from "./spread-dirs.js";

export interface OverlaySnapshotterOptions {
  /** Directory owned by this snapshotter; several processes may open the same root. */
  readonly root: string;
}

/**
 * Layout on top of the native store (native-store.ts):
 *
 *   <root>/snapshots/<id>/fs/     the snapshot's own layer: the overlay upperdir while active
 *   <root>/snapshots/<id>/work/   the overlay workdir (active snapshots only)
 *   <root>/l/<link>               symlink → ../snapshots/<id>/fs of a committed snapshot
 *   <root>/mnt/<pid>-<random>/    mount targets handed out by mountedPath
 *
 * Links exist to keep mount options short: a lowerdir is `<root>/l/` plus 11 characters, and
 * mountedPath mounts from inside `l/` when absolute paths would exceed a page.
 */
const WORK_DIR = "work";
const LINKS_DIR = "l";
const MOUNT_DIR = "mnt";

/** 64 bits of the committed name's id in base64url: collisions are negligible, names short. */
export const linkName = (name: string): string =>
  Buffer.from(snapshotId(name).slice(0, 16), "hex").toString("base64url");

/**
 * The overlayfs snapshotter: `prepare` creates two empty directories, whatever the size of the
 * parent; the parent chain is mounted as overlay lower layers. Needs root (mount) and an upper
 * filesystem that supports overlay; see isOverlaySupported.
 */
export async function createOverlaySnapshotter(options: OverlaySnapshotterOptions): Promise<Snapshotter> {
  await mkdir(options.root, { recursive: true, mode: 0o700 });
  // Real paths: mountinfo reports them, and mountedPath matches layer paths against this root.
  const root = await realpath(options.root);
  const snapshotsDir = join(root, "snapshots");
  const linksDir = join(root, LINKS_DIR);
  const mountDir = join(root, MOUNT_DIR);
  await makeSpreadDir(snapshotsDir, 0o700);
  for (const dir of [linksDir, mountDir]) await mkdir(dir, { recursive: true, mode: 0o700 });
  await claimRoot(root, "overlay");
  // Unmount first: a leftover snapshot directory may be the upperdir of a stale mount.
  await removeStaleMounts(mountDir);
  await removeLeftovers(snapshotsDir);
  await removeDanglingLinks(linksDir);
  const unregister = registerMountDir(root, mountDir);

  const dirOf = (name: string) => join(snapshotsDir, snapshotId(name));
  const linkOf = (name: string) => join(linksDir, linkName(name));
  const bind = (source: string, mode: "ro" | "rw"): Mount[] => [
    { type: "bind", source, options: ["rbind", mode] },
  ];

  return createDirSnapshotter(snapshotsDir, {
    name: "overlay",

    async populate(tmpDir, kind, parent) {
      if (kind === "active") await mkdir(join(tmpDir, WORK_DIR), { mode: 0o700 });
      if (parent === undefined) return {};
      // Normally made by commit; made here too in case that process died right after its rename.
      await ensureLink(linkOf(parent.name), snapshotId(parent.name));
      return { lowers: [linkName(parent.name), ...(parent.lowers ?? [])] };
    },

    mounts(info) {
      const own = dirOf(info.name);
      const lowers = (info.lowers ?? []).map((link) => join(linksDir, link));
      if (info.kind === "view") {
        // Overlay needs two lowerdirs when there is no upperdir; one layer is its own tree.
        if (lowers.length === 0 || info.parent === undefined) return bind(join(own, FS_DIR), "ro");
        if (lowers.length === 1) return bind(join(dirOf(info.parent), FS_DIR), "ro");
        return [{ type: "overlay", source: "overlay", options: [`lowerdir=${lowers.join(":")}`, "ro"] }];
      }
      if (lowers.length === 0) return bind(join(own, FS_DIR), "rw");
      const options = [
        `lowerdir=${lowers.join(":")}`,
        `upperdir=${join(own, FS_DIR)}`,
        `workdir=${join(own, WORK_DIR)}`,
      ];
      return [{ type: "overlay", source: "overlay", options }];
    },

    async committed(info) {
      await ensureLink(linkOf(info.name), snapshotId(info.name));
      // A committed layer is only ever a lowerdir; its workdir (overlay's scratch space) is dead weight.
      await rm(join(dirOf(info.name), WORK_DIR), { recursive: true, force: true });
    },

    async removed(info) {
      await unlink(linkOf(info.name)).catch((err: unknown) => {
        if (!isMissing(err)) throw err;
      });
    },

    async close() {
      unregister();
    },
  });
}

/** Creates `link` → the layer of snapshot `id` (relative, so the root can move); an equal link is fine. */
async function ensureLink(link: string, id: string): Promise<void> {
  const target = join("..", "snapshots", id, FS_DIR);
  try {
    await symlink(target, link);
  } catch (err) {
    if (errnoCode(err) !== "EEXIST") throw err;
    const existing = await readlink(link);
    if (existing !== target) {
      throw new KilnError("INTERNAL", `layer link ${link} points to ${existing}, expected ${target}`, {
        hint: "two snapshot names share a link name; remove one of the snapshots",
      });
    }
  }
}

/** Links of snapshots that are gone (removed, or a process died between removal and unlink). */
async function removeDanglingLinks(linksDir: string): Promise<void> {
  for (const entry of await readdir(linksDir)) {
    const link = join(linksDir, entry);
    const missing = await stat(link).then(
      () => false,
      (err: unknown) => isMissing(err),
    );
    if (missing) await unlink(link).catch(() => {});
  }
}
