import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from "node:fs/promises";
import type tarStream from "tar-stream";
import { isMissing } from "./fs-errors.js";

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

/** Removes whatever is at `hostPath` (never following a symlink). Returns whether something was there. */
export async function removeExisting(hostPath: string): Promise<boolean> {
  try {
    await lstat(hostPath);
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
  await rm(hostPath, { recursive: true, force: true });
  return true;
}

/** Ownership first: chown clears setuid/setgid, so the mode goes on afterwards. */
async function setOwnerAndMode(hostPath: string, header: LayerHeader): Promise<void> {
  await lchown(hostPath, header.uid ?? 0, header.gid ?? 0);
  await chmod(hostPath, permissions(header));
}

export async function writeDirectory(hostPath: string, header: LayerHeader): Promise<void> {
  const existing = await lstat(hostPath).catch((err: unknown) => {
    if (isMissing(err)) return undefined;
    throw err;
  });
  if (existing !== undefined && !existing.isDirectory()) await rm(hostPath, { recursive: true, force: true });
  if (existing === undefined || !existing.isDirectory()) await mkdir(hostPath, { mode: 0o700 });
  // Times are set by the caller after the whole layer, because writing children changes them.
  await setOwnerAndMode(hostPath, header);
}

/** O_EXCL|O_NOFOLLOW: the final component is created here, never reached through a symlink. */
export async function writeFile(
  hostPath: string,
  header: LayerHeader,
  body: AsyncIterable<Uint8Array>,
): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(hostPath, flags, 0o600);
  try {
    // Plain writes: a FileHandle stream with autoClose:false makes handle.close() hang on Node 20.
    for await (const chunk of body) {
      for (let off = 0; off < chunk.length; ) off += (await handle.write(chunk, off)).bytesWritten;
    }
    await handle.chown(header.uid ?? 0, header.gid ?? 0);
    await handle.chmod(permissions(header));
    const t = entryTimes(header);
    await handle.utimes(t.atime, t.mtime);
  } finally {
    await handle.close();
  }
}

export async function writeSymlink(hostPath: string, header: LayerHeader): Promise<void> {
  await symlink(header.linkname ?? "", hostPath);
  await lchown(hostPath, header.uid ?? 0, header.gid ?? 0);
  const t = entryTimes(header);
  await lutimes(hostPath, t.atime, t.mtime);
}

/** link(2) does not follow a symlink target: a hardlink to a symlink is a second name of the link. */
export async function writeHardlink(hostPath: string, targetHostPath: string): Promise<void> {
  await link(targetHostPath, hostPath);
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
  await setOwnerAndMode(hostPath, header);
  const t = entryTimes(header);
  await utimes(hostPath, t.atime, t.mtime);
  return undefined;
}
