import { Readable } from "node:stream";
import { type BlobStore, type Descriptor, isKilnError, sha256 } from "@kiln/core";
import { expect } from "vitest";

export const blob = (data: Uint8Array | string, mediaType = "application/octet-stream"): Descriptor => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
};

export const body = (data: Uint8Array | string) => Readable.from([Buffer.from(data)]);

/** `data` in 64 KiB chunks, as a file or network stream delivers it. */
export const chunked = (data: Buffer, size = 65536) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );

export async function readAll(store: BlobStore, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(desc)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export async function expectKilnError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKilnError(err), `expected a KilnError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code, String(err)).toBe(code);
}

/** A body that sends `head` and then waits (as a stalled upload source does) until destroyed. */
export function stalledBody(head: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(head);
      }
    },
  });
}

/** Text of a pointer's data, for comparisons. */
export const pointerText = (value: { data: Uint8Array } | undefined) =>
  Buffer.from(value?.data ?? []).toString();
