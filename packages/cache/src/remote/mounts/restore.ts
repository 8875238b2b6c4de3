import { randomBytes } from "node:crypto";
import {
  chmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { copyFile, lchown, lutimes, symlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import {
  type BlobReader,
  type CallOptions,
  type Digest,
  KilnError,
  sha256,
  throwIfAborted,
} from "@kiln/core";
import pLimit from "p-limit";
import { extract as tarExtract } from "tar-stream";
import { readBlobBytes } from "../blob-io.js";
import { MOUNT_PACK_MEDIA_TYPE, type MountTree, type MountTreeEntry, parseMountTree } from "./format.js";
import { yieldToLoop } from "./snapshot.js";

export interface RestoreResult {
  /** Files, links and directories created. */
  readonly restored: number;
  /** Entries left alone because something already exists at their path (local wins). */
  readonly kept: number;
  readonly blobsRead: number;
}

/**
 * Merges a tree into a local cache directory: whatever exists locally wins, and only what is missing
 * is created (so a warm runner downloads only blobs of missing files, and a concurrent user of a
 * `shared` cache never sees a file change under it). Each file is written to a temporary name,
 * checked against its digest and hard-linked into place, which fails rather than replacing a file
 * someone created meanwhile. Nothing is created below a path that is not a real directory here.
 */
export async function restoreMountTree(
  store: BlobReader,
  treeBytes: Uint8Array,
  dir: string,
  o: CallOptions = {},
): Promise<RestoreResult> {
  const tree = parseMountTree(treeBytes);
  const realDirs = new Set<string>([""]);
  const blocked = (path: string) => !realDirs.has(parentOf(path));
  const byBlob = new Map<number, MountTreeEntry[]>();
  const createdDirs: MountTreeEntry[] = [];
  let restored = 0;
  let kept = 0;

  for (const [i, e] of tree.entries.entries()) {
    throwIfAborted(o.signal);
    if (i % 512 === 0) await yieldToLoop();
    if (blocked(e.path)) {
      kept++;
      continue;
    }
    const abs = join(dir, e.path);
    const existing = lstatSync(abs, { throwIfNoEntry: false });
    if (existing) {
      if (e.type === "dir" && existing.isDirectory()) realDirs.add(e.path);
      else kept++;
      continue;
    }
    if (e.type === "dir") {
      try {
        mkdirSync(abs);
      } catch (err) {
        // Someone else made it meanwhile: theirs, like any existing path (if it is a directory, go on).
        ignoreExists(err as NodeJS.ErrnoException);
        if (lstatSync(abs).isDirectory()) realDirs.add(e.path);
        kept++;
        continue;
      }
      setOwnerAndMode(abs, e);
      realDirs.add(e.path);
      createdDirs.push(e);
      restored++;
    } else if (e.type === "symlink") {
      await symlink(e.target as string, abs).catch(ignoreExists);
      await lchown(abs, e.uid, e.gid).catch(() => {});
      await lutimes(abs, seconds(e.mtimeMs), seconds(e.mtimeMs)).catch(() => {});
      restored++;
    } else if (e.blob === undefined) {
      await placeFile(abs, e, (tmp) => writeFileSync(tmp, ""));
      restored++;
    } else byBlob.set(e.blob, [...(byBlob.get(e.blob) ?? []), e]);
  }

  const limit = pLimit(4);
  // allSettled: no pack may still be writing into the cache when the step starts after a failure.
  const outcomes = await Promise.allSettled(
    [...byBlob].map(([index, files]) =>
      limit(async () => {
        // Read `restored` only after the await: `x += await f()` would add to a stale value.
        const count = await restoreBlob(store, tree, index, files, dir, o);
        restored += count;
      }),
    ),
  );
  // Directory times last: creating their contents moved them.
  for (const e of createdDirs.reverse()) {
    await utimes(join(dir, e.path), seconds(e.mtimeMs), seconds(e.mtimeMs)).catch(() => {});
  }
  const failed = outcomes.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return { restored, kept, blobsRead: byBlob.size };
}

/** Reads a tree blob (the index's descriptor) and merges it into `dir`. */
export async function restoreMount(
  store: BlobReader,
  treeDesc: Parameters<BlobReader["read"]>[0],
  dir: string,
  o: CallOptions = {},
): Promise<RestoreResult> {
  return restoreMountTree(store, await readBlobBytes(store, treeDesc, o), dir, o);
}

// --- Internal helpers ---

async function restoreBlob(
  store: BlobReader,
  tree: MountTree,
  index: number,
  files: readonly MountTreeEntry[],
  dir: string,
  o: CallOptions,
): Promise<number> {
  const desc = tree.blobs[index];
  if (!desc) return 0;
  const wanted = new Map<Digest, MountTreeEntry[]>();
  for (const f of files) wanted.set(f.digest as Digest, [...(wanted.get(f.digest as Digest) ?? []), f]);
  let restored = 0;
  if (desc.mediaType !== MOUNT_PACK_MEDIA_TYPE) {
    // A large file's blob is its content: stream it to the first path, copy for the others.
    const [first, ...rest] = files;
    if (!first) return 0;
    const body = await store.read(desc, o);
    await placeFile(join(dir, first.path), first, (tmp) => writeFile(tmp, body));
    for (const f of rest)
      await placeFile(join(dir, f.path), f, (tmp) => copyFile(join(dir, first.path), tmp));
    return files.length;
  }
  // Members are verified and placed one at a time as the pack streams in (a member is <= 1 MiB).
  const extract = tarExtract();
  extract.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: unknown) => chunks.push(c as Buffer));
    stream.on("end", () => {
      const data = Buffer.concat(chunks);
      const digest = `sha256:${header.name}` as Digest;
      const targets = wanted.get(digest);
      if (!targets) return next();
      if (sha256(data) !== digest) {
        return next(
          new KilnError("DATA_LOSS", `cache mount pack ${desc.digest}: member ${header.name} is corrupt`),
        );
      }
      wanted.delete(digest);
      Promise.all(
        targets.map((f) => placeFile(join(dir, f.path), f, (tmp) => writeFileSync(tmp, data))),
      ).then(
        () => {
          restored += targets.length;
          next();
        },
        (err: unknown) => next(err as Error),
      );
    });
  });
  // A failure anywhere (read, gunzip, a member) destroys the whole chain, so nothing keeps the body open.
  await pipeline(await store.read(desc, o), createGunzip(), extract, o.signal ? { signal: o.signal } : {});
  if (wanted.size > 0) {
    throw new KilnError("DATA_LOSS", `cache mount pack ${desc.digest} lacks ${wanted.size} of its files`);
  }
  return restored;
}

/**
 * Writes a file beside its destination under a temporary name, sets owner, mode and time, and links
 * it into place: an existing file (a concurrent writer's) wins; the temporary name always goes.
 * Synchronous for small contents (see the snapshot walk: async calls cost a thread-pool round trip).
 */
async function placeFile(abs: string, e: MountTreeEntry, write: (tmp: string) => Promise<void> | void) {
  const tmp = join(dirname(abs), `.kiln-restore-${randomBytes(6).toString("hex")}`);
  try {
    await write(tmp);
    setOwnerAndMode(tmp, e);
    utimesSync(tmp, seconds(e.mtimeMs), seconds(e.mtimeMs));
    try {
      linkSync(tmp, abs);
    } catch (err) {
      ignoreExists(err as NodeJS.ErrnoException);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

function setOwnerAndMode(abs: string, e: MountTreeEntry) {
  // A new file is already ours; most cache files are (root-run steps), which saves a call per file.
  if (e.uid !== process.geteuid?.() || e.gid !== process.getegid?.()) {
    try {
      lchownSync(abs, e.uid, e.gid);
    } catch {
      // Not root: the files stay the restoring user's.
    }
  }
  // After the owner: chown clears setuid and setgid bits.
  chmodSync(abs, e.mode);
}

function ignoreExists(err: NodeJS.ErrnoException) {
  if (err.code !== "EEXIST") throw err;
}

/** Half a millisecond up, so the float seconds round-trip to the same whole millisecond. */
function seconds(ms: number): number {
  return (ms + 0.5) / 1000;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}
