import type { State } from "./state.js";

/**
 * Owner of created or copied files: `"user"`, `"user:group"` (names, numeric ids or `root`), or ids /
 * names given separately. Names are resolved against the target state's /etc/passwd and /etc/group.
 */
export type Owner = string | { readonly user?: string | number; readonly group?: string | number };

/** A fixed modification time: a Date, or Unix nanoseconds as a bigint. */
export type Timestamp = Date | bigint;

export interface MkdirOptions {
  readonly makeParents?: boolean;
  readonly owner?: Owner;
  readonly timestamp?: Timestamp;
}

export interface MkfileOptions {
  readonly owner?: Owner;
  readonly timestamp?: Timestamp;
}

export interface RmOptions {
  readonly allowNotFound?: boolean;
  readonly allowWildcard?: boolean;
}

export interface SymlinkOptions {
  readonly owner?: Owner;
  readonly timestamp?: Timestamp;
}

export interface CopyOptions {
  readonly owner?: Owner;
  /** Permission bits of copied files (default: keep the source's). */
  readonly mode?: number;
  /** Symbolic chmod such as `u=rwX,go=rX`; wins over `mode`. */
  readonly modeStr?: string;
  readonly followSymlink?: boolean;
  /** When the source is a directory, copy its contents rather than the directory itself. */
  readonly dirCopyContents?: boolean;
  /** Unpack the source when it is a (compressed) tar archive, like Docker's ADD. */
  readonly attemptUnpackDockerCompatibility?: boolean;
  readonly createDestPath?: boolean;
  readonly allowWildcard?: boolean;
  readonly allowEmptyWildcard?: boolean;
  readonly timestamp?: Timestamp;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly alwaysReplaceExistingDestPaths?: boolean;
  readonly requiredPaths?: readonly string[];
}

/** Where a copy reads from: a state, or the result of another action chain bound to a state. */
export type CopySource = State | FileActionWithState;

export interface FileActionWithState {
  readonly boundAction: FileAction;
}

export type FileActionKind =
  | { readonly kind: "mkdir"; readonly path: string; readonly mode: number; readonly opts: MkdirOptions }
  | {
      readonly kind: "mkfile";
      readonly path: string;
      readonly mode: number;
      readonly data: Uint8Array;
      readonly opts: MkfileOptions;
    }
  | { readonly kind: "rm"; readonly path: string; readonly opts: RmOptions }
  | {
      readonly kind: "symlink";
      readonly oldpath: string;
      readonly newpath: string;
      readonly opts: SymlinkOptions;
    }
  | {
      readonly kind: "copy";
      readonly source: CopySource;
      readonly src: string;
      readonly dest: string;
      readonly opts: CopyOptions;
    };

/**
 * An immutable chain of file actions; each call appends one action and returns a new chain.
 * `state.file(chain)` turns the whole chain into a single FileOp. Relative paths resolve against the
 * directory of the state the chain is applied to.
 */
export interface FileAction {
  readonly prev: FileAction | undefined;
  readonly action: FileActionKind;
  /** The state the chain is applied to (set by `state.file()` or `withState()`). */
  readonly state: State | undefined;
  mkdir(path: string, mode: number, opts?: MkdirOptions): FileAction;
  mkfile(path: string, mode: number, data: Uint8Array | string, opts?: MkfileOptions): FileAction;
  rm(path: string, opts?: RmOptions): FileAction;
  symlink(oldpath: string, newpath: string, opts?: SymlinkOptions): FileAction;
  copy(source: CopySource, src: string, dest: string, opts?: CopyOptions): FileAction;
  /** Uses this chain, applied to `state`, as the source of a copy in another chain. */
  withState(state: State): FileActionWithState;
}

function makeAction(action: FileActionKind, prev: FileAction | undefined, state?: State): FileAction {
  const fa: FileAction = {
    prev,
    action,
    state,
    mkdir: (path, mode, opts = {}) => makeAction({ kind: "mkdir", path, mode, opts }, fa),
    mkfile: (path, mode, data, opts = {}) =>
      makeAction({ kind: "mkfile", path, mode, data: toBytes(data), opts }, fa),
    rm: (path, opts = {}) => makeAction({ kind: "rm", path, opts }, fa),
    symlink: (oldpath, newpath, opts = {}) => makeAction({ kind: "symlink", oldpath, newpath, opts }, fa),
    copy: (source, src, dest, opts = {}) => makeAction({ kind: "copy", source, src, dest, opts }, fa),
    withState: (s) => ({ boundAction: bindAction(fa, s) }),
  };
  return fa;
}

const toBytes = (data: Uint8Array | string): Uint8Array =>
  typeof data === "string" ? new TextEncoder().encode(data) : data;

/** A copy of the chain whose every action applies to `state` (sources of nested copies keep theirs). */
export function bindAction(fa: FileAction, state: State): FileAction {
  return makeAction(fa.action, fa.prev && bindAction(fa.prev, state), state);
}

export function isFileActionWithState(source: CopySource): source is FileActionWithState {
  return "boundAction" in source;
}

export function mkdir(path: string, mode: number, opts: MkdirOptions = {}): FileAction {
  return makeAction({ kind: "mkdir", path, mode, opts }, undefined);
}

export function mkfile(
  path: string,
  mode: number,
  data: Uint8Array | string,
  opts: MkfileOptions = {},
): FileAction {
  return makeAction({ kind: "mkfile", path, mode, data: toBytes(data), opts }, undefined);
}

export function rm(path: string, opts: RmOptions = {}): FileAction {
  return makeAction({ kind: "rm", path, opts }, undefined);
}

/** Creates a symlink at `newpath` pointing to `oldpath`. */
export function symlink(oldpath: string, newpath: string, opts: SymlinkOptions = {}): FileAction {
  return makeAction({ kind: "symlink", oldpath, newpath, opts }, undefined);
}

export function copy(source: CopySource, src: string, dest: string, opts: CopyOptions = {}): FileAction {
  return makeAction({ kind: "copy", source, src, dest, opts }, undefined);
}

/** Starting points of action chains: `FileAction.mkdir(...).copy(...)`. */
export const FileAction = { mkdir, mkfile, rm, symlink, copy } as const;
