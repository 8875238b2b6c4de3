import type { Descriptor, Digest } from "@kiln/core";

/** OCI image manifest (image-spec manifest.md); Docker schema 2 manifests share the shape. */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** OCI image index (image-spec image-index.md); Docker manifest lists share the shape. */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The `oci-layout` file at the root of an OCI image layout. */
export interface OciLayoutFile {
  readonly imageLayoutVersion: string;
}

/** One entry of a `docker save` style `manifest.json` (paths are relative to the archive root). */
export interface DockerManifestEntry {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

export const OCI_LAYOUT_VERSION = "1.0.0";

/** Annotation keys kiln reads and writes on index entries. */
export const Annotation = {
  RefName: "org.opencontainers.image.ref.name",
  Created: "org.opencontainers.image.created",
  ContainerdImageName: "io.containerd.image.name",
} as const;

/** Layer annotations that only mean something inside a builder; they never leave it. */
export function isInternalLayerAnnotation(key: string): boolean {
  return (
    key === "containerd.io/uncompressed" ||
    key === "buildkit/createdat" ||
    key === "buildkit/description" ||
    key.startsWith("containerd.io/distribution.source.")
  );
}

/** Where a blob lives inside a layout or archive. */
export function blobRelativePath(digest: Digest): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}
