import type { CacheBackend, CacheBackendModule } from "@kiln/core";
import { createS3BlobStore } from "./lazy-store.js";
import {
  parseS3Attrs,
  type ResolvedS3CacheOptions,
  resolveS3Options,
  S3_CACHE_TYPE,
  type S3CacheOptions,
} from "./options.js";

export { s3Error } from "./errors.js";
export { createS3BlobStore } from "./lazy-store.js";
export {
  DEFAULT_TOUCH_REFRESH_MS,
  parseS3Attrs,
  type ResolvedS3CacheOptions,
  resolveS3Options,
  S3_CACHE_TYPE,
  type S3CacheOptions,
  type S3Credentials,
} from "./options.js";
export type { S3StoreTuning } from "./store.js";

/** An S3 cache backend with its defaults filled in; `create()` connects lazily. */
export interface S3CacheBackend extends CacheBackend<ResolvedS3CacheOptions> {
  /** The pointer names the cache is written under (`name=a;b`); imports read the first. */
  readonly pointerNames: readonly string[];
  /** `upload_parallelism`: how many blobs an exporter should upload at once. */
  readonly uploadParallelism: number;
}

/** `createBuilder({ caches: [s3Cache({ bucket: "ci-cache", region: "eu-west-1" })] })` */
export function s3Cache(options: S3CacheOptions): S3CacheBackend {
  const resolved = resolveS3Options(options);
  return {
    type: S3_CACHE_TYPE,
    options: resolved,
    pointerNames: resolved.names,
    uploadParallelism: resolved.uploadParallelism,
    create: () => createS3BlobStore(resolved),
  };
}

/** `--cache-to/--cache-from type=s3,…` */
export const s3CacheModule: CacheBackendModule<ResolvedS3CacheOptions> = {
  type: S3_CACHE_TYPE,
  parseAttrs: parseS3Attrs,
  backend: s3Cache,
};
