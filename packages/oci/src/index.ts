export {
  type ArchiveOptions,
  dockerManifestEntries,
  writeDockerArchive,
  writeOciArchive,
} from "./archive-writer.js";
export {
  type BlobProvider,
  type BlobSource,
  blobsFromContentStore,
  type ContentPlan,
  type ImageContent,
  openVerified,
  planContent,
} from "./blob-sources.js";
export { type ContentStoreOptions, createContentStore } from "./content-store.js";
export { toDockerMediaTypes } from "./docker-media-types.js";
export { DEFAULT_GZIP_LEVEL, gzipStream, type ParallelGzipOptions, parallelGzipStream } from "./gzip.js";
export {
  encodeIndex,
  encodeManifest,
  orderDescriptor,
  orderIndex,
  orderManifest,
  sortedRecord,
} from "./json.js";
export { matchEntries, nameMatchRank } from "./layout-names.js";
export {
  type OciLayout,
  openOciLayout,
  type ResolvedLayoutImage,
  type ResolveOptions,
} from "./layout-reader.js";
export { type OciLayoutRef, parseOciLayoutRef } from "./layout-ref.js";
export { type LayoutDirOptions, writeOciLayoutDir } from "./layout-writer.js";
export { compatiblePlatforms, pickPlatform, platformRank } from "./platform-match.js";
export { type ImageName, parseImageName } from "./reference.js";
export { type PackOptions, packTar, type TarEntry } from "./tar-pack.js";
export {
  Annotation,
  blobRelativePath,
  type DockerManifestEntry,
  type ImageIndex,
  type ImageManifest,
  isInternalLayerAnnotation,
  OCI_LAYOUT_VERSION,
  type OciLayoutFile,
} from "./types.js";
