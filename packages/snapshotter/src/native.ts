import { join } from "node:path";
import type { Snapshotter } from "@kiln/core";
import { copyTree } from "./copy-tree.js";
import { createDirSnapshotter } from "./dir-snapshotter.js";
import { claimRoot, FS_DIR, removeLeftovers, snapshotId } from "./native-store.js";
import { makeSpreadDir } from "./spread-dirs.js";

export interface NativeSnapshotterOptions {
  /** Directory owned by this snapshotter; several processes may open the same root. */
  readonly root: string;
}

/**
 * The copy snapshotter: every snapshot is a full copy of its parent's tree. Slow for big trees, but it
 * runs on any filesystem and without mount privileges. See native-store.ts for the layout and
 * README.md for the crash and concurrency rules.
 */
export async function createNativeSnapshotter(options: NativeSnapshotterOptions): Promise<Snapshotter> {
  const snapshotsDir = join(options.root, "snapshots");
  await makeSpreadDir(snapshotsDir, 0o700);
  await claimRoot(options.root, "native");
  await removeLeftovers(snapshotsDir);
  const fsOf = (name: string) => join(snapshotsDir, snapshotId(name), FS_DIR);

  return createDirSnapshotter(snapshotsDir, {
    name: "native",
    async populate(tmpDir, kind, parent, o) {
      if (parent !== undefined && kind === "active")
        await copyTree(fsOf(parent.name), join(tmpDir, FS_DIR), o);
      return {};
    },
    mounts(info) {
      if (info.kind === "view") {
        // A view is read-only by contract and its parent is committed (immutable): share the parent's
        // tree instead of copying it, so reading a result costs nothing.
        const tree = info.parent === undefined ? info.name : info.parent;
        return [{ type: "bind", source: fsOf(tree), options: ["rbind", "ro"] }];
      }
      return [{ type: "bind", source: fsOf(info.name), options: ["rbind", "rw"] }];
    },
  });
}
