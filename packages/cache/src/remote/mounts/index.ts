export {
  type CacheMountOptions,
  DEFAULT_CACHE_MOUNTS_MAX_SIZE,
  parseCacheMountAttrs,
  parseSize,
  withoutCacheMountAttrs,
} from "./attrs.js";
export {
  type CacheMountSource,
  type ExportCacheMountsOptions,
  type ExportCacheMountsResult,
  exportCacheMounts,
  mountsPointerName,
  readMountsPointer,
} from "./export.js";
export {
  cacheMountKey,
  MOUNT_FILE_MEDIA_TYPE,
  MOUNT_PACK_MEDIA_TYPE,
  MOUNT_TREE_MEDIA_TYPE,
  MOUNTS_INDEX_MEDIA_TYPE,
  type MountIndexEntry,
  type MountsIndex,
  type MountTree,
  type MountTreeEntry,
  parseMountTree,
  planPacks,
} from "./format.js";
export {
  type CacheMountImporter,
  type CacheMountImportSource,
  createCacheMountImporter,
} from "./importer.js";
export { type RestoreResult, restoreMount, restoreMountTree } from "./restore.js";
export { type MountSnapshot, type SnapshotBlob, snapshotMountDir } from "./snapshot.js";
