export {
  type ChecksumSelector,
  type ContentHasher,
  type ContentHasherOptions,
  createContentHasher,
} from "./hasher.js";
export { tarsumHeader } from "./header.js";
export type { FileDigestKey, FileDigestMemo } from "./tree-hash.js";
