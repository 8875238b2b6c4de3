import type { Writable } from "node:stream";
import type {
  CallOptions,
  ContentStore,
  Descriptor,
  Exporter,
  ExportRequest,
  ExportResponse,
} from "@kiln/core";
import { KilnError, MediaType } from "@kiln/core";
import {
  Annotation,
  blobsFromContentStore,
  type ImageContent,
  type ImageIndex,
  orderDescriptor,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayoutDir,
} from "@kiln/oci";
import {
  annotationAttrs,
  boolAttr,
  destAttr,
  epochAttr,
  type ImageNames,
  namesAttr,
  rfc3339,
} from "./attrs.js";
import { exportError } from "./fs-errors.js";
import { createImageWriter, type ImageWriter } from "./image-writer.js";
import { writeToDestination } from "./output.js";
import { exportStep } from "./progress.js";

export interface ImageExporterDeps {
  readonly content: ContentStore;
  /** Where `dest=-` writes (process.stdout when omitted). */
  readonly stdout?: Writable;
  /** Shared config/manifest builder; one is made from `content` when omitted. */
  readonly imageWriter?: ImageWriter;
  /** Clock for `created` times without SOURCE_DATE_EPOCH. */
  readonly now?: () => Date;
}

type Flavour = "oci" | "docker";

/** `type=oci`: an OCI image layout tar (or directory with `tar=false`). */
export function createOciExporter(deps: ImageExporterDeps): Exporter {
  return createImageArchiveExporter("oci", deps);
}

/** `type=docker`: like `oci` plus Docker's manifest.json, with Docker media types by default. */
export function createDockerExporter(deps: ImageExporterDeps): Exporter {
  return createImageArchiveExporter("docker", deps);
}

function createImageArchiveExporter(type: Flavour, deps: ImageExporterDeps): Exporter {
  const writer = deps.imageWriter ?? createImageWriter({ content: deps.content });
  const now = deps.now ?? (() => new Date());
  return {
    type,
    async export(req: ExportRequest, o?: CallOptions): Promise<ExportResponse> {
      const { attrs } = req;
      const dest = destAttr(attrs, type, type === "oci" ? "image.tar (or - for stdout)" : "image.tar");
      const names = namesAttr(req);
      const ociMediaTypes = boolAttr(attrs, "oci-mediatypes", type === "oci");
      const tar = boolAttr(attrs, "tar", true);
      const epoch = epochAttr(attrs);
      const annotations = annotationAttrs(req);
      if (Object.keys(annotations["index-descriptor"]).length > 0) {
        throw new KilnError(
          "INVALID_ARGUMENT",
          "annotation-index-descriptor.* has no target in a single-platform export",
          {
            hint: "use annotation-index.* for index.json annotations or annotation-manifest-descriptor.* for its entries",
          },
        );
      }
      const step = exportStep(
        req.progress,
        `exporting to ${type === "oci" ? "oci image format" : "docker image format"}`,
      );
      try {
        const image = await writer.commit(req, {
          ociMediaTypes,
          ...(epoch === undefined ? {} : { epoch }),
          manifestAnnotations: annotations.manifest,
          descriptorAnnotations: annotations["manifest-descriptor"],
          now,
          ...(o?.signal ? { signal: o.signal } : {}),
        });
        step.status(`exporting manifest ${image.manifestDescriptor.digest}`);
        const created = rfc3339(epoch === undefined ? now() : new Date(epoch * 1000));
        const content: ImageContent = {
          index: layoutIndex(image.manifestDescriptor, names, created, annotations.index),
          blobs: blobsFromContentStore(deps.content),
        };
        if (!tar) {
          step.status(`writing OCI layout ${dest}`);
          await writeOciLayoutDir(dest, content, o).catch((err: unknown) => {
            throw exportError(err, dest);
          });
        } else {
          step.status(dest === "-" ? "sending tarball" : `writing tarball ${dest}`);
          const write = type === "docker" ? writeDockerArchive : writeOciArchive;
          await writeToDestination(dest, deps.stdout, (out, end) =>
            write(out, content, { mtime: epoch ?? 0, end, ...(o?.signal ? { signal: o.signal } : {}) }),
          );
        }
        step.done();
        const response: ExportResponse = {
          "containerimage.digest": image.manifestDescriptor.digest,
          "containerimage.config.digest": image.configDescriptor.digest,
          "containerimage.descriptor": Buffer.from(
            JSON.stringify(orderDescriptor(image.manifestDescriptor)),
          ).toString("base64"),
        };
        if (names.given.length > 0) response["image.name"] = names.given.join(",");
        return response;
      } catch (err) {
        step.done(err);
        throw err;
      }
    },
  };
}

/**
 * index.json of the exported layout: one entry per name (`io.containerd.image.name` = full name,
 * `org.opencontainers.image.ref.name` = its tag), or one unnamed entry; each entry also carries
 * `org.opencontainers.image.created` (the epoch when given, else now).
 */
export function layoutIndex(
  manifest: Descriptor,
  names: ImageNames,
  created: string,
  indexAnnotations: Readonly<Record<string, string>> = {},
): ImageIndex {
  const entry = (extra: Record<string, string>): Descriptor => ({
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    annotations: { ...manifest.annotations, [Annotation.Created]: created, ...extra },
  });
  const manifests =
    names.parsed.length === 0
      ? [entry({})]
      : names.parsed.map((name) =>
          entry({
            [Annotation.ContainerdImageName]: name.full,
            ...(name.tag === undefined ? {} : { [Annotation.RefName]: name.tag }),
          }),
        );
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
    ...(Object.keys(indexAnnotations).length > 0 ? { annotations: indexAnnotations } : {}),
  };
}
