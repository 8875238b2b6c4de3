import type { BlobStore } from "@kiln/core";
import { S3_CACHE_TYPE, type S3CacheOptions } from "./options.js";
import type { S3StoreTuning } from "./store.js";

/**
 * The S3 BlobStore, with the AWS SDK loaded on first use: the SDK is large, and a `kiln` that never
 * touches S3 (most runs) should not pay for parsing it at start-up. Same contract as the store itself.
 */
export function createS3BlobStore(input: S3CacheOptions, tuning: S3StoreTuning = {}): BlobStore {
  let loading: Promise<BlobStore> | undefined;
  const real = () => {
    loading ??= (async () => {
      // The SDK warns on Node < 22 about versions *after* the one pinned here; kiln supports Node 20,
      // and that warning would land in the middle of the build's output. A user's own setting wins.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
      const { createS3BlobStore: create } = await import("./store.js");
      return create(input, tuning);
    })();
    return loading;
  };
  return {
    type: S3_CACHE_TYPE,
    capabilities: { rangeReads: true, touch: true, conditionalPointers: false },
    info: async (digest, o) => (await real()).info(digest, o),
    read: async (desc, o) => (await real()).read(desc, o),
    write: async (desc, body, o) => {
      let store: BlobStore;
      try {
        store = await real();
      } catch (err) {
        body.destroy();
        throw err;
      }
      return store.write(desc, body, o);
    },
    readPointer: async (name, o) => (await real()).readPointer(name, o),
    writePointer: async (name, data, o) => (await real()).writePointer(name, data, o),
    touch: async (digest, o) => {
      const store = await real();
      await store.touch?.(digest, o);
    },
    async close() {
      if (loading) await (await loading).close?.();
    },
  };
}
