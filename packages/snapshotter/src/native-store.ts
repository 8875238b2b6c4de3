import { createHash, randomBytes } from "node:crypto";
import { link, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, type SnapshotInfo, type SnapshotKind } from "@kiln/core";
import { errnoCode, isMissing } from "./fs-errors.js";

/**
 * On-disk layout of the native snapshotter (no database):
 *
 *   <root>/snapshots/<id>/fs/                the tree
 *   <root>/snapshots/<id>/info.json          StoredInfo
 *   <root>/snapshots/<id>/commit-<id>.json   commit marker (see commitMarkerName)
 *   <root>/snapshots/new-<pid>-<rand>[...]   snapshot or info file under construction
 *   <root>/snapshots/rm-<pid>-<rand>         snapshot being deleted
 *   <root>/driver                            the snapshotter owning the root (see claimRoot)
 *
 * `id` is the sha256 of the key or name, so keys and names share one namespace and a lookup is a
 * single path; renames onto an existing (never empty) snapshot directory fail, which makes "create if
 * absent" atomic across processes.
 */
export interface StoredInfo {
  readonly kind: SnapshotKind;
  readonly name: string;
  readonly parent?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly created: string;
  readonly updated: string;
  /**
   * Overlay only: link names (`<root>/l/<name>`) of the parent chain's layers, nearest first. Stored
   * because committed parents never change, so mounts need no walk up the chain.
   */
  readonly lowers?: readonly string[];
}

export const INFO_FILE = "info.json";
export const FS_DIR = "fs";

export function snapshotId(keyOrName: string): string {
  return createHash("sha256").update(keyOrName).digest("hex");
}

/** A temp name that records the owning process, so `open` only cleans up after dead processes. */
export function tempName(prefix: "new" | "rm"): string {
  return `${prefix}-${process.pid}-${randomBytes(8).toString("hex")}`;
}

export const isTempName = (entry: string): boolean => entry.startsWith("new-") || entry.startsWith("rm-");

/**
 * The commit marker written into an active snapshot before it is renamed to the committed name's id.
 * Its file name carries the target id, so two processes committing the same key to different names
 * cannot mix up their markers.
 */
export const commitMarkerName = (nameId: string): string => `commit-${nameId}.json`;

export function toSnapshotInfo(s: StoredInfo): SnapshotInfo {
  return {
    kind: s.kind,
    name: s.name,
    ...(s.parent === undefined ? {} : { parent: s.parent }),
    labels: { ...s.labels },
    created: new Date(s.created),
    updated: new Date(s.updated),
  };
}

/** Writes `info` to `target` through a temp file in `snapshotsDir` plus rename (atomic replace). */
export async function writeInfoFile(snapshotsDir: string, target: string, info: StoredInfo): Promise<void> {
  const tmp = join(snapshotsDir, `${tempName("new")}.json`);
  await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function readJson(file: string): Promise<StoredInfo | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as StoredInfo;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new KilnError("DATA_LOSS", `unreadable snapshot metadata ${file}`, { cause: err });
  }
}

/**
 * Reads the info of snapshot directory `<snapshotsDir>/<id>`, or undefined when there is none.
 * A commit interrupted between the directory rename and the info rewrite is finished here (roll
 * forward): the directory already carries the committed name's id and holds the marker for it.
 */
export async function readStoredInfo(snapshotsDir: string, id: string): Promise<StoredInfo | undefined> {
  const dir = join(snapshotsDir, id);
  const info = await readJson(join(dir, INFO_FILE));
  if (info === undefined || snapshotId(info.name) === id) return info;
  const marker = join(dir, commitMarkerName(id));
  try {
    await rename(marker, join(dir, INFO_FILE));
  } catch (err) {
    // ENOENT: another reader rolled forward first; anything else is real damage.
    if (errnoCode(err) !== "ENOENT") throw err;
  }
  const fixed = await readJson(join(dir, INFO_FILE));
  if (fixed !== undefined && snapshotId(fixed.name) === id) return fixed;
  throw new KilnError("DATA_LOSS", `snapshot directory ${dir} does not match its metadata`, {
    hint: "remove the directory by hand; it is not reachable by any key or name",
  });
}

/** Ids of all snapshot directories (temp directories excluded). */
export async function listSnapshotIds(snapshotsDir: string): Promise<string[]> {
  const entries = await readdir(snapshotsDir);
  return entries.filter((e) => !isTempName(e)).sort();
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

/**
 * Deletes `new-*` and `rm-*` leftovers whose owning process is gone. Entries of live processes are
 * kept: several processes may share one root. (Processes in other PID namespaces are not told apart;
 * share a root only between processes that see each other's PIDs.) A `cp` started by a killed process
 * may still be writing into its leftover; removal retries, and what still cannot be removed is left
 * for the next open rather than failing this one.
 */
export async function removeLeftovers(snapshotsDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(snapshotsDir)) {
    if (!isTempName(entry)) continue;
    const pid = Number(/^(?:new|rm)-(\d+)-/.exec(entry)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
    try {
      await rm(join(snapshotsDir, entry), { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      removed.push(entry);
    } catch {
      // Still being written by an orphaned child; the next open tries again.
    }
  }
  return removed;
}

const DRIVER_FILE = "driver";

/**
 * Records which snapshotter owns `root` (`<root>/driver`) and refuses a root owned by another one:
 * native snapshots hold whole trees, overlay snapshots only layers, so mixing them would corrupt
 * both. A root without the file but with snapshots predates the file and was native.
 */
export async function claimRoot(root: string, driver: string): Promise<void> {
  const marker = join(root, DRIVER_FILE);
  let owner = await readFile(marker, "utf8").then((text) => text.trim(), ignoreMissing);
  if (owner === undefined) {
    const legacy = (await readdir(join(root, "snapshots")).catch(ignoreMissing))?.length ?? 0;
    if (legacy > 0) owner = "native";
  }
  if (owner === undefined) {
    // link(2) creates the marker only if absent, so two first openers agree on one owner.
    const tmp = join(root, `${tempName("new")}.driver`);
    await writeFile(tmp, `${driver}\n`, { mode: 0o644 });
    try {
      await link(tmp, marker);
      owner = driver;
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
      owner = (await readFile(marker, "utf8")).trim();
    } finally {
      await rm(tmp, { force: true });
    }
  }
  if (owner !== driver) {
    throw new KilnError("FAILED_PRECONDITION", `${root} belongs to the ${owner} snapshotter, not ${driver}`, {
      hint: "use createDefaultSnapshotter (it keeps a root's snapshotter) or another root",
    });
  }
}

function ignoreMissing(err: unknown): undefined {
  if (isMissing(err)) return undefined;
  throw err;
}
