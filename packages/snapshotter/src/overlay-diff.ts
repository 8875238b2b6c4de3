import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Writable } from "node:stream";
import { KilnError, type Mount, type Snapshotter } from "@kiln/core";
import { diffTrees, type LayerDiffOptions, type LayerDiffResult, writeLayerDiff } from "./diff.js";
import { type MountedPath, mountedPath, parseOverlayOptions } from "./mounts.js";

/**
 * The diff of one overlay layer against the tree below it, walking only what the layer holds.
 *
 * `upperDir` is the layer (an upperdir: whiteouts are 0/0 char devices, replaced directories carry
 * the opaque xattr); `lowerMounts` mount the tree it was made on (a parent view). The layer is not
 * read raw: it is mounted read-only on top of the lower layers, so the kernel applies whiteouts and
 * opaque directories (whichever xattr namespace, trusted or user, it used) and the differ needs no
 * xattr access. The walk visits only directories present in `upperDir`; for each it compares the
 * merged and the lower listing (deletions, opaque replacements) and the entries the layer holds.
 * The tar is byte-identical to writeLayerDiff(lower, merged): same entries, order and headers.
 */
export async function writeOverlayDiff(
  upperDir: string,
  lowerMounts: readonly Mount[],
  out: Writable,
  o: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  const lowerLayers = layersOf(lowerMounts);
  const merged: Mount = {
    type: "overlay",
    source: "overlay",
    options: [`lowerdir=${[upperDir, ...lowerLayers].join(":")}`, "ro"],
  };
  const opened: MountedPath[] = [];
  try {
    const lower = await mountedPath(lowerMounts, o);
    opened.push(lower);
    const top = await mountedPath([merged], o);
    opened.push(top);
    return await diffTrees(lower.path, top.path, upperDir, out, o);
  } finally {
    for (const m of opened.reverse()) await m.release();
  }
}

/** The directories, topmost first, that make up the tree of `mounts` (a bind or an overlay). */
function layersOf(mounts: readonly Mount[]): string[] {
  const [only] = mounts;
  if (mounts.length === 1 && only?.type === "bind") return [only.source];
  if (mounts.length === 1 && only?.type === "overlay") {
    const { upperdir, lowerdirs } = parseOverlayOptions(only.options);
    return [...(upperdir === undefined ? [] : [upperdir]), ...lowerdirs];
  }
  throw new KilnError("INVALID_ARGUMENT", "lower mounts must be one bind or one overlay mount", {
    details: { mounts },
  });
}

let redirectDir: Promise<boolean> | undefined;

/**
 * With redirect_dir, renaming a lower directory leaves a redirect in the layer instead of a copy, and
 * the merged directory then shows entries the layer does not hold; the pruned walk would miss them.
 * Our mounts never set the option, so the module default decides; when unknown, assume it is on.
 */
function redirectDirDefault(): Promise<boolean> {
  redirectDir ??= readFile("/sys/module/overlay/parameters/redirect_dir", "utf8").then(
    (v) => v.trim() !== "N",
    () => true,
  );
  return redirectDir;
}

/**
 * Writes the layer of snapshot `keyOrName` (committed or active) relative to `parentName` (undefined:
 * the whole tree) and returns its diffID and size, whatever the snapshotter: for overlay snapshots
 * whose parent is `parentName`, the layer's upperdir is walked (writeOverlayDiff); otherwise both
 * trees are walked (writeLayerDiff). The result is the same either way.
 *
 * Trees are read through temporary views named `active-<pid>-diff-<uuid>` (kept from removal while
 * they exist; the ref manager's stale cleanup removes those of killed processes).
 */
export async function snapshotterDiff(
  sn: Snapshotter,
  keyOrName: string,
  parentName: string | undefined,
  out: Writable,
  o: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  const info = await sn.stat(keyOrName, o);
  const views: string[] = [];
  const mountsOf = async (name: string, kind: "committed" | "active" | "view") => {
    if (kind !== "committed") return sn.mounts(name, o);
    const key = `active-${process.pid}-diff-${randomUUID()}`;
    const mounts = await sn.view(key, name, o);
    views.push(key);
    return mounts;
  };
  const opened: MountedPath[] = [];
  try {
    const upperMounts = await mountsOf(keyOrName, info.kind);
    const lowerMounts = parentName === undefined ? undefined : await mountsOf(parentName, "committed");
    const layer = lowerMounts && info.parent === parentName ? await layerDirOf(sn, upperMounts) : undefined;
    if (layer !== undefined && lowerMounts !== undefined)
      return await writeOverlayDiff(layer, lowerMounts, out, o);
    const upper = await mountedPath(upperMounts, o);
    opened.push(upper);
    const lower = lowerMounts === undefined ? undefined : await mountedPath(lowerMounts, o);
    if (lower !== undefined) opened.push(lower);
    return await writeLayerDiff(lower?.path, upper.path, out, o);
  } finally {
    for (const m of opened.reverse()) await m.release();
    for (const key of views.reverse()) await sn.remove(key).catch(() => {});
  }
}

/**
 * The upperdir holding the snapshot's own changes, when the overlay snapshotter made `mounts`: the
 * upperdir of an active snapshot, or the topmost lowerdir of a committed snapshot's view (which has
 * at least two layers when the snapshot has a parent).
 */
async function layerDirOf(sn: Snapshotter, mounts: readonly Mount[]): Promise<string | undefined> {
  const [only] = mounts;
  if (sn.name !== "overlay" || mounts.length !== 1 || only?.type !== "overlay") return undefined;
  if (await redirectDirDefault()) return undefined;
  const { upperdir, lowerdirs } = parseOverlayOptions(only.options);
  return upperdir ?? lowerdirs[0];
}
