import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { type CallOptions, createSlicer, type Digest, type Slicer, throwIfAborted } from "@kiln/core";
import { createTarWriter, type TarWriter } from "./tar-writer.js";
import {
  fileBody,
  sameEntry,
  sortByBytes,
  sortedNames,
  statEntries,
  type TreeEntry,
  tarEntryFor,
  tarType,
} from "./tree-entry.js";

export interface LayerDiffOptions extends CallOptions {
  /** Called for entries a layer cannot carry (sockets). */
  readonly onWarning?: (message: string) => void;
}

export interface LayerDiffResult {
  readonly diffId: Digest;
  readonly size: number;
}

const WHITEOUT_PREFIX = ".wh.";
/** Whiteouts carry no metadata worth keeping; a fixed mtime keeps the layer reproducible. */
const WHITEOUT_MTIME = new Date(0);

interface PendingDir {
  readonly path: string;
  readonly entry: TreeEntry;
  written: boolean;
}

interface DiffState {
  readonly tar: TarWriter;
  readonly o: LayerDiffOptions;
  /** `dev:ino` of files already written in this layer → their layer path, for hardlink entries. */
  readonly inodes: Map<string, string>;
  /** Unchanged ancestors of the current position; written only once something below them is. */
  readonly dirs: PendingDir[];
  /** Yields between synchronous fs calls (see tree-entry.ts for why they are synchronous). */
  readonly slicer: Slicer;
}

/**
 * Writes the changes that turn `lowerDir` (or an empty tree) into `upperDir` as an uncompressed OCI
 * layer tar to `out`, then ends `out`. Both trees are walked fully (a double-walking differ), in
 * per-directory byte order of the names written to the tar, parents before children:
 *  - an entry only in upper, or of a different type than in lower, is written whole (with its subtree);
 *  - an entry in both is written when `sameEntry` says it changed (metadata, see tree-entry.ts);
 *  - an entry only in lower becomes a `.wh.<name>` whiteout file;
 *  - parent directories of written entries are written too (with upper's metadata), like docker does;
 *  - a file whose inode was already written in this layer becomes a hardlink entry.
 * Returns the layer's diffID (sha256 of the exact tar bytes) and its size.
 */
export async function writeLayerDiff(
  lowerDir: string | undefined,
  upperDir: string,
  out: Writable,
  o: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  return diffTrees(lowerDir, upperDir, undefined, out, o);
}

/**
 * writeLayerDiff with an optional `layerDir`: the overlay upperdir that turned `lowerDir` into
 * `upperDir` (then a merged view). Only directories present in the layer can differ, so the walk skips
 * every entry found in both trees but not in the layer: an unchanged subtree costs nothing, and the
 * result is exactly what the full walk of the same trees writes.
 */
export async function diffTrees(
  lowerDir: string | undefined,
  upperDir: string,
  layerDir: string | undefined,
  out: Writable,
  o: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  const tar = createTarWriter(out, o);
  const state: DiffState = { tar, o, inodes: new Map(), dirs: [], slicer: createSlicer(o.signal) };
  try {
    await diffDir(state, "", lowerDir, upperDir, layerDir);
    return await tar.finish();
  } catch (err) {
    tar.abort(err);
    throw err;
  }
}

type Change =
  | { readonly kind: "deleted"; readonly name: string; readonly tarName: string }
  | { readonly kind: "added" | "both"; readonly name: string; readonly tarName: string };

async function diffDir(
  state: DiffState,
  prefix: string,
  lower: string | undefined,
  upper: string,
  layer: string | undefined,
) {
  throwIfAborted(state.o.signal);
  const upperNames = sortedNames(upper);
  const lowerNames = lower === undefined ? [] : sortedNames(lower);
  const layerNames = layer === undefined ? undefined : new Set(readdirSync(layer));
  const inUpper = new Set(upperNames);
  const inLower = new Set(lowerNames);
  const changes: Change[] = [];
  for (const name of upperNames) {
    // In both trees but not in the layer: served from the lower layers, so unchanged.
    if (!inLower.has(name)) changes.push({ kind: "added", name, tarName: name });
    else if (layerNames === undefined || layerNames.has(name))
      changes.push({ kind: "both", name, tarName: name });
  }
  for (const name of lowerNames) {
    if (!inUpper.has(name)) changes.push({ kind: "deleted", name, tarName: `${WHITEOUT_PREFIX}${name}` });
  }
  const upperEntries = await statEntries(
    upper,
    changes.filter((c) => c.kind !== "deleted").map((c) => c.name),
    state.slicer,
  );
  const lowerEntries =
    lower === undefined
      ? new Map<string, TreeEntry>()
      : await statEntries(
          lower,
          changes.filter((c) => c.kind === "both").map((c) => c.name),
          state.slicer,
        );
  const order = sortByBytes(changes.map((c) => c.tarName));
  const byTarName = new Map(changes.map((c) => [c.tarName, c]));
  for (const tarName of order) {
    const change = byTarName.get(tarName);
    if (change === undefined) continue;
    if (change.kind === "deleted") {
      await writeWhiteout(state, `${prefix}${tarName}`);
      continue;
    }
    const upperEntry = upperEntries.get(change.name) as TreeEntry;
    const lowerEntry = change.kind === "both" ? lowerEntries.get(change.name) : undefined;
    const layerPath = change.kind === "both" && layer !== undefined ? join(layer, change.name) : undefined;
    await diffEntry(state, `${prefix}${change.name}`, lowerEntry, upperEntry, layerPath);
  }
}

async function diffEntry(
  state: DiffState,
  path: string,
  lower: TreeEntry | undefined,
  upper: TreeEntry,
  layer: string | undefined,
) {
  const type = tarType(upper.stat);
  if (type === undefined) {
    state.o.onWarning?.(`skipping ${path}: sockets cannot be stored in a layer`);
    return;
  }
  const sameType = lower !== undefined && tarType(lower.stat) === type;
  if (type !== "directory") {
    if (!sameType || !(await sameEntry(lower, upper))) await writeEntry(state, path, upper);
    return;
  }
  // A directory: written when new or changed, otherwise only if something below it is.
  const pending: PendingDir = { path, entry: upper, written: false };
  state.dirs.push(pending);
  try {
    if (!sameType || !(await sameEntry(lower, upper))) await flushDirs(state);
    // A directory that replaced a non-directory is walked whole: nothing below it is in the lower tree.
    await diffDir(
      state,
      `${path}/`,
      sameType ? lower.hostPath : undefined,
      upper.hostPath,
      sameType ? layer : undefined,
    );
  } finally {
    state.dirs.pop();
  }
}

async function flushDirs(state: DiffState): Promise<void> {
  for (const dir of state.dirs) {
    if (dir.written) continue;
    await state.tar.add(tarEntryFor(dir.path, dir.entry, "directory"));
    dir.written = true;
  }
}

async function writeWhiteout(state: DiffState, path: string): Promise<void> {
  await flushDirs(state);
  await state.tar.add({
    name: path,
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: WHITEOUT_MTIME,
    size: 0,
  });
}

async function writeEntry(state: DiffState, path: string, entry: TreeEntry): Promise<void> {
  throwIfAborted(state.o.signal);
  await flushDirs(state);
  const type = tarType(entry.stat);
  if (type === undefined || type === "directory") return;
  if (type !== "file") {
    await state.tar.add(tarEntryFor(path, entry, type));
    return;
  }
  if (entry.stat.nlink > 1n) {
    const inode = `${entry.stat.dev}:${entry.stat.ino}`;
    const first = state.inodes.get(inode);
    if (first !== undefined) {
      await state.tar.add({ ...tarEntryFor(path, entry, "link"), linkname: first });
      return;
    }
    state.inodes.set(inode, path);
  }
  await state.tar.add(tarEntryFor(path, entry, "file"), fileBody(entry.hostPath, entry.stat.size));
  await state.slicer.pause();
}
