import { lstat, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { KilnError } from "@kiln/core";
import { resolveInRoot } from "@kiln/snapshotter";
import { decompressedStream, tarArchiveCompression } from "./archive.js";
import { parseModeString } from "./chmod.js";
import { createCopier } from "./copier.js";
import { fsError, mkdirAll, retime } from "./fs-util.js";
import type { LayerCapture } from "./layer-capture.js";
import type { Owner } from "./owner.js";
import { absPath, cleanActionPath, goBase, goClean, goSplit, splitComponents } from "./paths.js";
import { createPatternMatcher } from "./patterns.js";
import { isAbsent, isVisible, resolvePath } from "./resolve.js";
import { resolveWildcards } from "./simple-actions.js";
import { type FileActionCopy, type SourceTree, timestampSeconds } from "./types.js";
import { extractTar } from "./untar.js";

export interface CopyContext {
  /** Host root of the tree being written. */
  readonly target: string;
  readonly source: SourceTree;
  readonly owner: Owner | undefined;
  /** Set when this copy is the whole op: the layer may be written while copying (layer-capture.ts). */
  readonly capture?: LayerCapture;
  readonly signal?: AbortSignal;
}

interface Prepared {
  readonly a: FileActionCopy;
  readonly destPath: string;
  readonly time: number | undefined;
  readonly mode: number | undefined;
  readonly c: CopyContext;
}

/**
 * A FileOp copy with BuildKit/Docker COPY semantics. `src` is resolved in the source tree (symlinks in
 * parents always, the last one with `followSymlink`); with `allowWildcard` its wildcard components are
 * expanded. Each source lands at `dest`, or inside it under its base name when `dest` ends in `/` or is
 * an existing directory; `dirCopyContents` copies a directory's contents instead of the directory.
 * `dest` is resolved inside the target like in a chroot, so a symlink to `/etc` in the target means
 * `<target>/etc`. With `attemptUnpackDockerCompatibility` a local tar archive is extracted instead.
 */
export async function runCopy(a: FileActionCopy, c: CopyContext): Promise<void> {
  const srcPath = cleanActionPath(a.src ?? "");
  const destPath = cleanActionPath(a.dest ?? "");
  if (!a.createDestPath) {
    const host = await resolveInRoot(c.target, absPath(a.dest ?? ""));
    await lstat(dirname(host)).catch((err) => {
      throw fsError(err, "failed to copy: destination parent of", absPath(a.dest ?? ""));
    });
  }
  const modeSet = a.modeStr ? parseModeString(a.modeStr) : undefined;
  const p: Prepared = {
    a,
    destPath,
    time: timestampSeconds(a.timestamp),
    mode: !modeSet && a.mode !== undefined && a.mode > 0 ? a.mode : undefined,
    c,
  };
  // Paths the step names literally (COPY --parents) must exist even though the copy is a pattern match.
  for (const required of a.requiredPaths ?? []) await resolveSource(c.source, required, true);
  let sources = [srcPath];
  if (a.allowWildcard) {
    sources = await resolveWildcards(c.source.root, srcPath, a.followSymlink ?? false, c.source.filter);
    if (sources.length === 0) {
      if (a.allowEmptyWildcard) return;
      throw notFound(srcPath);
    }
  }
  // Directories copied as contents merge into the destination (BuildKit: `COPY dir* /dest`); several
  // files need a directory to land in.
  const merging = (a.dirCopyContents ?? false) && (await allDirectories(c.source, sources));
  if (sources.length > 1 && !merging && !destPath.endsWith("/") && !(await isDirectory(c.target, destPath))) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `cannot copy ${sources.length} sources to ${JSON.stringify(absPath(a.dest ?? ""))}: not a directory`,
      {
        hint: "when several source files are copied, the destination must be a directory and end with a /",
      },
    );
  }
  // One source copied without a fixed timestamp (which retimes directories afterwards) is what a
  // capture can describe; anything else leaves the layer to the differ.
  if (sources.length !== 1 || p.time !== undefined) c.capture?.abandon();
  for (const src of sources) {
    if (a.attemptUnpackDockerCompatibility && (await unpackIfArchive(src, p))) {
      c.capture?.abandon();
      continue;
    }
    try {
      await copyOne(src, p, modeSet);
    } catch (err) {
      throw fsError(err, "failed to copy to", absPath(a.dest ?? ""));
    }
  }
}

async function allDirectories(tree: SourceTree, sources: readonly string[]): Promise<boolean> {
  for (const src of sources) {
    const res = await resolvePath(tree.root, absPath(src), { followTrailing: true, visible: tree.filter });
    const isDir = await stat(res.host).then(
      (st) => st.isDirectory(),
      () => false,
    );
    if (!isDir) return false;
  }
  return true;
}

async function isDirectory(root: string, path: string): Promise<boolean> {
  const host = await resolveInRoot(root, goClean(path));
  return stat(host).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

function notFound(path: string): KilnError {
  return new KilnError("NOT_FOUND", `failed to copy: ${JSON.stringify(absPath(path))}: not found`, {
    hint: "check the source path (and .dockerignore, which hides excluded files)",
  });
}

/** Resolves a source path; NOT_FOUND when it is missing or hidden by the tree's filter. */
async function resolveSource(tree: SourceTree, src: string, followTrailing: boolean) {
  const res = await resolvePath(tree.root, absPath(src), { followTrailing, visible: tree.filter });
  try {
    const st = await lstat(res.host);
    if (!isVisible(splitComponents(res.rel), st.isDirectory(), tree.filter)) throw notFound(src);
    return { ...res, st };
  } catch (err) {
    if (isAbsent(err)) throw notFound(src);
    throw err;
  }
}

async function copyOne(
  src: string,
  p: Prepared,
  modeSet: ReturnType<typeof parseModeString> | undefined,
): Promise<void> {
  const { a, c, destPath, time, mode } = p;
  const dirPerm = (mode ?? 0o755) & 0o777;
  const [dir, file] = goSplit(destPath);
  const ensure = file !== "" && file !== "." ? dir : destPath;
  const createdDest = await mkdirAll(await resolveInRoot(c.target, ensure), dirPerm, c.owner, time);
  let dst = await resolveInRoot(c.target, goClean(destPath));
  const source = await resolveSource(c.source, src, a.followSymlink ?? false);
  const srcIsDir = source.st.isDirectory();
  const destSt = await stat(dst).catch((err) => {
    if (isAbsent(err)) return undefined;
    throw err;
  });
  const contents = a.dirCopyContents ?? false;
  if ((!contents && srcIsDir && destSt) || (!srcIsDir && destSt?.isDirectory())) {
    const base = goBase(src);
    if (base !== "." && base !== "/") dst = join(dst, base);
  }
  const parent = contents && srcIsDir && !destSt ? dst : dirname(dst);
  // The capture describes one new entry: the destination must not have been there before this copy.
  const existed = createdDest.includes(dst)
    ? false
    : parent === dst
      ? destSt !== undefined
      : await lstat(dst).then(
          () => true,
          (err) => {
            if (isAbsent(err)) return false;
            throw err;
          },
        );
  if (existed) c.capture?.abandon();
  const createdParents = await mkdirAll(parent, dirPerm, c.owner, time);
  const copier = createCopier({
    source: c.source,
    targetRoot: c.target,
    owner: c.owner,
    mode,
    modeSet,
    time,
    include: a.includePatterns?.length ? createPatternMatcher(a.includePatterns) : undefined,
    exclude: a.excludePatterns?.length ? createPatternMatcher(a.excludePatterns) : undefined,
    alwaysReplace: a.alwaysReplaceExistingDestPaths ?? false,
    ...(c.capture?.active ? { capture: c.capture } : {}),
    signal: c.signal,
  });
  await copier.copyTree(source.host, source.rel, dst);
  await retime(createdParents, time);
  await retime(createdDest, time);
}

/** ADD of a local archive: extracts it into `dest` when `src` is a (compressed) tar file. */
async function unpackIfArchive(src: string, p: Prepared): Promise<boolean> {
  const { c, destPath, time } = p;
  let source: Awaited<ReturnType<typeof resolveSource>>;
  try {
    source = await resolveSource(c.source, src, true);
  } catch {
    return false;
  }
  if (!source.st.isFile()) return false;
  const compression = await tarArchiveCompression(source.host);
  if (compression === undefined) return false;
  const dest = await resolveInRoot(c.target, goClean(destPath));
  try {
    await mkdirAll(dest, 0o755, c.owner, time);
    await extractTar(decompressedStream(source.host, compression), dest, {
      owner: c.owner,
      signal: c.signal,
    });
  } catch (err) {
    throw fsError(err, "failed to unpack into", absPath(destPath));
  }
  return true;
}
