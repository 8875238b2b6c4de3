import {
  chmodSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  unlinkSync,
} from "node:fs";
import { join } from "node:path";
import { createSlicer, KilnError } from "@kiln/core";
import type { ModeSet } from "./chmod.js";
import { type CopiedFile, copyFileContent } from "./copy-file.js";
import {
  devNumbers,
  displayPath,
  fsError,
  makeSpecial,
  S_IFMT,
  setMetadataSync,
  statTimes,
} from "./fs-util.js";
import type { FinalDirectory, LayerCapture } from "./layer-capture.js";
import type { Owner } from "./owner.js";
import { sortByteOrder } from "./paths.js";
import type { MatchInfo, PatternMatcher } from "./patterns.js";
import { isAbsent } from "./resolve.js";
import type { SourceTree } from "./types.js";

export interface CopierOptions {
  readonly source: SourceTree;
  /** Host root of the destination tree, for error messages. */
  readonly targetRoot: string;
  /** chown for every copied entry; otherwise the source's (or the tree's forced) ownership. */
  readonly owner?: Owner;
  /** Numeric mode (permission and special bits) for every copied entry. */
  readonly mode?: number;
  /** Symbolic mode applied to each entry's source mode; wins over `mode`. */
  readonly modeSet?: ModeSet;
  /** Unix seconds for atime and mtime of every copied entry; otherwise the source's times. */
  readonly time?: number;
  readonly include?: PatternMatcher;
  readonly exclude?: PatternMatcher;
  /** Replace an existing destination entry of another type instead of failing or merging. */
  readonly alwaysReplace?: boolean;
  /** Told about every entry created, in order, to write the layer during the copy. */
  readonly capture?: LayerCapture;
  readonly signal?: AbortSignal;
}

interface PendingDir {
  readonly src: string;
  readonly dst: string;
  copied: boolean;
}

/**
 * `cp -a`-like recursive copy with BuildKit's copier semantics: include/exclude patterns are matched
 * against paths relative to the copy source (directories that only lead to included entries are
 * created lazily), hardlinks inside the copied set stay hardlinks, symlinks are copied as links and
 * never followed, special files are recreated, and metadata (owner, mode, times) is applied per entry.
 * The destination's last component is never followed: an existing symlink there is replaced by a file
 * and refused as a directory, so nothing is written outside the destination tree.
 */
export function createCopier(o: CopierOptions) {
  const inodes = new Map<string, string>();
  const slicer = createSlicer(o.signal);
  const pending: PendingDir[] = [];
  const visible = o.source.filter;
  const show = (host: string) => displayPath(o.targetRoot, host);

  const copyFileData = (src: string, dst: string, fi: Stats): Promise<CopiedFile> =>
    copyFileContent(src, dst, fi, {
      ...metadata(fi),
      owner: ownerOf(fi),
      capturing: o.capture?.active === true,
      slicer,
    });

  async function copy(
    src: string,
    srcRel: string,
    components: string,
    dst: string,
    overwrite: boolean,
    parentInc?: MatchInfo,
    parentExc?: MatchInfo,
    inNewDirectory = false,
  ): Promise<void> {
    await slicer.pause();
    let include = true;
    let excluded = false;
    let incInfo: MatchInfo | undefined;
    let excInfo: MatchInfo | undefined;
    if (components !== "") {
      if (o.include) ({ matched: include, info: incInfo } = o.include.matches(components, parentInc));
      if (o.exclude) {
        const r = o.exclude.matches(components, parentExc);
        excInfo = r.info;
        if (r.matched) {
          include = false;
          excluded = true;
        }
      }
      if (!include && !o.include && !o.exclude?.exclusions) return;
    }
    const fi = lstatSync(src);
    if (srcRel !== "" && visible && !visible(srcRel, fi.isDirectory())) return;
    if (!include && !fi.isDirectory()) return;
    // A directory this copy just created is empty: nothing can be in the way.
    const targetFi = inNewDirectory ? undefined : lstatIfExists(dst);
    if (include) {
      if (o.alwaysReplace && targetFi && !(fi.isDirectory() && targetFi.isDirectory())) {
        rmSync(dst, { recursive: true, force: true });
      }
      createPendingDirs(overwrite);
    }
    // Nothing at `dst` before (the common case) means nothing to clear: skip a second lstat.
    if (!fi.isDirectory() && targetFi !== undefined) ensureEmptyFileTarget(dst);

    let applyInfo = include;
    let restoreTimes = false;
    let copiedFile: CopiedFile | undefined;
    let applied = false;
    const type = fi.mode & S_IFMT;
    if (fi.isDirectory()) {
      const created = await copyDirectory(
        src,
        srcRel,
        components,
        dst,
        fi,
        overwrite,
        include,
        excluded,
        incInfo,
        excInfo,
      );
      if (!overwrite) {
        applyInfo = created;
        restoreTimes = !created;
      }
    } else if (fi.isFile()) {
      const linkSource = fi.nlink > 1 ? hardlinkSource(fi, dst) : undefined;
      if (linkSource) linkSync(linkSource, dst);
      else {
        copiedFile = await copyFileData(src, dst, fi);
        applied = true;
      }
    } else if (fi.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), dst);
    } else {
      const { major, minor } = devNumbers(fi.rdev);
      await makeSpecial(dst, type, major, minor);
    }
    if (applyInfo && !applied) copyInfo(fi, dst);
    else if (restoreTimes && targetFi) {
      const t = o.time !== undefined ? { atime: o.time, mtime: o.time } : statTimes(fi);
      lutimesSync(dst, t.atime, t.mtime);
    }
    if (!fi.isDirectory()) await o.capture?.entry(dst, copiedFile?.content, copiedFile?.stat);
  }

  function hardlinkSource(fi: Stats, dst: string): string | undefined {
    const key = `${fi.dev}:${fi.ino}`;
    const first = inodes.get(key);
    if (first === undefined) inodes.set(key, dst);
    return first;
  }

  async function copyDirectory(
    src: string,
    srcRel: string,
    components: string,
    dst: string,
    fi: Stats,
    overwrite: boolean,
    include: boolean,
    excluded: boolean,
    incInfo: MatchInfo | undefined,
    excInfo: MatchInfo | undefined,
  ): Promise<boolean> {
    let created = false;
    const entry: PendingDir = { src, dst, copied: false };
    if (include) {
      created = copyDirectoryOnly(dst, fi, overwrite);
      entry.copied = true;
      if (o.capture?.active) await o.capture.directory(dst, finalDirectory(fi, dst, overwrite || created));
    }
    pending.push(entry);
    try {
      // Excluded directories are only walked when an exception (`!pattern`) may re-include children.
      if (excluded && !o.exclude?.exclusions) return false;
      for (const name of sortByteOrder(readdirSync(src))) {
        await copy(
          join(src, name),
          srcRel === "" ? name : `${srcRel}/${name}`,
          components === "" ? name : `${components}/${name}`,
          join(dst, name),
          true,
          incInfo,
          excInfo,
          created,
        );
      }
    } finally {
      pending.pop();
    }
    return created;
  }

  /** Creates `dst` as a directory (true) or checks it is one, re-applying the mode when overwriting. */
  function copyDirectoryOnly(dst: string, fi: Stats, overwrite: boolean): boolean {
    const st = lstatIfExists(dst);
    if (!st) {
      mkdirSync(dst, fi.mode & 0o777);
      return true;
    }
    if (!st.isDirectory()) {
      throw new KilnError(
        "FAILED_PRECONDITION",
        `cannot copy to non-directory: ${JSON.stringify(show(dst))}`,
        {
          hint: "the destination holds a file or symlink where the source has a directory",
        },
      );
    }
    if (overwrite) chmodSync(dst, fi.mode & 0o7777);
    return false;
  }

  /**
   * What a directory will look like once copied: the source's metadata when the copier applies it,
   * else (an existing destination) its own mode and owner with the source's times.
   */
  function finalDirectory(fi: Stats, dst: string, applied: boolean): FinalDirectory {
    const meta = metadata(fi);
    if (applied) return { mode: meta.mode, ...ownerOf(fi), mtime: meta.mtime };
    const st = lstatSync(dst);
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: meta.mtime };
  }

  /** Directories skipped by include patterns are created once something inside them is copied. */
  function createPendingDirs(overwrite: boolean): void {
    for (const dir of pending) {
      if (dir.copied) continue;
      // Created out of order and retimed by their children: a capture cannot describe them.
      o.capture?.abandon();
      const fi = statSync(dir.src);
      if (copyDirectoryOnly(dir.dst, fi, overwrite)) copyInfo(fi, dir.dst);
      dir.copied = true;
    }
  }

  function ensureEmptyFileTarget(dst: string): void {
    const st = lstatIfExists(dst);
    if (!st) return;
    if (st.isDirectory()) {
      throw new KilnError(
        "FAILED_PRECONDITION",
        `cannot replace directory ${JSON.stringify(show(dst))} with a file`,
      );
    }
    unlinkSync(dst);
  }

  function ownerOf(fi: Stats): Owner {
    return o.owner ?? o.source.ownership ?? { uid: fi.uid, gid: fi.gid };
  }

  function metadata(fi: Stats): { mode: number; atime: number; mtime: number } {
    let mode = fi.mode & 0o7777;
    if (o.modeSet) mode = o.modeSet.apply(mode, fi.isDirectory());
    else if (o.mode !== undefined) mode = o.mode & 0o7777;
    const t = o.time !== undefined ? { atime: o.time, mtime: o.time } : statTimes(fi);
    return { mode, ...t };
  }

  function copyInfo(fi: Stats, dst: string): void {
    setMetadataSync(dst, { ...metadata(fi), owner: ownerOf(fi), isSymlink: fi.isSymbolicLink() });
  }

  return {
    /** Copies the source entry at host path `src` (tree-relative `srcRel`) to the host path `dst`. */
    async copyTree(src: string, srcRel: string, dst: string): Promise<void> {
      try {
        await copy(src, srcRel, "", dst, false);
      } catch (err) {
        throw fsError(err, "failed to copy to", show(dst));
      }
    },
  };
}

function lstatIfExists(p: string): Stats | undefined {
  try {
    // Without throwIfNoEntry a missing target (every new file) costs an exception with a stack trace.
    return lstatSync(p, { throwIfNoEntry: false });
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}
