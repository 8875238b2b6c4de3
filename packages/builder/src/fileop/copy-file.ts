import {
  type BigIntStats,
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  openSync,
  readSync,
  type Stats,
  writeSync,
} from "node:fs";
import type { Slicer } from "@kiln/core";
import type { Owner } from "./owner.js";

const CHUNK = 1 << 20;
const chunk = Buffer.allocUnsafe(CHUNK);

/** What a copied regular file hands a layer capture: its content when read in one go, its final stat. */
export interface CopiedFile {
  readonly content: Buffer | undefined;
  readonly stat: BigIntStats | undefined;
}

export interface FileCopyOptions {
  readonly mode: number;
  readonly atime: number;
  readonly mtime: number;
  readonly owner: Owner;
  /** A capture is listening: keep a one-read file's bytes and stat the copy once its metadata is set. */
  readonly capturing: boolean;
  readonly slicer: Slicer;
}

/**
 * Copies a regular file's bytes to the new file `dst` and sets its owner, mode and times. Plain
 * read/write through one buffer: on the measured ext4 this was ~4x faster than copy_file_range
 * (copyFile) for small files, whose copies were also far slower to delete later. Metadata goes through
 * the open descriptor (the same calls as a path-based chown/chmod/utimes, without a path walk each).
 * Reading stops at the size lstat saw, without an extra read to find the end: a file growing during
 * the copy is cut where its metadata said it ends.
 */
export async function copyFileContent(
  src: string,
  dst: string,
  fi: Stats,
  o: FileCopyOptions,
): Promise<CopiedFile> {
  // A capture gets a file that fits one read in a buffer of its own, so no copy of the bytes is made.
  const buffer = o.capturing && fi.size > 0 && fi.size < CHUNK ? Buffer.allocUnsafe(fi.size) : chunk;
  let reads = 0;
  let copied = 0;
  let stat: BigIntStats | undefined;
  const from = openSync(src, "r");
  try {
    const to = openSync(dst, "wx", 0o600);
    try {
      for (; copied < fi.size; reads++) {
        const n = readSync(from, buffer, 0, buffer.length, null);
        if (n === 0) break;
        for (let off = 0; off < n; ) off += writeSync(to, buffer, off, n - off);
        copied += n;
        if (n === CHUNK) await o.slicer.pause();
      }
      fchownSync(to, o.owner.uid, o.owner.gid);
      fchmodSync(to, o.mode);
      futimesSync(to, o.atime, o.mtime);
      if (o.capturing) stat = fstatSync(to, { bigint: true });
    } finally {
      closeSync(to);
    }
  } finally {
    closeSync(from);
  }
  const whole = buffer !== chunk && reads === 1 && copied === buffer.length;
  return { content: whole ? buffer : undefined, stat };
}
