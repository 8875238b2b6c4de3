/** Media types kiln reads and writes (OCI image-spec, Docker distribution, BuildKit). */
export const MediaType = {
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  BuildkitCacheConfig: "application/vnd.buildkit.cacheconfig.v0",
  InToto: "application/vnd.in-toto+json",
  DockerAttestationManifest: "application/vnd.docker.attestation.manifest.v1+json",
} as const;

export type LayerCompression = "gzip" | "zstd" | "uncompressed";

/** How a layer blob is compressed, judged from its media type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) return "zstd";
  if (mediaType.endsWith(".tar") || mediaType.endsWith("diff.tar")) return "uncompressed";
  return undefined;
}

export function isLayerMediaType(mediaType: string): boolean {
  return layerCompression(mediaType) !== undefined && !mediaType.includes("in-toto");
}

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** The Docker (schema2) media type for an OCI layer media type, used by `type=docker` outputs. */
export function toDockerLayerMediaType(mediaType: string): string {
  switch (layerCompression(mediaType)) {
    case "gzip":
      return MediaType.DockerLayerGzip;
    case "zstd":
      return MediaType.DockerLayerZstd;
    default:
      return MediaType.DockerLayer;
  }
}
