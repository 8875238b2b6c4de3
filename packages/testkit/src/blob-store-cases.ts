import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isKilnError } from "@kiln/core";
import { expect, it } from "vitest";
import { blob, body, chunked, expectKilnError, readAll, stalledBody } from "./blob-store-helpers.js";
import type { RunCase } from "./blob-store-suite.js";

/**
 * The contract's failure paths: bad bodies of every kind (short, long, same size but wrong, wrong at
 * the very end of a large blob, a source that fails), cancellation before and during a call, and
 * readers that stop early. A store that commits on any of these, or hangs, fails here.
 */
export function registerBlobStoreFailureCases(
  run: RunCase,
  o: { readonly timeout: number; readonly pointer: (label: string) => Uint8Array },
): void {
  const { timeout } = o;

  it(
    "short, long and same-size-but-wrong bodies are DATA_LOSS and leave nothing behind",
    run(async (store) => {
      const data = randomBytes(4096);
      const desc = blob(data);
      await expectKilnError(store.write(desc, body(data.subarray(0, 4000))), "DATA_LOSS");
      await expectKilnError(store.write(desc, body(Buffer.concat([data, Buffer.from("+")]))), "DATA_LOSS");
      const flipped = Buffer.from(data);
      flipped[0] = (flipped[0] as number) ^ 1;
      await expectKilnError(store.write(desc, body(flipped)), "DATA_LOSS");
      expect(await store.info(desc.digest)).toBeUndefined();
      // The store is still usable for the same digest afterwards.
      await store.write(desc, body(data));
      expect((await readAll(store, desc)).equals(data)).toBe(true);
    }),
    timeout,
  );

  it(
    "a large blob whose last byte is wrong is DATA_LOSS and is never committed",
    run(async (store) => {
      const data = randomBytes(7 * 1024 * 1024 + 123);
      const desc = blob(data);
      const bad = Buffer.from(data);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
      await expectKilnError(store.write(desc, chunked(bad)), "DATA_LOSS");
      expect(await store.info(desc.digest)).toBeUndefined();
      await expectKilnError(readAll(store, desc), "NOT_FOUND");
    }),
    timeout * 2,
  );

  it(
    "a body that fails mid-way fails the write and leaves nothing behind (small and large blobs)",
    run(async (store) => {
      // Sizes on both sides of the usual buffer-or-stream and single-or-multipart thresholds.
      for (const size of [256 * 1024, 6 * 1024 * 1024]) {
        const data = randomBytes(size);
        const desc = blob(data);
        const failing = Readable.from(
          (async function* () {
            yield data.subarray(0, 100 * 1024);
            throw new Error("source disk went away");
          })(),
        );
        const err = await store.write(desc, failing).catch((e: unknown) => e);
        expect(isKilnError(err), `expected a KilnError, got ${String(err)}`).toBe(true);
        expect((err as Error).message).toContain("source disk went away");
        expect(await store.info(desc.digest)).toBeUndefined();
      }
    }),
    timeout,
  );

  it(
    "an aborted signal is CANCELED",
    run(async (store) => {
      const desc = blob("never");
      const aborted = AbortSignal.abort(new Error("stop"));
      await expectKilnError(store.write(desc, body("never"), { signal: aborted }), "CANCELED");
      await expectKilnError(store.readPointer("index-a", { signal: AbortSignal.abort() }), "CANCELED");
      await expectKilnError(store.info(desc.digest, { signal: AbortSignal.abort() }), "CANCELED");
      await expectKilnError(store.read(desc, { signal: AbortSignal.abort() }), "CANCELED");
      await expectKilnError(
        store.writePointer("index-a", o.pointer("a"), { signal: AbortSignal.abort() }),
        "CANCELED",
      );
      expect(await store.readPointer("index-a")).toBeUndefined();
    }),
    timeout,
  );

  it(
    "aborting a write whose body stalls is CANCELED promptly and commits nothing (small and large blobs)",
    run(async (store) => {
      for (const [size, sent] of [
        [64 * 1024, 1024],
        [6 * 1024 * 1024, 1024 * 1024],
      ] as const) {
        const data = randomBytes(size);
        const desc = blob(data);
        const controller = new AbortController();
        const writing = store.write(desc, stalledBody(data.subarray(0, sent)), { signal: controller.signal });
        await sleep(300);
        const started = Date.now();
        controller.abort(new Error("user pressed ^C"));
        await expectKilnError(writing, "CANCELED");
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await store.info(desc.digest)).toBeUndefined();
      }
    }),
    timeout,
  );

  it(
    "readers that stop early release what they hold (many times over)",
    run(async (store) => {
      const data = randomBytes(2 * 1024 * 1024);
      const desc = blob(data);
      await store.write(desc, chunked(data));
      for (let i = 0; i < 12; i++) {
        const stream = await store.read(desc);
        await new Promise<void>((resolve, reject) => {
          stream.once("data", () => resolve());
          stream.once("error", reject);
        });
        stream.destroy();
      }
      // Connection slots, file handles or sockets leaked above would make these hang.
      const small = blob("after early stops");
      await store.write(small, body("after early stops"));
      expect((await readAll(store, small)).toString()).toBe("after early stops");
      expect((await readAll(store, desc)).equals(data)).toBe(true);
    }),
    timeout,
  );

  it(
    "many different blobs written at once all land",
    run(async (store) => {
      const items = Array.from({ length: 8 }, (_, i) => randomBytes(10_000 + i * 1000));
      await Promise.all(items.map((data) => store.write(blob(data), body(data))));
      for (const data of items) expect((await store.info(blob(data).digest))?.size).toBe(data.length);
    }),
    timeout,
  );
}
