import { type Descriptor, MediaType, toDockerLayerMediaType } from "@kiln/core";
import type { ImageManifest } from "./types.js";

/**
 * The same image with Docker schema 2 media types: manifest and config types replaced, layer types
 * mapped (`…tar+gzip` → `…rootfs.diff.tar.gzip`), and every annotation dropped, since schema 2 has none.
 * Layer bytes are unchanged, so layer digests stay the same; the manifest digest changes.
 */
export function toDockerMediaTypes(manifest: ImageManifest): ImageManifest {
  const strip = (d: Descriptor, mediaType: string): Descriptor => {
    const out: { -readonly [K in keyof Descriptor]: Descriptor[K] } = {
      mediaType,
      digest: d.digest,
      size: d.size,
    };
    if (d.urls?.length) out.urls = d.urls;
    return out;
  };
  return {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: strip(manifest.config, MediaType.DockerConfig),
    layers: manifest.layers.map((l) =>
      strip(
        l,
        l.mediaType === MediaType.DockerForeignLayerGzip ? l.mediaType : toDockerLayerMediaType(l.mediaType),
      ),
    ),
  };
}
