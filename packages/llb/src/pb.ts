/**
 * TypeScript shapes of BuildKit's `solver/pb/ops.proto` messages (field numbers in comments).
 *
 * proto3 semantics: an absent field means the zero value (0, "", false, empty list/map). Message-typed
 * fields are present when set, even if empty, and that presence is kept on the wire. int64 fields are
 * `number` (values stay within 2^53), except timestamps in nanoseconds, which are `bigint`.
 * Oneofs are `{ case, value }` unions.
 */

export interface Op {
  inputs?: Input[]; // 1
  op?: OpKind; // 2..8
  platform?: Platform; // 10
  constraints?: WorkerConstraints; // 11
}

export type OpKind =
  | { case: "exec"; value: ExecOp } // 2
  | { case: "source"; value: SourceOp } // 3
  | { case: "file"; value: FileOp } // 4
  | { case: "build"; value: BuildOp } // 5
  | { case: "merge"; value: MergeOp } // 6
  | { case: "diff"; value: DiffOp } // 7
  | { case: "passthrough"; value: PassthroughOp }; // 8

export interface Input {
  digest?: string; // 1
  index?: number; // 2
}

export interface Platform {
  architecture?: string; // 1
  os?: string; // 2
  variant?: string; // 3
  osVersion?: string; // 4
  osFeatures?: string[]; // 5
}

export interface WorkerConstraints {
  filter?: string[]; // 1
}

// --- ExecOp ---------------------------------------------------------------------------------------

export const NetMode = { UNSET: 0, HOST: 1, NONE: 2 } as const;
export const SecurityMode = { SANDBOX: 0, INSECURE: 1 } as const;
export const MountType = { BIND: 0, SECRET: 1, SSH: 2, CACHE: 3, TMPFS: 4 } as const;
export const MountContentCache = { DEFAULT: 0, ON: 1, OFF: 2 } as const;
export const CacheSharingOpt = { SHARED: 0, PRIVATE: 1, LOCKED: 2 } as const;

/** Special indexes (BuildKit `solver/pb/const.go`). */
export const ROOT_MOUNT = "/";
/** A mount that produces no output. */
export const SKIP_OUTPUT = -1;
/** An input with no content (scratch, secrets, ssh sockets, tmpfs). */
export const EMPTY_INPUT = -1;

export interface ExecOp {
  meta?: Meta; // 1
  mounts?: Mount[]; // 2
  network?: number; // 3 NetMode
  security?: number; // 4 SecurityMode
  secretenv?: SecretEnv[]; // 5
  cdiDevices?: CDIDevice[]; // 6
}

export interface Meta {
  args?: string[]; // 1
  env?: string[]; // 2
  cwd?: string; // 3
  user?: string; // 4
  proxyEnv?: ProxyEnv; // 5
  extraHosts?: HostIP[]; // 6
  hostname?: string; // 7
  ulimit?: Ulimit[]; // 9
  cgroupParent?: string; // 10
  removeMountStubsRecursive?: boolean; // 11
  validExitCodes?: number[]; // 12 (int32, packed)
}

export interface ProxyEnv {
  httpProxy?: string; // 1
  httpsProxy?: string; // 2
  ftpProxy?: string; // 3
  noProxy?: string; // 4
  allProxy?: string; // 5
}

export interface HostIP {
  host?: string; // 1
  ip?: string; // 2
}

export interface Ulimit {
  name?: string; // 1
  soft?: number; // 2
  hard?: number; // 3
}

export interface SecretEnv {
  id?: string; // 1
  name?: string; // 2
  optional?: boolean; // 3
}

export interface CDIDevice {
  name?: string; // 1
  optional?: boolean; // 2
}

export interface Mount {
  input?: number; // 1
  selector?: string; // 2
  dest?: string; // 3
  output?: number; // 4
  readonly?: boolean; // 5
  mountType?: number; // 6 MountType
  tmpfsOpt?: TmpfsOpt; // 19
  cacheOpt?: CacheOpt; // 20
  secretOpt?: SecretOpt; // 21
  sshOpt?: SSHOpt; // 22
  resultId?: string; // 23
  contentCache?: number; // 24 MountContentCache
}

export interface TmpfsOpt {
  size?: number; // 1
}

export interface CacheOpt {
  id?: string; // 1
  sharing?: number; // 2 CacheSharingOpt
}

export interface SecretOpt {
  id?: string; // 1
  uid?: number; // 2
  gid?: number; // 3
  mode?: number; // 4
  optional?: boolean; // 5
}

export type SSHOpt = SecretOpt;

// --- SourceOp, BuildOp, MergeOp, DiffOp, PassthroughOp -----------------------------------------------

export interface SourceOp {
  identifier?: string; // 1
  attrs?: Record<string, string>; // 2
}

/** Experimental in BuildKit; kept minimal (the nested definition is not decoded). */
export interface BuildOp {
  builder?: number; // 1
  inputs?: Record<string, BuildInput>; // 2
  attrs?: Record<string, string>; // 4
}

export interface BuildInput {
  input?: number; // 1
}

export interface MergeOp {
  inputs?: MergeInput[]; // 1
}

export interface MergeInput {
  input?: number; // 1
}

export interface DiffOp {
  lower?: { input?: number }; // 1 LowerDiffInput
  upper?: { input?: number }; // 2 UpperDiffInput
}

export interface PassthroughOp {
  id?: string; // 1
  outputs?: number[]; // 2 (int64, packed)
}

// --- FileOp ---------------------------------------------------------------------------------------

export interface FileOp {
  actions?: FileAction[]; // 2
}

export interface FileAction {
  /** Op input index, or (number of op inputs + index of an earlier action); -1 for none. */
  input?: number; // 1
  secondaryInput?: number; // 2
  /** -1 for every action but the last, which has output 0. */
  output?: number; // 3
  action?: FileActionKind; // 4..8
}

export type FileActionKind =
  | { case: "copy"; value: FileActionCopy } // 4
  | { case: "mkfile"; value: FileActionMkFile } // 5
  | { case: "mkdir"; value: FileActionMkDir } // 6
  | { case: "rm"; value: FileActionRm } // 7
  | { case: "symlink"; value: FileActionSymlink }; // 8

export interface FileActionCopy {
  src?: string; // 1
  dest?: string; // 2
  owner?: ChownOpt; // 3
  /** Permission bits, or -1 to keep the source's. */
  mode?: number; // 4 (int32)
  followSymlink?: boolean; // 5
  dirCopyContents?: boolean; // 6
  attemptUnpackDockerCompatibility?: boolean; // 7
  createDestPath?: boolean; // 8
  allowWildcard?: boolean; // 9
  allowEmptyWildcard?: boolean; // 10
  /** Unix nanoseconds, or -1 to keep the source's. */
  timestamp?: bigint; // 11
  includePatterns?: string[]; // 12
  excludePatterns?: string[]; // 13
  alwaysReplaceExistingDestPaths?: boolean; // 14
  modeStr?: string; // 15
  requiredPaths?: string[]; // 16
}

export interface FileActionMkFile {
  path?: string; // 1
  mode?: number; // 2
  data?: Uint8Array; // 3
  owner?: ChownOpt; // 4
  timestamp?: bigint; // 5
}

export interface FileActionMkDir {
  path?: string; // 1
  mode?: number; // 2
  makeParents?: boolean; // 3
  owner?: ChownOpt; // 4
  timestamp?: bigint; // 5
}

export interface FileActionRm {
  path?: string; // 1
  allowNotFound?: boolean; // 2
  allowWildcard?: boolean; // 3
}

export interface FileActionSymlink {
  oldpath?: string; // 1
  newpath?: string; // 2
  owner?: ChownOpt; // 3
  timestamp?: bigint; // 4
}

export interface ChownOpt {
  user?: UserOpt; // 1
  group?: UserOpt; // 2
}

export interface UserOpt {
  user?: { case: "byName"; value: NamedUserOpt } | { case: "byId"; value: number }; // 1, 2 (uint32)
}

export interface NamedUserOpt {
  name?: string; // 1
  /** Input whose /etc/passwd and /etc/group resolve the name. */
  input?: number; // 2
}
