import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import type tarStream from "tar-stream";
import { isMissing } from "./fs-errors.js";

/*
 * Why synchronous calls: applying a layer is a strictly sequential series of small local syscalls
 * (create, chown, chmod, utimes, ...). Through fs.promises every one of them is a round trip to libuv's
 * thread pool, which made extraction ~5x slower than issuing them directly; each call blocks the event
 * loop only for the syscall itself. File content is the exception: it arrives asynchronously anyway.
 */

/** The tar header fields the applier uses, with PAX records already folded in by tar-stream. */
export type LayerHeader = Omit<tarStream.Header, "pax"> & { pax?: Record<string, string> | null };

export interface EntryTimes {
  readonly atime: number;
  readonly mtime: number;
}

/** mtime/atime in seconds; PAX records keep sub-second precision when the layer has them. */
export function entryTimes(header: LayerHeader): EntryTimes {
  const fromHeader = (header.mtime?.getTime() ?? 0) / 1000;
  const mtime = parseTime(header.pax?.mtime) ?? fromHeader;
  return { mtime, atime: parseTime(header.pax?.atime) ?? mtime };
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

const permissions = (header: LayerHeader): number => (header.mode ?? 0o644) & 0o7777;

function lstatOrUndefined(hostPath: string) {
  try {
    // A missing path is the common case (layers mostly add files): no exception for it.
    return lstatSync(hostPath, { throwIfNoEntry: false });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** Removes whatever is at `hostPath` (never following a symlink). Returns whether something was there. */
export function removeExisting(hostPath: string): boolean {
  if (lstatOrUndefined(hostPath) === undefined) return false;
  rmSync(hostPath, { recursive: true, force: true });
  return true;
}

/** Ownership first: chown clears setuid/setgid, so the mode goes on afterwards. */
function setOwnerAndMode(hostPath: string, header: LayerHeader): void {
  lchownSync(hostPath, header.uid ?? 0, header.gid ?? 0);
  chmodSync(hostPath, permissions(header));
}

/** Returns whether a non-directory had to be removed first. */
export function writeDirectory(hostPath: string, header: LayerHeader): boolean {
  const existing = lstatOrUndefined(hostPath);
  const replaced = existing !== undefined && !existing.isDirectory();
  if (replaced) rmSync(hostPath, { recursive: true, force: true });
  if (existing === undefined || replaced) mkdirSync(hostPath, { mode: 0o700 });
  // Times are set by the caller after the whole layer, because writing children changes them.
  setOwnerAndMode(hostPath, header);
  return replaced;
}

/**
 * Creates a regular file with O_EXCL|O_NOFOLLOW, so the final component is created here and never
 * reached through a symlink; fails with EEXIST when something is in the way.
 */
export async function writeFile(
  hostPath: string,
  header: LayerHeader,
  body: AsyncIterable<Uint8Array>,
): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fd = openSync(hostPath, flags, 0o600);
  try {
    for await (const chunk of body) {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    }
    fchownSync(fd, header.uid ?? 0, header.gid ?? 0);
    fchmodSync(fd, permissions(header));
    const t = entryTimes(header);
    futimesSync(fd, t.atime, t.mtime);
  } finally {
    closeSync(fd);
  }
}

export function writeSymlink(hostPath: string, header: LayerHeader): void {
  symlinkSync(header.linkname ?? "", hostPath);
  lchownSync(hostPath, header.uid ?? 0, header.gid ?? 0);
  const t = entryTimes(header);
  lutimesSync(hostPath, t.atime, t.mtime);
}

/** link(2) does not follow a symlink target: a hardlink to a symlink is a second name of the link. */
export function writeHardlink(hostPath: string, targetHostPath: string): void {
  linkSync(targetHostPath, hostPath);
}

/**
 * Node has no mknod(2); the `mknod` program does it. Returns an error text instead of throwing when
 * the node cannot be created (no privilege, no binary), so the caller can warn and go on.
 */
export async function writeSpecial(hostPath: string, header: LayerHeader): Promise<string | undefined> {
  const args =
    header.type === "fifo"
      ? [hostPath, "p"]
      : [
          hostPath,
          header.type === "block-device" ? "b" : "c",
          String(header.devmajor),
          String(header.devminor),
        ];
  const failure = await new Promise<string | undefined>((resolve) => {
    const stderr: Buffer[] = [];
    const child = spawn("mknod", args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (err) => resolve(err.message));
    child.on("close", (code) => resolve(code === 0 ? undefined : Buffer.concat(stderr).toString().trim()));
  });
  if (failure !== undefined) return failure;
  setOwnerAndMode(hostPath, header);
  const t = entryTimes(header);
  utimesSync(hostPath, t.atime, t.mtime);
  return undefined;
}
