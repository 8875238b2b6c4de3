import { type BlobReader, type CallOptions, type Descriptor, KilnError } from "@kiln/core";

/** Manifests and configs are small; anything larger than this is not what it claims to be. */
const MAX_METADATA_BYTES = 64 * 1024 * 1024;

export async function readBlobBytes(store: BlobReader, desc: Descriptor, o?: CallOptions): Promise<Buffer> {
  if (desc.size > MAX_METADATA_BYTES) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `cache metadata blob ${desc.digest} is too large (${desc.size} bytes)`,
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(desc, o)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
