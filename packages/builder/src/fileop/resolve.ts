import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "@kiln/core";
import { splitComponents } from "./paths.js";

/** BuildKit's budget of symlinks in one lookup. */
const MAX_SYMLINKS = 255;

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true). */
  readonly followTrailing?: boolean;
  /** Entries for which this is false are treated as absent (a `.dockerignore`d path). */
  readonly visible?: (rel: string, isDir: boolean) => boolean;
  /**
   * Throw INVALID_ARGUMENT when a relative symlink climbs above the root (an archive's escape attempt)
   * instead of clamping at the root. Absolute targets are always re-rooted, like in a chroot.
   */
  readonly refuseEscape?: boolean;
}

export interface ResolvedPath {
  /** Host path, `root` or below it. */
  readonly host: string;
  /** Root-relative path in `a/b` form, `""` for the root itself. */
  readonly rel: string;
}

/**
 * Resolves `path` inside `root` as a process chrooted to `root` would: symlinks in every component are
 * followed (the last one only with `followTrailing`), absolute targets restart at `root`, `..` never
 * climbs above it. Missing components are kept lexically, so the result may not exist yet.
 * This is the filter-aware, optionally non-trailing sibling of `@kiln/snapshotter`'s `resolveInRoot`.
 */
export async function resolvePath(root: string, path: string, o: ResolveOptions = {}): Promise<ResolvedPath> {
  const followTrailing = o.followTrailing ?? true;
  const current: string[] = [];
  let pending = splitComponents(path);
  let links = 0;
  let rerooted = false;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      if (current.length === 0 && o.refuseEscape && !rerooted) throw escapeError(path);
      current.pop();
      continue;
    }
    current.push(part);
    const link = await symlinkTarget(root, current, o.visible);
    if (link === undefined) continue;
    if (!followTrailing && pending.length === 0) break;
    if (++links > MAX_SYMLINKS) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `too many levels of symbolic links resolving ${JSON.stringify(path)}`,
      );
    }
    current.pop();
    if (link.startsWith("/")) {
      current.length = 0;
      rerooted = true;
    }
    pending = [...splitComponents(link), ...pending];
  }
  const rel = current.join("/");
  return { host: rel === "" ? root : join(root, rel), rel };
}

/** The link text when `root/components` is a visible symlink, else undefined. */
async function symlinkTarget(
  root: string,
  components: readonly string[],
  visible: ResolveOptions["visible"],
): Promise<string | undefined> {
  const host = join(root, ...components);
  try {
    const st = await lstat(host);
    if (!st.isSymbolicLink()) return undefined;
    if (visible && !isVisible(components, false, visible)) return undefined;
    return await readlink(host);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}

/** True when every ancestor directory and the entry itself pass the filter. */
export function isVisible(
  components: readonly string[],
  isDir: boolean,
  visible: ((rel: string, isDir: boolean) => boolean) | undefined,
): boolean {
  if (!visible) return true;
  for (let i = 1; i < components.length; i++) {
    if (!visible(components.slice(0, i).join("/"), true)) return false;
  }
  return components.length === 0 || visible(components.join("/"), isDir);
}

/** ENOENT or ENOTDIR: the path does not exist as such. */
export function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function escapeError(path: string): KilnError {
  return new KilnError(
    "INVALID_ARGUMENT",
    `path ${JSON.stringify(path)} escapes its root through a symlink`,
    {
      hint: "the archive or tree is malformed or hostile; nothing was written outside the destination",
    },
  );
}
