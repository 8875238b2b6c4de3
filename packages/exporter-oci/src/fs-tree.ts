import type { Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { type CallOptions, throwIfAborted } from "@kiln/core";

export type TreeEntryKind =
  | "directory"
  | "file"
  | "hardlink"
  | "symlink"
  | "character-device"
  | "block-device"
  | "fifo"
  | "socket";

export interface TreeEntry {
  /** Path relative to the root, `/`-separated, no leading `./`. */
  readonly path: string;
  readonly absolute: string;
  readonly kind: TreeEntryKind;
  readonly stats: Stats;
  /** Symlink target, or for a hardlink the path of the first entry with the same inode. */
  readonly linkTarget?: string;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function kindOf(st: Stats): TreeEntryKind {
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "character-device";
  if (st.isBlockDevice()) return "block-device";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  return "file";
}

/**
 * Walks a tree depth-first, parents before children, names in byte order: a deterministic order for
 * tar streams and copies. Symlinks are reported, never followed. A regular file whose inode was already
 * seen is reported as a hardlink to the first path.
 */
export async function* walkTree(root: string, o?: CallOptions): AsyncGenerator<TreeEntry> {
  const inodes = new Map<string, string>();
  async function* visit(relative: string): AsyncGenerator<TreeEntry> {
    const names = (await readdir(relative === "" ? root : join(root, relative))).sort(byteOrder);
    for (const name of names) {
      throwIfAborted(o?.signal);
      const path = relative === "" ? name : `${relative}/${name}`;
      const absolute = join(root, path);
      const stats = await lstat(absolute);
      const kind = kindOf(stats);
      if (kind === "symlink") {
        yield { path, absolute, kind, stats, linkTarget: await readlink(absolute) };
      } else if (kind === "file" && stats.nlink > 1) {
        const key = `${stats.dev}:${stats.ino}`;
        const first = inodes.get(key);
        if (first === undefined) inodes.set(key, path);
        yield first === undefined
          ? { path, absolute, kind, stats }
          : { path, absolute, kind: "hardlink", stats, linkTarget: first };
      } else {
        yield { path, absolute, kind, stats };
      }
      if (kind === "directory") yield* visit(path);
    }
  }
  yield* visit("");
}

/** Linux `dev_t` split (glibc encoding). */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  // Arithmetic instead of bit operators: dev_t is 64-bit and JS bit operators are 32-bit.
  const major = (Math.floor(rdev / 2 ** 8) % 2 ** 12) + Math.floor(rdev / 2 ** 44) * 2 ** 12;
  const minor = (rdev % 2 ** 8) + (Math.floor(rdev / 2 ** 20) % 2 ** 24) * 2 ** 8;
  return { major, minor };
}

/** mtime in whole seconds, clamped to SOURCE_DATE_EPOCH when one is given. */
export function mtimeSeconds(st: Stats, epoch: number | undefined): number {
  const seconds = Math.floor(st.mtimeMs / 1000);
  return epoch !== undefined && seconds > epoch ? epoch : seconds;
}
