import type { CallOptions, ContentStore, Descriptor, Digest, ImageConfig, Platform } from "@kiln/core";
import { isIndexMediaType, KilnError } from "@kiln/core";
import { type ImageIndex, type ImageManifest, pickPlatform } from "@kiln/oci";
import { parseRegistryRef, type RegistryClient, withDigest } from "@kiln/registry";

/** A registry image pinned to its manifest, with manifest and config stored in the content store. */
export interface PinnedImage {
  /** `docker.io/library/busybox:latest` (normalised, without digest). */
  readonly name: string;
  readonly manifestDigest: Digest;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
}

/**
 * Resolves registry images for FROM and COPY --from. Manifests and configs are kept in the content
 * store, so an image pinned by digest that was seen before resolves with no network request at all
 * (offline rebuilds), and resolutions are shared within a process.
 */
export function createImageResolver(deps: { content: ContentStore; registry: RegistryClient }) {
  const { content, registry } = deps;
  const memo = new Map<string, Promise<PinnedImage>>();
  // Where each blob of a resolved image lives (registry host + repository), for cross-repo mounts.
  const sources = new Map<Digest, { host: string; repository: string }>();
  const remember = (name: string, manifest: ImageManifest) => {
    const ref = parseRegistryRef(name);
    for (const d of [manifest.config, ...manifest.layers])
      sources.set(d.digest, { host: ref.host, repository: ref.repository });
  };

  const stored = async (digest: Digest, o?: CallOptions): Promise<Buffer | undefined> =>
    (await content.info(digest, o)) ? content.readBytes(digest, o) : undefined;

  async function fromStore(name: string, digest: Digest, platform: Platform, o?: CallOptions) {
    const top = await stored(digest, o);
    if (!top) return undefined;
    const parsed = JSON.parse(top.toString("utf8")) as ImageManifest | ImageIndex;
    let manifestDigest = digest;
    let manifest = parsed as ImageManifest;
    if (isIndexMediaType(parsed.mediaType ?? "") || "manifests" in parsed) {
      const chosen = pickPlatform(platform, (parsed as ImageIndex).manifests, (d: Descriptor) => d.platform);
      const bytes = chosen ? await stored(chosen.digest, o) : undefined;
      if (!chosen || !bytes) return undefined;
      manifestDigest = chosen.digest;
      manifest = JSON.parse(bytes.toString("utf8")) as ImageManifest;
    }
    const config = await stored(manifest.config.digest, o);
    if (!config) return undefined;
    return { name, manifestDigest, manifest, config: JSON.parse(config.toString("utf8")) as ImageConfig };
  }

  async function resolve(ref: string, platform: Platform, o?: CallOptions): Promise<PinnedImage> {
    const parsed = parseRegistryRef(ref);
    const name = parsed.digest ? `${parsed.host}/${parsed.repository}` : ref;
    if (parsed.digest) {
      const offline = await fromStore(name, parsed.digest as Digest, platform, o);
      if (offline) return offline;
    }
    const resolved = await registry.resolve(parsed, { platform, ...(o?.signal ? { signal: o.signal } : {}) });
    const pinned = withDigest(parsed, resolved.manifestDigest);
    const manifestBytes = await registry.fetchManifestBytes(pinned, o);
    await content.write(manifestBytes.bytes, { digest: resolved.manifestDigest }, o);
    if (parsed.digest && resolved.index) {
      const indexBytes = await registry.fetchManifestBytes(parsed, o);
      await content.write(indexBytes.bytes, { digest: resolved.index.digest }, o);
    }
    const configDesc = resolved.manifest.config;
    if (!(await content.info(configDesc.digest, o))) {
      await content.write(await registry.fetchBlob(pinned, configDesc, o), configDesc, o);
    }
    const config = JSON.parse(
      (await content.readBytes(configDesc.digest, o)).toString("utf8"),
    ) as ImageConfig;
    return {
      name: resolved.name,
      manifestDigest: resolved.manifestDigest,
      manifest: resolved.manifest,
      config,
    };
  }

  return {
    /** The registry repository a blob of a resolved image came from. */
    sourceOf: (digest: Digest) => sources.get(digest),
    resolve(ref: string, platform: Platform, o?: CallOptions): Promise<PinnedImage> {
      const key = `${ref}\0${platform.os}/${platform.architecture}/${platform.variant ?? ""}`;
      let flight = memo.get(key);
      if (!flight) {
        flight = resolve(ref, platform, o).then(
          (image) => {
            remember(image.name, image.manifest);
            return image;
          },
          (err) => {
            memo.delete(key);
            throw err instanceof KilnError
              ? err
              : new KilnError("UNAVAILABLE", `cannot resolve ${ref}`, { cause: err });
          },
        );
        memo.set(key, flight);
      }
      return flight;
    },
  };
}

export type ImageResolver = ReturnType<typeof createImageResolver>;
