export { createFileDigestMemo, type FileDigestMemo } from "./file-digest-memo.js";
export { type GzipLayerWrite, writeGzipLayer } from "./layer-blob.js";
export {
  createLazyRefFactory,
  isLazyRef,
  type LazyRef,
  type LazyRefFactory,
  materializeRef,
} from "./lazy-ref.js";
export {
  type FileDigestKey,
  type FileDigestRow,
  type Metadata,
  openMetadata,
  type RefRow,
  sameFile,
} from "./metadata.js";
export { createRefManager, type RefManager, type RefManagerOptions } from "./refs.js";
export * from "./remote/index.js";
export { createResultCache } from "./result-cache.js";
