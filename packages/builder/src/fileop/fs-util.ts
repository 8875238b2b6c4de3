import { execFile } from "node:child_process";
import { chmodSync, lchownSync, lutimesSync, type Stats } from "node:fs";
import { chmod, lchown, link, lutimes, mkdir, stat, unlink } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, relative } from "node:path";
import { promisify } from "node:util";
import { isKilnError, KilnError, type KilnErrorCode } from "@kiln/core";
import type { Owner } from "./owner.js";

const execFileAsync = promisify(execFile);

const CODES: Record<string, KilnErrorCode> = {
  ENOENT: "NOT_FOUND",
  EEXIST: "ALREADY_EXISTS",
  ENOTDIR: "FAILED_PRECONDITION",
  EISDIR: "FAILED_PRECONDITION",
  ENOTEMPTY: "FAILED_PRECONDITION",
  EACCES: "PERMISSION_DENIED",
  EPERM: "PERMISSION_DENIED",
  ELOOP: "INVALID_ARGUMENT",
  ENAMETOOLONG: "INVALID_ARGUMENT",
};

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file exists",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ENOTEMPTY: "directory not empty",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ELOOP: "too many levels of symbolic links",
};

/** Wraps a Node fs error as a KilnError naming `display` (a tree path, never a host path). */
export function fsError(err: unknown, action: string, display: string): KilnError {
  if (isKilnError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "";
  const reason = REASONS[code] ?? (err instanceof Error ? err.message : String(err));
  return new KilnError(CODES[code] ?? "INTERNAL", `${action} ${JSON.stringify(display)}: ${reason}`, {
    cause: err,
  });
}

/** How a host path below `root` is shown to users: `/a/b`. */
export function displayPath(root: string, host: string): string {
  const rel = relative(root, host);
  return rel === "" ? "/" : `/${rel}`;
}

/**
 * `mkdir -p` with BuildKit's metadata rules for the directories it creates: exact `perm` (no umask),
 * owned by `owner` when given, times set to `time` when given. Returns the created directories,
 * outermost first. An existing non-directory component is ENOTDIR.
 */
export async function mkdirAll(host: string, perm: number, owner?: Owner, time?: number): Promise<string[]> {
  try {
    const st = await stat(host);
    if (st.isDirectory()) return [];
    throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const parent = dirname(host);
  const created = parent === host ? [] : await mkdirAll(parent, perm, owner, time);
  try {
    await mkdir(host, perm);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST" && (await stat(host)).isDirectory()) return created;
    throw err;
  }
  await chmod(host, perm);
  if (owner) await lchown(host, owner.uid, owner.gid);
  if (time !== undefined) await lutimes(host, time, time);
  created.push(host);
  return created;
}

/** Sets `time` on directories created earlier, after writing into them moved their mtime. */
export async function retime(dirs: readonly string[], time: number | undefined): Promise<void> {
  if (time === undefined) return;
  for (const d of [...dirs].reverse()) await lutimes(d, time, time);
}

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Linux `major()`/`minor()` of a `dev_t`. */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Creates a device node, FIFO or socket at `host` (Node has no mknod: the `mknod` tool does it; a
 * socket is bound on a temporary name and hard-linked, since closing the server unlinks its path).
 */
export async function makeSpecial(host: string, type: number, major: number, minor: number): Promise<void> {
  if (type === S_IFSOCK) {
    const temp = `${host}.kiln-sock-${process.pid}`;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(temp, () => resolve());
    });
    try {
      await link(temp, host);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(temp).catch(() => undefined);
    }
    return;
  }
  const kind = type === S_IFCHR ? "c" : type === S_IFBLK ? "b" : "p";
  const args = kind === "p" ? [host, "p"] : [host, kind, String(major), String(minor)];
  try {
    await execFileAsync("mknod", args);
  } catch (err) {
    throw new KilnError("FAILED_PRECONDITION", `cannot create special file: ${(err as Error).message}`, {
      cause: err,
      hint: "creating device nodes needs root and the mknod tool (coreutils)",
    });
  }
}

/** Owner, permission bits (skipped for symlinks) and times, in the order that keeps setuid bits. */
export function setMetadataSync(
  host: string,
  o: { owner: Owner; mode: number | undefined; atime: number; mtime: number; isSymlink: boolean },
): void {
  lchownSync(host, o.owner.uid, o.owner.gid);
  if (!o.isSymlink && o.mode !== undefined) chmodSync(host, o.mode & 0o7777);
  lutimesSync(host, o.atime, o.mtime);
}

/** Access and modification times of a stat result, in seconds. */
export function statTimes(st: Stats): { atime: number; mtime: number } {
  return { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 };
}
