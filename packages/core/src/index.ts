export type {
  BlobInfo,
  BlobReader,
  BlobStore,
  BlobWriter,
  CacheBackend,
  CacheBackendContext,
  CacheBackendModule,
  PointerValue,
  WritePointerOptions,
} from "./blob-store.js";
export {
  checkTypeAttr,
  invalidAttr,
  parseBoolAttr,
  parseDurationAttr,
  parseIntAttr,
  rejectUnknownAttrs,
  SHARED_CACHE_ATTRS,
} from "./cache-attrs.js";
export {
  CACHE_KEY_SCHEME,
  type CacheGraph,
  type CacheGraphEdge,
  type CacheKeyDescription,
  type CacheKeyInfo,
  type CacheKeyLink,
  cacheKeyOf,
  cacheRecordDigest,
  contentCacheKey,
} from "./cache-keys.js";
export type { CallOptions } from "./call-options.js";
export type { ContentInfo, ContentStore } from "./content.js";
export type {
  Definition,
  OpMetadata,
  SourceInfo,
  SourceLocations,
  SourcePosition,
  SourceRange,
} from "./definition.js";
export type { Descriptor } from "./descriptor.js";
export { type Digest, digestHex, isDigest, parseDigest, sha256 } from "./digest.js";
export { digestVerifier, pipeChecked, sourceFailure } from "./digest-verifier.js";
export {
  formatSourceSnippet,
  isAlreadyExists,
  isCanceled,
  isKilnError,
  isNotFound,
  KilnError,
  type KilnErrorCode,
  type KilnErrorOptions,
  redactCredentials,
  type SourceLocation,
  throwIfAborted,
} from "./errors.js";
export type { ExecMount, ExecRequest, Executor, NetworkMode, ProcessSpec, SecurityMode } from "./executor.js";
export type { Exporter, ExportRequest, ExportResponse } from "./exporter.js";
export type { Frontend, FrontendBridge, FrontendRequest, FrontendResult, ResolvedImage } from "./frontend.js";
export {
  type ContainerConfig,
  DEFAULT_PATH_ENV,
  type HealthConfig,
  type HistoryEntry,
  type ImageConfig,
} from "./image.js";
export {
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  type LayerCompression,
  layerCompression,
  MediaType,
  toDockerLayerMediaType,
} from "./media-types.js";
export type {
  CacheMap,
  CacheMapDep,
  Op,
  OpExecOptions,
  OpResolver,
  ResultCache,
  ResultLoadOptions,
  SolverEdge,
  SolverVertex,
} from "./op.js";
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformsEqual,
} from "./platform.js";
export { noopProgress, type ProgressEvent, type ProgressWriter } from "./progress.js";
export type { DirectoryRef, ImmutableRef, Layer, MountedTree, Ref } from "./ref.js";
export { createSlicer, type Slicer } from "./slicer.js";
export type {
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  SnapshotUsage,
} from "./snapshotter.js";
