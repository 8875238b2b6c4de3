/**
 * Input shapes of a FileOp, structurally compatible with `@kiln/llb`'s decoded `pb.FileAction` (BuildKit's
 * ops.proto with camelCase fields). Absent fields mean the proto3 zero value. Both oneof spellings are
 * accepted: plain fields (`copy`, `mkdir`, …, `byName`/`byId`) and protobuf-es wrappers
 * (`action: { case, value }`, `user: { case, value }`). int64 fields may be `number` or `bigint`.
 */

/** An int64 proto field as decoders hand it out. */
export type Int64 = number | bigint;

/**
 * A read-only tree on the host that a step reads from.
 * `filter` hides paths (the build context's `.dockerignore`): an excluded path is invisible, and so is
 * everything below an excluded directory. `rel` is relative to `root`, `a/b` form, never the root itself.
 * `ownership` reports every entry as owned by these ids (the build context is always `0:0`).
 */
export interface SourceTree {
  readonly root: string;
  readonly filter?: (rel: string, isDir: boolean) => boolean;
  readonly ownership?: { readonly uid: number; readonly gid: number };
}

export interface NamedUserOpt {
  readonly name?: string;
  /** Which tree's `/etc/passwd` / `/etc/group` resolves the name (op input index or numInputs + action). */
  readonly input?: Int64;
}

export interface UserOpt {
  readonly byName?: NamedUserOpt;
  readonly byId?: number;
  readonly user?:
    | { readonly case: "byName"; readonly value: NamedUserOpt }
    | { readonly case: "byId"; readonly value: number }
    | { readonly case: undefined; readonly value?: undefined };
}

export interface ChownOpt {
  readonly user?: UserOpt;
  readonly group?: UserOpt;
}

export interface FileActionCopy {
  readonly src?: string;
  readonly dest?: string;
  readonly owner?: ChownOpt;
  /** Numeric mode for copied entries; applied when > 0 (-1 and 0 keep the source's mode). */
  readonly mode?: number;
  readonly followSymlink?: boolean;
  readonly dirCopyContents?: boolean;
  readonly attemptUnpackDockerCompatibility?: boolean;
  readonly createDestPath?: boolean;
  readonly allowWildcard?: boolean;
  readonly allowEmptyWildcard?: boolean;
  /** See {@link timestampSeconds}. */
  readonly timestamp?: Int64;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly alwaysReplaceExistingDestPaths?: boolean;
  /** Symbolic (`u=rwX,go=rX`, `+x`) or octal chmod; wins over `mode`. */
  readonly modeStr?: string;
  readonly requiredPaths?: readonly string[];
}

export interface FileActionMkFile {
  readonly path?: string;
  /** Permission bits of a new file (`& 0o777`, no umask). An existing file keeps its mode. */
  readonly mode?: number;
  readonly data?: Uint8Array | string;
  readonly owner?: ChownOpt;
  readonly timestamp?: Int64;
}

export interface FileActionMkDir {
  readonly path?: string;
  /** Permission bits (`& 0o777`, no umask). */
  readonly mode?: number;
  readonly makeParents?: boolean;
  readonly owner?: ChownOpt;
  readonly timestamp?: Int64;
}

export interface FileActionRm {
  readonly path?: string;
  readonly allowNotFound?: boolean;
  readonly allowWildcard?: boolean;
}

export interface FileActionSymlink {
  /** Stored verbatim as the link target. */
  readonly oldpath?: string;
  readonly newpath?: string;
  readonly owner?: ChownOpt;
  readonly timestamp?: Int64;
}

export type FileActionKind =
  | { readonly case: "copy"; readonly value: FileActionCopy }
  | { readonly case: "mkfile"; readonly value: FileActionMkFile }
  | { readonly case: "mkdir"; readonly value: FileActionMkDir }
  | { readonly case: "rm"; readonly value: FileActionRm }
  | { readonly case: "symlink"; readonly value: FileActionSymlink };

export interface FileAction {
  /** Tree the action modifies: op input index, numInputs + earlier action index, or -1 (empty). */
  readonly input?: Int64;
  /** Tree a copy reads from, same numbering. */
  readonly secondaryInput?: Int64;
  /** -1 for intermediate actions, 0 for the action whose tree is the op's result. */
  readonly output?: Int64;
  readonly copy?: FileActionCopy;
  readonly mkfile?: FileActionMkFile;
  readonly mkdir?: FileActionMkDir;
  readonly rm?: FileActionRm;
  readonly symlink?: FileActionSymlink;
  readonly action?: FileActionKind | { readonly case: undefined; readonly value?: undefined };
}

/** The action's kind and body whichever oneof spelling was used; INVALID_ARGUMENT is the caller's job. */
export function actionKind(a: FileAction): FileActionKind | undefined {
  if (a.action?.case !== undefined) return a.action as FileActionKind;
  if (a.copy) return { case: "copy", value: a.copy };
  if (a.mkfile) return { case: "mkfile", value: a.mkfile };
  if (a.mkdir) return { case: "mkdir", value: a.mkdir };
  if (a.rm) return { case: "rm", value: a.rm };
  if (a.symlink) return { case: "symlink", value: a.symlink };
  return undefined;
}

/** `{ byName }` / `{ byId }` of a UserOpt whichever spelling was used. */
export function userChoice(u: UserOpt | undefined): { byName?: NamedUserOpt; byId?: number } | undefined {
  if (!u) return undefined;
  if (u.user?.case === "byName") return { byName: u.user.value };
  if (u.user?.case === "byId") return { byId: u.user.value };
  if (u.byName) return { byName: u.byName };
  if (u.byId !== undefined) return { byId: u.byId };
  return undefined;
}

/** An int64 field as a JS number (proto3 zero when absent). */
export function int64(v: Int64 | undefined, zero = 0): number {
  if (v === undefined) return zero;
  return typeof v === "bigint" ? Number(v) : v;
}

/**
 * A timestamp field as Unix seconds (fractional), or undefined for "keep the source's times".
 * BuildKit sends nanoseconds with -1 for unset; kiln's brief speaks of seconds with 0 for unset. Both
 * are accepted: values ≤ 0 are unset, magnitudes ≥ 1e12 are nanoseconds (any date after 1970-01-01
 * 00:16:40), smaller ones are seconds (any date before the year 33658).
 */
export function timestampSeconds(v: Int64 | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "bigint") {
    if (v <= 0n) return undefined;
    return v >= 1_000_000_000_000n ? Number(v / 1000n) / 1e6 : Number(v);
  }
  if (!(v > 0)) return undefined;
  return v >= 1e12 ? v / 1e9 : v;
}
