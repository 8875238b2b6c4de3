export {
  type Annotations,
  type AnnotationTarget,
  annotationAttrs,
  boolAttr,
  epochAttr,
  type ImageNames,
  namesAttr,
} from "./attrs.js";
export { type TreeEntry, type TreeEntryKind, walkTree } from "./fs-tree.js";
export { buildImageConfig, type ConfigInputs, normalizeHistory, orderConfig } from "./image-config.js";
export {
  createDockerExporter,
  createOciExporter,
  type ImageExporterDeps,
  layoutIndex,
} from "./image-exporter.js";
export {
  type CommittedImage,
  createImageWriter,
  type ImageCommitOptions,
  type ImageWriter,
} from "./image-writer.js";
export { type CopyOptions, copyTree, createLocalExporter } from "./local-exporter.js";
export { createImageExporter, type ImagePusher, type PushExporterDeps } from "./push-exporter.js";
export { EXPORTER_TYPES, type ExporterDeps, exporterFor } from "./registry.js";
export { createTarExporter, type TarExporterDeps, tarEntries } from "./tar-exporter.js";
