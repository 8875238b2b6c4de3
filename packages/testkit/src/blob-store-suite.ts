import { randomBytes } from "node:crypto";
import type { BlobStore } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { registerBlobStoreFailureCases } from "./blob-store-cases.js";
import { blob, body, chunked, expectKilnError, pointerText, readAll } from "./blob-store-helpers.js";

/** A fresh, empty store per case; `cleanup` releases whatever the factory started. */
export type BlobStoreFactory = () => Promise<{ store: BlobStore; cleanup?: () => Promise<void> }>;

export interface BlobStoreSuiteOptions {
  readonly name?: string;
  readonly timeout?: number;
  /** Size of the streaming round-trip case; the default (6 MiB) crosses multipart thresholds. */
  readonly largeBlobSize?: number;
  /**
   * A pointer document the backend accepts, distinct for each `label` (default: small JSON naming
   * the label). Registries only take manifests or indexes as tag content, for example.
   */
  readonly pointerData?: (label: string) => Uint8Array;
  /**
   * The backend keeps a pointer's document as a content-addressed blob of the same store (an OCI
   * image layout's `index.json` entry names a manifest in `blobs/`), so the document is also readable
   * as a blob. Pointers must still be independent of each other; only the "no blob appears" check is
   * relaxed, and replaced by "the blob it shares is exactly the pointer's document".
   */
  readonly pointersAreBlobs?: boolean;
}

export type RunCase = (body: (store: BlobStore) => Promise<void>) => () => Promise<void>;

const defaultPointerData = (label: string) => Buffer.from(JSON.stringify({ v: label }));

/**
 * Registers the BlobStore conformance cases (core's blob-store.ts contract) with vitest. Every backend's
 * test file calls it once against a real service on loopback:
 *
 *   blobStoreSuite(async () => ({ store: s3BlobStore({...}), cleanup }), { name: "s3" });
 */
export function blobStoreSuite(factory: BlobStoreFactory, options: BlobStoreSuiteOptions = {}): void {
  const timeout = options.timeout ?? 60_000;
  const pointer = options.pointerData ?? defaultPointerData;
  const text = (label: string) => Buffer.from(pointer(label)).toString();
  const run: RunCase = (body) => async () => {
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
        await store.write(desc, chunked(data));
        expect((await store.info(desc.digest))?.size).toBe(data.length);
        expect((await readAll(store, desc)).equals(data)).toBe(true);
      }),
      timeout * 2,
    );

    it(
      "pointers: missing, write, read back, overwrite with a new version",
      run(async (store) => {
        expect(await store.readPointer("index-a")).toBeUndefined();
        expect(await store.writePointer("index-a", pointer("1"))).toBe(true);
        const first = await store.readPointer("index-a");
        expect(pointerText(first)).toBe(text("1"));
        // Reading again without a write gives the same version.
        expect((await store.readPointer("index-a"))?.version).toBe(first?.version);
        expect(await store.writePointer("index-a", pointer("2"))).toBe(true);
        const second = await store.readPointer("index-a");
        expect(pointerText(second)).toBe(text("2"));
        expect(second?.version).not.toBe(first?.version);
        expect(await store.readPointer("index-b")).toBeUndefined();
      }),
      timeout,
    );

    it(
      "pointers are independent of each other and of blobs",
      run(async (store) => {
        await store.writePointer("main", pointer("main"));
        await store.writePointer("pr-1", pointer("pr-1"));
        const desc = blob(pointer("main"));
        if (options.pointersAreBlobs) {
          expect((await readAll(store, desc)).toString()).toBe(text("main"));
        } else {
          expect(await store.info(desc.digest)).toBeUndefined();
        }
        expect(pointerText(await store.readPointer("main"))).toBe(text("main"));
        expect(pointerText(await store.readPointer("pr-1"))).toBe(text("pr-1"));
      }),
      timeout,
    );

    it(
      "pointers: compare-and-swap refuses stale versions where supported",
      run(async (store) => {
        if (!store.capabilities.conditionalPointers) {
          // Without CAS the contract is only that a conditional write still lands (callers re-read).
          expect(await store.writePointer("cas", pointer("x"), { expected: "stale" })).toBe(true);
          expect(pointerText(await store.readPointer("cas"))).toBe(text("x"));
          expect(await store.writePointer("cas", pointer("y"), { expected: null })).toBe(true);
          expect(pointerText(await store.readPointer("cas"))).toBe(text("y"));
          return;
        }
        expect(await store.writePointer("cas", pointer("one"), { expected: null })).toBe(true);
        const one = await store.readPointer("cas");
        expect(await store.writePointer("cas", pointer("again"), { expected: null })).toBe(false);
        expect(await store.writePointer("cas", pointer("two"), { expected: one?.version })).toBe(true);
        expect(await store.writePointer("cas", pointer("lost"), { expected: one?.version })).toBe(false);
        expect(pointerText(await store.readPointer("cas"))).toBe(text("two"));
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

    registerBlobStoreFailureCases(run, { timeout, pointer });
  });
}
