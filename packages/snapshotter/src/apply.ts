import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readlink, realpath, rm, utimes } from "node:fs/promises";
import { basename, dirname, join, posix, relative } from "node:path";
import type { Readable } from "node:stream";
import { type CallOptions, type Digest, KilnError, throwIfAborted } from "@kiln/core";
import tarStream from "tar-stream";
import {
  type EntryTimes,
  entryTimes,
  type LayerHeader,
  removeExisting,
  writeDirectory,
  writeFile,
  writeHardlink,
  writeSpecial,
  writeSymlink,
} from "./apply-entry.js";
import { errnoCode, isMissing } from "./fs-errors.js";
import { cleanLayerPath, resolveInRoot } from "./resolve-in-root.js";

export interface ApplyLayerOptions extends CallOptions {
  /** Entries that were skipped or only partly applied (device nodes without privilege, xattrs). */
  readonly onWarning?: (message: string) => void;
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar bytes read, to check against the image config's diff_ids. */
  readonly diffId: Digest;
  readonly size: number;
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
/** `.wh..wh.*` names other than the opaque marker are aufs bookkeeping (e.g. `.wh..wh.plnk`), not content. */
const AUFS_META_PREFIX = ".wh..wh.";

interface ApplyState {
  readonly root: string;
  readonly o: ApplyLayerOptions;
  /** Root-relative real paths holding content of this layer (with their ancestors). */
  readonly touched: Set<string>;
  /** Directory times, set last because creating children changes them. */
  readonly dirTimes: Map<string, EntryTimes>;
  /**
   * Layer parent path → its resolved host directory. Valid as long as nothing is removed: every cached
   * path consists of real directories, which only a removal (replace, whiteout, opaque) can change.
   */
  readonly parents: Map<string, string>;
  xattrWarned: boolean;
}

/**
 * Extracts an uncompressed OCI layer tar onto `targetDir`: whiteouts delete, opaque markers hide the
 * lower content of their directory, everything else is created or replaced with its owner, mode and
 * times. No entry can write outside `targetDir`: paths that are absolute or climb out with `..` are
 * refused, parent directories are resolved like in a chroot (symlinks, even absolute ones, stay inside
 * `targetDir`), the final component is never followed, and hardlink targets are checked the same way.
 * An INVALID_ARGUMENT error stops the extraction; entries before it stay applied.
 */
export async function applyLayer(
  tar: Readable,
  targetDir: string,
  o: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  throwIfAborted(o.signal);
  const state: ApplyState = {
    root: await realpath(targetDir),
    o,
    touched: new Set(),
    dirTimes: new Map(),
    parents: new Map(),
    xattrWarned: false,
  };
  const hash = createHash("sha256");
  let size = 0;
  const extract = tarStream.extract();
  const feeding = (async () => {
    for await (const chunk of tar as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (!extract.write(chunk)) await drained(extract);
    }
    extract.end(undefined);
  })();
  feeding.catch((err: unknown) => extract.destroy(err as Error));
  try {
    for await (const entry of extract) {
      throwIfAborted(o.signal);
      await applyEntry(state, entry.header as LayerHeader, entry as AsyncIterable<Uint8Array>);
      entry.resume();
    }
    await feeding;
  } catch (err) {
    extract.destroy(err as Error);
    tar.destroy();
    await feeding.catch(() => {});
    throw err;
  }
  await restoreDirTimes(state);
  return { diffId: `sha256:${hash.digest("hex")}`, size };
}

function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done).off("close", done);
      resolve();
    };
    stream.on("drain", done).on("close", done);
  });
}

async function applyEntry(
  state: ApplyState,
  header: LayerHeader,
  body: AsyncIterable<Uint8Array>,
): Promise<void> {
  const path = cleanLayerPath(header.name);
  if (path === "") return; // the root itself: its metadata belongs to the snapshot, not to a layer
  const name = basename(path);
  const parentPath = posix.dirname(path) === "." ? "" : posix.dirname(path);
  if (name === OPAQUE_MARKER) return hideLower(state, parentPath);
  if (name.startsWith(AUFS_META_PREFIX)) {
    state.o.onWarning?.(`skipped aufs metadata entry ${path}`);
    return;
  }
  if (name.startsWith(WHITEOUT_PREFIX))
    return whiteout(state, parentPath, name.slice(WHITEOUT_PREFIX.length));

  const hostPath = join(await ensureParentDir(state, parentPath, header.name), name);
  if (
    header.pax &&
    Object.keys(header.pax).some((k) => k.startsWith("SCHILY.xattr.")) &&
    !state.xattrWarned
  ) {
    state.xattrWarned = true;
    state.o.onWarning?.("extended attributes in the layer were not applied (Node.js cannot set xattrs)");
  }
  switch (header.type) {
    case "directory":
      if (writeDirectory(hostPath, header)) state.parents.clear();
      state.dirTimes.set(hostPath, entryTimes(header));
      break;
    case "file":
    case "contiguous-file":
      // Create first (O_EXCL); only when something is in the way, remove it and try again.
      await writeFile(hostPath, header, body).catch(async (err: unknown) => {
        if (errnoCode(err) !== "EEXIST") throw err;
        replaceExisting(state, hostPath);
        await writeFile(hostPath, header, body);
      });
      break;
    case "symlink":
      replaceExisting(state, hostPath);
      writeSymlink(hostPath, header);
      break;
    case "link": {
      const target = await hardlinkTarget(state, header);
      if (target === hostPath) break;
      replaceExisting(state, hostPath);
      writeHardlink(hostPath, target);
      break;
    }
    case "character-device":
    case "block-device":
    case "fifo": {
      replaceExisting(state, hostPath);
      const failure = await writeSpecial(hostPath, header);
      if (failure !== undefined) state.o.onWarning?.(`skipped ${header.type} ${path}: ${failure}`);
      break;
    }
    default:
      state.o.onWarning?.(`skipped ${path}: unsupported tar entry type ${String(header.type)}`);
      return;
  }
  markTouched(state, hostPath);
}

function replaceExisting(state: ApplyState, hostPath: string): void {
  if (removeExisting(hostPath)) state.parents.clear();
}

/** Resolves (chroot-style) and creates the parent directory of an entry; returns its host path. */
async function ensureParentDir(state: ApplyState, parentPath: string, entryName: string): Promise<string> {
  const cached = state.parents.get(parentPath);
  if (cached !== undefined) return cached;
  const host = await resolveInRoot(state.root, parentPath);
  try {
    await mkdir(host, { recursive: true, mode: 0o755 });
    if ((await lstat(host)).isDirectory()) {
      state.parents.set(parentPath, host);
      return host;
    }
  } catch (err) {
    if (!isMissing(err) && (err as { code?: string }).code !== "EEXIST") throw err;
  }
  throw new KilnError(
    "INVALID_ARGUMENT",
    `layer entry ${JSON.stringify(entryName)} has a parent that is not a directory`,
  );
}

/** Host path a hardlink entry points to; it must already exist in the tree and not be a directory. */
async function hardlinkTarget(state: ApplyState, header: LayerHeader): Promise<string> {
  const what = `hardlink target of ${JSON.stringify(header.name)}`;
  const targetPath = cleanLayerPath(header.linkname ?? "", what);
  if (targetPath === "") throw new KilnError("INVALID_ARGUMENT", `${what} is the root directory`);
  const parent = posix.dirname(targetPath) === "." ? "" : posix.dirname(targetPath);
  const host = join(await resolveInRoot(state.root, parent), basename(targetPath));
  const st = await lstat(host).catch((err: unknown) => {
    if (isMissing(err))
      throw new KilnError("INVALID_ARGUMENT", `${what} ${JSON.stringify(header.linkname)} does not exist`);
    throw err;
  });
  if (st.isDirectory()) throw new KilnError("INVALID_ARGUMENT", `${what} is a directory`);
  if (st.isSymbolicLink()) {
    // The link itself is duplicated (never followed), but a target that climbs out of the root is
    // refused anyway: it can only have been planted to trick a later reader.
    const linkText = await readlink(host);
    const from = posix.dirname(relative(state.root, host));
    if (!linkText.startsWith("/") && posix.normalize(posix.join(from, linkText)).startsWith("..")) {
      throw new KilnError("INVALID_ARGUMENT", `${what} is a symlink that escapes the root`);
    }
  }
  return host;
}

async function whiteout(state: ApplyState, parentPath: string, name: string): Promise<void> {
  if (name === "" || name === "." || name === "..") {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `invalid whiteout for ${JSON.stringify(name)} in ${parentPath || "/"}`,
    );
  }
  state.parents.clear();
  const hostPath = join(await resolveInRoot(state.root, parentPath), name);
  // A whiteout hides lower layers only; content of this same layer stays.
  if (state.touched.has(relative(state.root, hostPath))) return;
  await rm(hostPath, { recursive: true, force: true });
}

/** Opaque directory: everything below it that this layer did not write comes from lower layers. */
async function hideLower(state: ApplyState, parentPath: string): Promise<void> {
  state.parents.clear();
  const dir = await resolveInRoot(state.root, parentPath);
  const st = await lstat(dir).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
  if (st === undefined) return;
  if (!st.isDirectory())
    throw new KilnError("INVALID_ARGUMENT", `opaque marker in ${parentPath}, not a directory`);
  markTouched(state, dir);
  await removeUntouched(state, dir);
}

async function removeUntouched(state: ApplyState, dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const child = join(dir, name);
    if (!state.touched.has(relative(state.root, child))) await rm(child, { recursive: true, force: true });
    else if ((await lstat(child)).isDirectory()) await removeUntouched(state, child);
  }
}

function markTouched(state: ApplyState, hostPath: string): void {
  for (let rel = relative(state.root, hostPath); rel !== "" && rel !== "."; rel = dirname(rel)) {
    if (state.touched.has(rel)) break;
    state.touched.add(rel);
  }
}

async function restoreDirTimes(state: ApplyState): Promise<void> {
  const deepestFirst = [...state.dirTimes].sort((a, b) => b[0].length - a[0].length);
  for (const [hostPath, t] of deepestFirst) {
    const st = await lstat(hostPath).catch(() => undefined);
    if (st?.isDirectory()) await utimes(hostPath, t.atime, t.mtime);
  }
}
