import type { CallOptions, ContentStore, Descriptor, ExportRequest, ImageConfig, Layer } from "@kiln/core";
import { isLayerMediaType, KilnError, MediaType } from "@kiln/core";
import { encodeManifest, type ImageManifest, isInternalLayerAnnotation, toDockerMediaTypes } from "@kiln/oci";
import { buildImageConfig } from "./image-config.js";

export interface ImageCommitOptions extends CallOptions {
  /** OCI media types (true) or Docker schema 2 (false). */
  readonly ociMediaTypes: boolean;
  /** SOURCE_DATE_EPOCH in seconds. */
  readonly epoch?: number;
  readonly manifestAnnotations?: Readonly<Record<string, string>>;
  /** Annotations for the manifest's descriptor (where an index points at it). */
  readonly descriptorAnnotations?: Readonly<Record<string, string>>;
  /** Clock for `created` without an epoch (tests pin it). */
  readonly now?: () => Date;
}

export interface CommittedImage {
  readonly manifest: ImageManifest;
  /** mediaType, digest, size (+ descriptor annotations): what `containerimage.descriptor` encodes. */
  readonly manifestDescriptor: Descriptor;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
  readonly layers: readonly Layer[];
}

export interface ImageWriter {
  /** Builds config and manifest for `req.ref` and stores both; the layer blobs must already be stored. */
  commit(req: ExportRequest, options: ImageCommitOptions): Promise<CommittedImage>;
}

/** The config + manifest builder shared by every image exporter. */
export function createImageWriter(deps: { readonly content: ContentStore }): ImageWriter {
  const { content } = deps;
  return {
    async commit(req, options) {
      const o = { signal: options.signal };
      const layers = await req.ref.layers(o);
      for (const layer of layers) await checkLayer(content, layer, o);

      const configJson = buildImageConfig({
        config: req.config,
        layers,
        platform: req.platform,
        ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
        now: options.now?.() ?? new Date(),
      });
      const configBytes = Buffer.from(JSON.stringify(configJson));
      const configInfo = await content.write(configBytes, undefined, o);
      const configDescriptor: Descriptor = {
        mediaType: MediaType.OciConfig,
        digest: configInfo.digest,
        size: configInfo.size,
      };

      const manifestAnnotations = options.manifestAnnotations ?? {};
      let manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDescriptor,
        layers: layers.map((l) => exportedLayer(l.blob)),
        ...(Object.keys(manifestAnnotations).length > 0 ? { annotations: manifestAnnotations } : {}),
      };
      if (!options.ociMediaTypes) {
        if (Object.keys(manifestAnnotations).length > 0) {
          throw new KilnError("INVALID_ARGUMENT", "manifest annotations need OCI media types", {
            hint: "set oci-mediatypes=true, or drop the annotation.* attributes",
          });
        }
        manifest = toDockerMediaTypes(manifest);
      }
      const manifestInfo = await content.write(encodeManifest(manifest), undefined, o);
      const descriptorAnnotations = options.descriptorAnnotations ?? {};
      const manifestDescriptor: Descriptor = {
        mediaType: manifest.mediaType ?? MediaType.OciManifest,
        digest: manifestInfo.digest,
        size: manifestInfo.size,
        ...(Object.keys(descriptorAnnotations).length > 0 ? { annotations: descriptorAnnotations } : {}),
      };
      return {
        manifest,
        manifestDescriptor,
        config: configJson as ImageConfig,
        configDescriptor: manifest.config,
        layers,
      };
    },
  };
}

async function checkLayer(content: ContentStore, layer: Layer, o: CallOptions): Promise<void> {
  const { blob } = layer;
  if (!isLayerMediaType(blob.mediaType)) {
    throw new KilnError(
      "FAILED_PRECONDITION",
      `layer ${blob.digest} has media type ${blob.mediaType}, not a layer type`,
    );
  }
  const info = await content.info(blob.digest, o);
  if (!info) {
    throw new KilnError("FAILED_PRECONDITION", `layer blob ${blob.digest} is not in the content store`, {
      hint: "the ref's layers() must store its blobs before returning them; this is a bug in the ref implementation",
    });
  }
  if (info.size !== blob.size) {
    throw new KilnError(
      "DATA_LOSS",
      `layer blob ${blob.digest} is ${info.size} bytes, its descriptor says ${blob.size}`,
    );
  }
}

/** A layer descriptor as it leaves the builder: no builder-internal annotations, no platform. */
function exportedLayer(blob: Descriptor): Descriptor {
  const annotations = Object.fromEntries(
    Object.entries(blob.annotations ?? {}).filter(([key]) => !isInternalLayerAnnotation(key)),
  );
  return {
    mediaType: blob.mediaType,
    digest: blob.digest,
    size: blob.size,
    ...(blob.urls?.length ? { urls: blob.urls } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}
