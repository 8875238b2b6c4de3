export { createFileDigestMemo, type FileDigestMemo } from "./file-digest-memo.js";
export {
  type FileDigestKey,
  type FileDigestRow,
  type Metadata,
  openMetadata,
  type RefRow,
  sameFile,
} from "./metadata.js";
export { createRefManager, type RefManager, type RefManagerOptions } from "./refs.js";
export { createResultCache } from "./result-cache.js";
