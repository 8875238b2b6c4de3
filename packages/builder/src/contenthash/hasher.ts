import { type CallOptions, createSlicer, type Digest, sha256, throwIfAborted } from "@kiln/core";
import { fsError } from "../fileop/fs-util.js";
import { absPath } from "../fileop/paths.js";
import type { SourceTree } from "../fileop/types.js";
import { selectionChecksum } from "./selection.js";
import { type FileDigestMemo, type HashEnv, lazyChecksum } from "./tree-hash.js";

/** What a step reads from a tree (BuildKit's contenthash ChecksumOpts plus the path). */
export interface ChecksumSelector {
  readonly path: string;
  /** Follow a symlink in the last component (and, with patterns, top-level matched symlinks). */
  readonly followLinks?: boolean;
  /** The path's components may hold `path.Match` wildcards. */
  readonly wildcard?: boolean;
  /** Docker patterns relative to the selected path. */
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  /** Prefixes that must be among the selected paths, else NOT_FOUND. */
  readonly requiredPaths?: readonly string[];
}

export interface ContentHasherOptions {
  /** Regular-file digests by (path, size, mtime/ctime, inode, mode), so unchanged files are not read. */
  readonly memo?: FileDigestMemo;
}

export interface ContentHasher {
  /**
   * BuildKit's contenthash digest of `selector` in `tree`: without wildcard or patterns, the recursive
   * digest of a directory or the digest of a single entry (NOT_FOUND when missing); otherwise the
   * digest of the selection. mtimes never count; `tree.filter` hides entries and `tree.ownership`
   * replaces uid/gid.
   */
  checksum(tree: SourceTree, selector: ChecksumSelector, o?: CallOptions): Promise<Digest>;
  /**
   * BuildKit's per-input cache digest for several selectors: each path is made absolute and clean,
   * the digests are computed concurrently and the result is sha256 of them joined with NUL. No
   * selectors means the whole tree (`/`).
   */
  multiChecksum(tree: SourceTree, selectors: readonly ChecksumSelector[], o?: CallOptions): Promise<Digest>;
}

export function createContentHasher(options: ContentHasherOptions = {}): ContentHasher {
  const checksum = async (tree: SourceTree, sel: ChecksumSelector, o: CallOptions = {}): Promise<Digest> => {
    throwIfAborted(o.signal);
    const env: HashEnv = { tree, memo: options.memo, slicer: createSlicer(o.signal) };
    try {
      if (!sel.wildcard && !sel.includePatterns?.length && !sel.excludePatterns?.length) {
        const path = absPath(sel.path);
        return await lazyChecksum(env, path === "/" ? "" : path, sel.followLinks ?? false);
      }
      return await selectionChecksum(env, sel);
    } catch (err) {
      throw fsError(err, "failed to compute cache key for", absPath(sel.path));
    }
  };
  return {
    checksum,
    async multiChecksum(tree, selectors, o = {}) {
      const list = selectors.length > 0 ? selectors : [{ path: "/" }];
      const digests = await Promise.all(list.map((s) => checksum(tree, { ...s, path: absPath(s.path) }, o)));
      return sha256(digests.join("\0"));
    },
  };
}
