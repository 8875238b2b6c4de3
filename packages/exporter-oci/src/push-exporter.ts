import type { Readable } from "node:stream";
import type {
  CallOptions,
  ContentStore,
  Descriptor,
  Digest,
  Exporter,
  ExportRequest,
  ExportResponse,
} from "@kiln/core";
import { KilnError } from "@kiln/core";
import pLimit from "p-limit";
import { boolAttr, epochAttr, namesAttr } from "./attrs.js";
import { createImageWriter, type ImageWriter } from "./image-writer.js";
import { exportStep } from "./progress.js";

/**
 * What the image exporter needs from a registry client (`@kiln/registry`'s `RegistryClient` has it):
 * the smallest contract, so this package does not depend on the client.
 */
export interface ImagePusher {
  pushBlob(
    ref: string,
    desc: Descriptor,
    open: () => Promise<Readable>,
    o?: CallOptions & { insecure?: boolean },
  ): Promise<unknown>;
  pushManifest(
    ref: string,
    bytes: Uint8Array,
    mediaType: string,
    o?: CallOptions & { insecure?: boolean },
  ): Promise<Digest>;
}

export interface PushExporterDeps {
  readonly content: ContentStore;
  /** Undefined when no registry client is configured: `push=true` then fails with a hint. */
  readonly registry?: ImagePusher;
  readonly imageWriter?: ImageWriter;
}

const PUSH_CONCURRENCY = 4;

/**
 * `type=image` (and buildx's `type=registry` = image with push=true): writes config and manifest to
 * the content store and, with `push=true`, uploads layers, config and manifest to every name. Blobs go
 * first, manifests last, so a pushed tag never points at missing content.
 */
export function createImageExporter(
  deps: PushExporterDeps,
  options: { pushByDefault?: boolean } = {},
): Exporter {
  const writer = deps.imageWriter ?? createImageWriter({ content: deps.content });
  return {
    type: options.pushByDefault ? "registry" : "image",
    async export(req: ExportRequest, o: CallOptions = {}): Promise<ExportResponse> {
      const names = namesAttr(req);
      const push = boolAttr(req.attrs, "push", options.pushByDefault ?? false);
      const insecure = boolAttr(req.attrs, "registry.insecure", false);
      const ociMediaTypes = boolAttr(req.attrs, "oci-mediatypes", true);
      const epoch = epochAttr(req.attrs);
      if (push && names.given.length === 0) {
        throw new KilnError("INVALID_ARGUMENT", "pushing needs an image name", {
          hint: "add -t registry.example.com/app:tag (or name=… in --output)",
        });
      }
      const step = exportStep(req.progress, "exporting to image");
      try {
        const image = await writer.commit(req, {
          ociMediaTypes,
          ...(epoch === undefined ? {} : { epoch }),
          ...(o.signal ? { signal: o.signal } : {}),
        });
        const response: ExportResponse = {
          "containerimage.digest": image.manifestDescriptor.digest,
          "containerimage.config.digest": image.configDescriptor.digest,
          "containerimage.descriptor": Buffer.from(JSON.stringify(image.manifestDescriptor)).toString(
            "base64",
          ),
          ...(names.given.length ? { "image.name": names.given.join(",") } : {}),
        };
        if (!push) return response;
        const registry = deps.registry;
        if (!registry) {
          throw new KilnError("FAILED_PRECONDITION", "no registry client is configured for push");
        }
        const manifestBytes = await deps.content.readBytes(image.manifestDescriptor.digest, o);
        const blobs = [...image.layers.map((l) => l.blob), image.configDescriptor];
        for (const name of names.parsed) {
          step.status(`pushing layers to ${name.full}`);
          await allLimited(blobs, PUSH_CONCURRENCY, (desc) =>
            registry.pushBlob(name.full, desc, () => deps.content.read(desc.digest, o), { ...o, insecure }),
          );
          step.status(`pushing manifest for ${name.full}`);
          const pushed = await registry.pushManifest(
            name.full,
            manifestBytes,
            image.manifestDescriptor.mediaType,
            {
              ...o,
              insecure,
            },
          );
          if (pushed !== image.manifestDescriptor.digest) {
            throw new KilnError(
              "DATA_LOSS",
              `registry stored manifest ${pushed} for ${name.full}, expected ${image.manifestDescriptor.digest}`,
            );
          }
        }
        return response;
      } catch (err) {
        step.done(err);
        throw err;
      } finally {
        step.done();
      }
    },
  };
}

/** Runs `fn` over `items` with at most `limit` at a time. */
function allLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<unknown[]> {
  const run = pLimit(limit);
  return Promise.all(items.map((item) => run(() => fn(item))));
}
