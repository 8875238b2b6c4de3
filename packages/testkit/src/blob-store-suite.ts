import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { type BlobStore, type Descriptor, isKilnError, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";

/** A fresh, empty store per case; `cleanup` releases whatever the factory started. */
export type BlobStoreFactory = () => Promise<{ store: BlobStore; cleanup?: () => Promise<void> }>;

export interface BlobStoreSuiteOptions {
  readonly name?: string;
  readonly timeout?: number;
  /** Size of the streaming round-trip case; the default (6 MiB) crosses multipart thresholds. */
  readonly largeBlobSize?: number;
}

const blob = (data: Uint8Array | string, mediaType = "application/octet-stream"): Descriptor => {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
};

const body = (data: Uint8Array | string) => Readable.from([Buffer.from(data)]);

async function readAll(store: BlobStore, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(desc)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function expectKilnError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKilnError(err), `expected a KilnError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/**
 * Registers the BlobStore conformance cases (core's blob-store.ts contract) with vitest. Every backend's
 * test file calls it once against a real service on loopback:
 *
 *   blobStoreSuite(async () => ({ store: s3BlobStore({...}), cleanup }), { name: "s3" });
 */
export function blobStoreSuite(factory: BlobStoreFactory, options: BlobStoreSuiteOptions = {}): void {
  const timeout = options.timeout ?? 60_000;
  const run = (body: (store: BlobStore) => Promise<void>) => async () => {
    const { store, cleanup } = await factory();
    try {
      await body(store);
    } finally {
      await store.close?.();
      await cleanup?.();
    }
  };

  describe(options.name ?? "BlobStore conformance", () => {
    it(
      "write, info and read round-trip; a missing blob is NOT_FOUND",
      run(async (store) => {
        const desc = blob("hello kiln");
        expect(await store.info(desc.digest)).toBeUndefined();
        await store.write(desc, body("hello kiln"));
        expect((await store.info(desc.digest))?.size).toBe(desc.size);
        expect((await readAll(store, desc)).toString()).toBe("hello kiln");
        await expectKilnError(readAll(store, blob("absent")), "NOT_FOUND");
      }),
      timeout,
    );

    it(
      "write is idempotent, also when two writers race",
      run(async (store) => {
        const data = randomBytes(64 * 1024);
        const desc = blob(data);
        await Promise.all([store.write(desc, body(data)), store.write(desc, body(data))]);
        await store.write(desc, body(data));
        expect((await readAll(store, desc)).equals(data)).toBe(true);
      }),
      timeout,
    );

    it(
      "a body that does not match its digest is DATA_LOSS and leaves nothing behind",
      run(async (store) => {
        const desc = blob("the real content");
        await expectKilnError(store.write(desc, body("something else!")), "DATA_LOSS");
        expect(await store.info(desc.digest)).toBeUndefined();
      }),
      timeout,
    );

    it(
      "streams a large blob",
      run(async (store) => {
        const data = randomBytes(options.largeBlobSize ?? 6 * 1024 * 1024);
        const desc = blob(data, "application/vnd.oci.image.layer.v1.tar+gzip");
        const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) =>
          data.subarray(i * 65536, (i + 1) * 65536),
        );
        await store.write(desc, Readable.from(chunks));
        expect((await store.info(desc.digest))?.size).toBe(data.length);
        expect((await readAll(store, desc)).equals(data)).toBe(true);
      }),
      timeout * 2,
    );

    it(
      "pointers: missing, write, read back, overwrite with a new version",
      run(async (store) => {
        expect(await store.readPointer("index-a")).toBeUndefined();
        expect(await store.writePointer("index-a", Buffer.from('{"v":1}'))).toBe(true);
        const first = await store.readPointer("index-a");
        expect(Buffer.from(first?.data ?? []).toString()).toBe('{"v":1}');
        expect(await store.writePointer("index-a", Buffer.from('{"v":2}'))).toBe(true);
        const second = await store.readPointer("index-a");
        expect(Buffer.from(second?.data ?? []).toString()).toBe('{"v":2}');
        expect(second?.version).not.toBe(first?.version);
        expect(await store.readPointer("index-b")).toBeUndefined();
      }),
      timeout,
    );

    it(
      "pointers: compare-and-swap refuses stale versions where supported",
      run(async (store) => {
        if (!store.capabilities.conditionalPointers) {
          // Without CAS the contract is only that a conditional write still lands (callers re-read).
          expect(await store.writePointer("cas", Buffer.from("x"), { expected: "stale" })).toBe(true);
          expect(await text(Readable.from([(await store.readPointer("cas"))?.data ?? ""]))).toBe("x");
          return;
        }
        expect(await store.writePointer("cas", Buffer.from("one"), { expected: null })).toBe(true);
        const one = await store.readPointer("cas");
        expect(await store.writePointer("cas", Buffer.from("again"), { expected: null })).toBe(false);
        expect(await store.writePointer("cas", Buffer.from("two"), { expected: one?.version })).toBe(true);
        expect(await store.writePointer("cas", Buffer.from("lost"), { expected: one?.version })).toBe(false);
        expect(Buffer.from((await store.readPointer("cas"))?.data ?? []).toString()).toBe("two");
      }),
      timeout,
    );

    it(
      "touch keeps the blob readable",
      run(async (store) => {
        const desc = blob("touch me");
        await store.write(desc, body("touch me"));
        if (store.capabilities.touch) await store.touch?.(desc.digest);
        expect((await readAll(store, desc)).toString()).toBe("touch me");
      }),
      timeout,
    );

    it(
      "an aborted signal is CANCELED",
      run(async (store) => {
        const desc = blob("never");
        await expectKilnError(
          store.write(desc, body("never"), { signal: AbortSignal.abort(new Error("stop")) }),
          "CANCELED",
        );
        await expectKilnError(store.readPointer("index-a", { signal: AbortSignal.abort() }), "CANCELED");
      }),
      timeout,
    );
  });
}
