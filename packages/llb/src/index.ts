export { Caps } from "./caps.js";
export {
  decodeDefinition,
  encodeDefinition,
  type LoadedDefinition,
  type LoadedOp,
  loadDefinition,
  readDefinitionFile,
  writeDefinitionFile,
} from "./definition.js";
export type {
  BindMount,
  CacheMount,
  CacheSharing,
  ContentCacheMode,
  MountSpec,
  RunOptions,
  SecretMount,
  SshMount,
  TmpfsMount,
} from "./exec-options.js";
export {
  type CopyOptions,
  type CopySource,
  copy,
  FileAction,
  type FileActionWithState,
  type MkdirOptions,
  type MkfileOptions,
  mkdir,
  mkfile,
  type Owner,
  type RmOptions,
  rm,
  type SymlinkOptions,
  symlink,
  type Timestamp,
} from "./file-action.js";
export { formatImageRef, type ImageReference, normalizeImageRef, parseImageRef } from "./image-ref.js";
export { type MarshalOptions, marshal } from "./marshal.js";
export { diff, merge } from "./merge-diff.js";
export * as pb from "./pb.js";
export { decodeOp } from "./pb-decode.js";
export { encodeOp } from "./pb-encode.js";
export { type GitOptions, git, type HttpOptions, http } from "./remote-source.js";
export { type GitRef, gitIdentifier, isHttpUrl, parseGitRef, redactUrl } from "./remote-url.js";
export { shlexSplit } from "./shlex.js";
export {
  goJsonStrings,
  type ImageOptions,
  image,
  type LocalOptions,
  local,
  type OciLayoutOptions,
  ociLayout,
  type SourceOptions,
  source,
} from "./source.js";
export {
  createState,
  type ExecState,
  type HostEntry,
  type NetworkMode,
  type SecurityMode,
  type State,
  type StateMeta,
  scratch,
  type UlimitEntry,
} from "./state.js";
export type { MarshalContext, MarshaledVertex, OpOptions, Output, Vertex } from "./vertex.js";
