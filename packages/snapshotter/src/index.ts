export { type ApplyLayerOptions, type ApplyLayerResult, applyLayer } from "./apply.js";
export { type LayerDiffOptions, type LayerDiffResult, writeLayerDiff } from "./diff.js";
export { type MountedPath, mountedPath } from "./mounts.js";
export { createNativeSnapshotter, type NativeSnapshotterOptions } from "./native.js";
export { cleanLayerPath, resolveInRoot } from "./resolve-in-root.js";
export {
  createTarWriter,
  type TarEntry,
  type TarEntryType,
  type TarWriteResult,
  type TarWriter,
} from "./tar-writer.js";
