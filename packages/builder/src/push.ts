import type { Readable } from "node:stream";
import { isLazyRef } from "@kiln/cache";
import type { CallOptions, ContentStore, ImmutableRef, Layer, Ref } from "@kiln/core";
import type { ImagePusher } from "@kiln/exporter-oci";
import { parseRegistryRef, type RegistryClient } from "@kiln/registry";
import type { ImageResolver } from "./image-resolver.js";

/** Output types that only push: their layers go from wherever they are straight to a registry. */
export function isPushOnly(output: { type: string; attrs: Readonly<Record<string, string>> }): boolean {
  if (output.type === "registry")
    return output.attrs.push === undefined || /^(1|true)$/i.test(output.attrs.push);
  return output.type === "image" && /^(1|true)$/i.test(output.attrs.push ?? "");
}

/**
 * What a push exporter sees of a result that came lazily from an imported cache: the layer
 * descriptors without downloading them, and a content store that finds those blobs remotely. The
 * pusher links (mounts) them from the cache repository when it can, so `openRemote` runs only for a
 * blob the target registry cannot get otherwise, and then streams it through without keeping it.
 */
export function pushView(
  result: Ref,
  content: ContentStore,
  openRemote: (layer: Layer, o?: CallOptions) => Promise<Readable | undefined>,
): { ref: Ref; content: ContentStore } {
  if (!isLazyRef(result)) return { ref: result, content };
  const remote = new Map(result.descriptors.map((l) => [l.blob.digest, l] as const));
  const ref: ImmutableRef = {
    id: result.id,
    get snapshot() {
      return result.snapshot;
    },
    mount: (o) => result.mount(o),
    layers: async () => [...result.descriptors],
  };
  const view: ContentStore = {
    ...content,
    async info(digest, o) {
      const local = await content.info(digest, o);
      const layer = remote.get(digest);
      return local ?? (layer ? { digest, size: layer.blob.size } : undefined);
    },
    async read(digest, o) {
      const layer = remote.get(digest);
      if (!layer || (await content.info(digest, o))) return content.read(digest, o);
      return (await openRemote(layer, o)) ?? content.read(digest, o);
    },
  };
  return { ref, content: view };
}

/**
 * Pushes through `client`, asking the registry to mount blobs that a base image has in another
 * repository, or else that a `--cache-from` registry cache on the same host may have: a layer that
 * came lazily from that cache is then linked, never downloaded. A mount the registry cannot do
 * answers with an ordinary upload session, so a wrong guess costs nothing.
 */
export function mountingPusher(
  client: RegistryClient,
  images: ImageResolver,
  cacheSources: readonly { readonly host: string; readonly repository: string }[],
): ImagePusher {
  return {
    pushBlob(ref, desc, open, o) {
      const target = parseRegistryRef(ref);
      const candidates = [images.sourceOf(desc.digest), ...cacheSources];
      const mountFrom = candidates.find(
        (source) => source && source.host === target.host && source.repository !== target.repository,
      )?.repository;
      return client.pushBlob(ref, desc, open, { ...o, ...(mountFrom ? { mountFrom } : {}) });
    },
    pushManifest: (ref, bytes, mediaType, o) => client.pushManifest(ref, bytes, mediaType, o),
  };
}
