import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, rm, symlink, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { CallOptions, Exporter, ExportRequest, ExportResponse, ProgressWriter } from "@kiln/core";
import { destAttr, epochAttr } from "./attrs.js";
import { exportError } from "./fs-errors.js";
import { deviceNumbers, mtimeSeconds, type TreeEntry, walkTree } from "./fs-tree.js";
import { exportStep } from "./progress.js";

const run = promisify(execFile);

/**
 * `type=local`: copies the result's tree into the directory `dest` (created when missing; files already
 * there and not in the result are kept, like BuildKit's default `mode=copy`). Symlinks are copied as
 * symlinks and never followed, on either side: an existing entry in `dest` that is in the way (say a
 * symlink where the result has a directory) is replaced, never written through. Hardlinks stay
 * hardlinks. Ownership is kept when running as root; modes and mtimes (clamped to
 * `source-date-epoch`) always.
 */
export function createLocalExporter(): Exporter {
  return {
    type: "local",
    async export(req: ExportRequest, o?: CallOptions): Promise<ExportResponse> {
      const dest = resolve(destAttr(req.attrs, "local", "<directory>"));
      const epoch = epochAttr(req.attrs);
      const step = exportStep(req.progress, "copying files");
      const mounted = await req.ref.mount(o);
      try {
        await copyTree(mounted.path, dest, {
          epoch,
          progress: req.progress,
          ...(o?.signal ? { signal: o.signal } : {}),
        });
        step.done();
        return {};
      } catch (err) {
        step.done(err);
        throw exportError(err, dest);
      } finally {
        await mounted.release();
      }
    },
  };
}

export interface CopyOptions extends CallOptions {
  readonly epoch: number | undefined;
  readonly progress?: ProgressWriter;
}

export async function copyTree(source: string, dest: string, o: CopyOptions): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  await mkdir(dest, { recursive: true });
  // Directory metadata is applied last, deepest first, so writing children does not disturb it.
  const directories: TreeEntry[] = [];
  for await (const entry of walkTree(source, o)) {
    const target = join(dest, entry.path);
    const { stats } = entry;
    if (entry.kind === "directory") {
      await ensureRealDirectory(target);
      directories.push(entry);
      continue;
    }
    await rm(target, { recursive: true, force: true });
    switch (entry.kind) {
      case "file":
        await copyFile(entry.absolute, target, constants.COPYFILE_FICLONE);
        break;
      case "hardlink":
        await link(join(dest, entry.linkTarget ?? ""), target);
        continue; // shares the inode (and its metadata) with the first path
      case "symlink":
        await symlink(entry.linkTarget ?? "", target);
        break;
      case "character-device":
      case "block-device":
      case "fifo": {
        if (!asRoot && entry.kind !== "fifo") {
          warn(o.progress, `skipped device ${entry.path}: creating device nodes needs root`);
          continue;
        }
        const { major, minor } = deviceNumbers(stats.rdev);
        const args =
          entry.kind === "fifo"
            ? [target, "p"]
            : [target, entry.kind === "block-device" ? "b" : "c", `${major}`, `${minor}`];
        await run("mknod", args);
        break;
      }
      case "socket":
        warn(o.progress, `skipped socket ${entry.path}`);
        continue;
    }
    await applyMetadata(entry, target, asRoot, o.epoch);
  }
  for (const entry of directories.reverse())
    await applyMetadata(entry, join(dest, entry.path), asRoot, o.epoch);
}

async function ensureRealDirectory(target: string): Promise<void> {
  try {
    const st = await lstat(target);
    if (st.isDirectory()) return;
    await rm(target, { force: true });
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
  await mkdir(target);
}

async function applyMetadata(
  entry: TreeEntry,
  target: string,
  asRoot: boolean,
  epoch: number | undefined,
): Promise<void> {
  const { stats } = entry;
  // chown before chmod: changing the owner clears setuid/setgid bits.
  if (asRoot) await lchown(target, stats.uid, stats.gid);
  const mtime = mtimeSeconds(stats, epoch);
  const atime = epoch !== undefined && stats.atimeMs / 1000 > epoch ? epoch : stats.atimeMs / 1000;
  if (entry.kind === "symlink") {
    await lutimes(target, atime, mtime);
    return;
  }
  await chmod(target, stats.mode & 0o7777);
  await utimes(target, atime, epoch === undefined ? stats.mtimeMs / 1000 : mtime);
}

function warn(progress: ProgressWriter | undefined, message: string): void {
  progress?.write({ type: "warning", message, time: Date.now() });
}
