export { type ApplyLayerOptions, type ApplyLayerResult, applyLayer } from "./apply.js";
export { type LayerDiffOptions, type LayerDiffResult, writeLayerDiff } from "./diff.js";
export {
  MAX_MOUNT_DATA,
  type MountedPath,
  mountedPath,
  type OverlayLayers,
  overlayMountData,
  parseOverlayOptions,
} from "./mounts.js";
export { createNativeSnapshotter, type NativeSnapshotterOptions } from "./native.js";
export { createOverlaySnapshotter, type OverlaySnapshotterOptions } from "./overlay.js";
export { snapshotterDiff, writeOverlayDiff } from "./overlay-diff.js";
export {
  createDefaultSnapshotter,
  type DefaultSnapshotterOptions,
  isOverlaySupported,
} from "./overlay-probe.js";
export { cleanLayerPath, resolveInRoot } from "./resolve-in-root.js";
export {
  createTarWriter,
  type TarEntry,
  type TarEntryType,
  type TarWriteResult,
  type TarWriter,
} from "./tar-writer.js";
export { fileBody, type TreeEntry, tarEntryFor, tarType } from "./tree-entry.js";
