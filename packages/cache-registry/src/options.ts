import {
  checkTypeAttr,
  invalidAttr,
  KilnError,
  parseBoolAttr,
  rejectUnknownAttrs,
  SHARED_CACHE_ATTRS,
} from "@kiln/core";
import { parseRegistryRef } from "@kiln/registry";

export const REGISTRY_CACHE_TYPE = "registry";

export type CacheCompression = "gzip" | "zstd" | "estargz" | "uncompressed";

/** `compression`, `compression-level`, `force-compression`: read by the cache layer when it makes layers. */
export interface CacheCompressionOptions {
  readonly type: CacheCompression;
  readonly level?: number;
  readonly force?: boolean;
}

/** `--cache-to/--cache-from type=registry,…` as options; comments name BuildKit's attributes. */
export interface RegistryCacheOptions {
  /** `ref`: where the cache lives; its tag names the pointer (default `latest`). */
  readonly ref: string;
  /** `oci-mediatypes` (default true): OCI media types instead of Docker's. */
  readonly ociMediatypes?: boolean;
  /** `image-manifest` (default true, false without OCI media types): a manifest instead of an index. */
  readonly imageManifest?: boolean;
  /** `registry.insecure`: HTTPS without verification, then plain HTTP. */
  readonly insecure?: boolean;
  readonly compression?: CacheCompressionOptions;
}

export interface ResolvedRegistryCacheOptions extends RegistryCacheOptions {
  /** The canonical reference, tag included: `docker.io/library/app:latest`. */
  readonly ref: string;
  /** `host/repository`, where blobs and tags go. */
  readonly repository: string;
  readonly tag: string;
  readonly ociMediatypes: boolean;
  readonly imageManifest: boolean;
  readonly insecure: boolean;
}

const TAG = /^[\w][\w.-]{0,127}$/;

export function isValidTag(name: string): boolean {
  return TAG.test(name);
}

export function resolveRegistryOptions(options: RegistryCacheOptions): ResolvedRegistryCacheOptions {
  if (!options.ref) {
    throw new KilnError("INVALID_ARGUMENT", "cache registry: attribute ref is required", {
      hint: "add ref=<registry>/<repository>[:tag] to --cache-to/--cache-from",
    });
  }
  let parsed: ReturnType<typeof parseRegistryRef>;
  try {
    parsed = parseRegistryRef(options.ref);
  } catch (err) {
    throw invalidAttr(REGISTRY_CACHE_TYPE, "ref", options.ref, (err as Error).message);
  }
  if (parsed.digest !== undefined) {
    throw invalidAttr(REGISTRY_CACHE_TYPE, "ref", options.ref, "a cache ref names a tag, not a digest");
  }
  const ociMediatypes = options.ociMediatypes ?? true;
  if (options.imageManifest === true && !ociMediatypes) {
    throw invalidAttr(REGISTRY_CACHE_TYPE, "image-manifest", "true", "it needs oci-mediatypes=true");
  }
  const tag = parsed.tag ?? "latest";
  const repository = `${parsed.host}/${parsed.repository}`;
  return {
    ...options,
    ref: `${repository}:${tag}`,
    repository,
    tag,
    ociMediatypes,
    imageManifest: options.imageManifest ?? ociMediatypes,
    insecure: options.insecure ?? false,
  };
}

const REGISTRY_ATTRS = new Set([
  ...SHARED_CACHE_ATTRS,
  "ref",
  "oci-mediatypes",
  "image-manifest",
  "registry.insecure",
  "compression",
  "compression-level",
  "force-compression",
]);

const COMPRESSIONS: readonly CacheCompression[] = ["gzip", "zstd", "estargz", "uncompressed"];

/** BuildKit's registry cache attributes; unknown or bad values fail naming the attribute. */
export function parseRegistryAttrs(attrs: Readonly<Record<string, string>>): ResolvedRegistryCacheOptions {
  const t = REGISTRY_CACHE_TYPE;
  checkTypeAttr(t, attrs);
  rejectUnknownAttrs(t, attrs, REGISTRY_ATTRS);
  const bool = (k: string) => (attrs[k] === undefined ? undefined : parseBoolAttr(t, k, attrs[k]));
  const type = attrs.compression;
  if (type !== undefined && !COMPRESSIONS.includes(type as CacheCompression)) {
    throw invalidAttr(t, "compression", type, `expected one of ${COMPRESSIONS.join(", ")}`);
  }
  const levelText = attrs["compression-level"];
  if (levelText !== undefined && !/^[-+]?\d+$/.test(levelText)) {
    throw invalidAttr(t, "compression-level", levelText, "expected an integer");
  }
  const level = levelText === undefined ? undefined : Number(levelText);
  // BuildKit reads a bare `force-compression` (empty value) as true.
  const forceText = attrs["force-compression"];
  const force = forceText === "" ? true : bool("force-compression");
  const ociMediatypes = bool("oci-mediatypes");
  const imageManifest = bool("image-manifest");
  const insecure = bool("registry.insecure");
  return resolveRegistryOptions({
    ref: attrs.ref ?? "",
    ...(ociMediatypes !== undefined ? { ociMediatypes } : {}),
    ...(imageManifest !== undefined ? { imageManifest } : {}),
    ...(insecure !== undefined ? { insecure } : {}),
    // Without `compression`, BuildKit's default (gzip) is the one the level and force apply to.
    ...(type !== undefined || level !== undefined || force !== undefined
      ? {
          compression: {
            type: (type ?? "gzip") as CacheCompression,
            ...(level !== undefined ? { level } : {}),
            ...(force !== undefined ? { force } : {}),
          },
        }
      : {}),
  });
}
