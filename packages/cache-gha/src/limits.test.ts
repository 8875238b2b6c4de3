import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { Readable } from "node:stream";
import { type Descriptor, isKilnError, sha256 } from "@kiln/core";
import type { GhaCacheServer } from "@kiln/testkit";
import { describe, expect, it } from "vitest";
import { createGhaBlobStore } from "./store.js";
import { storeOptions, withServer } from "./test-helpers.js";

const blob = (data: Buffer): Descriptor => ({
  mediaType: "application/octet-stream",
  digest: sha256(data),
  size: data.length,
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ code?: string; message: string; hint?: string }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKilnError(err), `expected a KilnError, got ${String(err)}`).toBe(true);
  return err as { code: string; message: string; hint?: string };
}

describe("gha cache: request budget, throttling, size budget", () => {
  it("backs off on 429 + Retry-After and still completes, within bounds", async () => {
    await withServer({ rateLimit: { limit: 4, windowMs: 1000 } }, async (server) => {
      const warnings: string[] = [];
      const store = createGhaBlobStore(storeOptions(server, 2, { onWarning: (m) => warnings.push(m) }));
      const started = Date.now();
      const blobs = Array.from({ length: 4 }, (_, i) => Buffer.from(`blob ${i}`));
      for (const data of blobs) await store.write(blob(data), Readable.from([data]));
      for (const data of blobs) expect((await readAll(await store.read(blob(data)))).equals(data)).toBe(true);
      const elapsed = Date.now() - started;
      expect(server.stats.throttled).toBeGreaterThan(0);
      expect(warnings.some((w) => w.includes("throttling"))).toBe(true);
      // 4 writes × 2 calls + 4 lookups = 12 service calls at 4 per second: about 2–3 s of waiting.
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(elapsed).toBeLessThan(15_000);
      await store.close?.();
    });
  }, 30_000);

  it("the client-side token bucket keeps under the service's limit: no 429 at all", async () => {
    await withServer({ rateLimit: { limit: 4, windowMs: 1000 } }, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 2, { rateLimit: { requests: 1, perMs: 500 } }));
      const started = Date.now();
      for (let i = 0; i < 3; i++) {
        const data = Buffer.from(`budgeted ${i}`);
        await store.write(blob(data), Readable.from([data]));
      }
      expect(server.stats.throttled).toBe(0);
      expect(server.stats.serviceRequests).toBe(6);
      // One request every 500 ms puts at most 3 into a 1 s window of the server; 4 leaves room for jitter.
      expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
      await store.close?.();
    });
  }, 30_000);

  it("gives up with UNAVAILABLE once the timeout cannot be met, without waiting it out", async () => {
    await withServer({ rateLimit: { limit: 1, windowMs: 60_000 } }, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 1, { timeoutMs: 2000 }));
      expect(await store.readPointer("idx")).toBeUndefined();
      const started = Date.now();
      const err = await failure(store.readPointer("idx"));
      expect(err.code).toBe("UNAVAILABLE");
      expect(err.message).toContain("maximum timeout reached");
      expect(Date.now() - started).toBeLessThan(2000);
      await store.close?.();
    });
  });

  it("a service that never answers is UNAVAILABLE after the timeout, not hung", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    const store = createGhaBlobStore({
      ...storeOptions({ url, token: "t" } as GhaCacheServer, 2),
      timeoutMs: 1500,
    });
    const started = Date.now();
    const err = await failure(store.readPointer("idx"));
    expect(err.code).toBe("UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(10_000);
    await store.close?.();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }, 20_000);

  it("an abort while waiting out a 429 is CANCELED at once", async () => {
    await withServer({ rateLimit: { limit: 1, windowMs: 60_000 } }, async (server) => {
      // The timeout outlasts Retry-After (60 s), so the store waits instead of giving up.
      const store = createGhaBlobStore(storeOptions(server, 2, { timeoutMs: 120_000, onWarning: () => {} }));
      expect(await store.readPointer("idx")).toBeUndefined();
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("user pressed ^C")), 200);
      const started = Date.now();
      const err = await failure(store.readPointer("idx", { signal: controller.signal }));
      expect(err.code).toBe("CANCELED");
      expect(Date.now() - started).toBeLessThan(5000);
      await store.close?.();
    });
  });

  it("skips uploads beyond size_budget with a warning, not a failure", async () => {
    await withServer({}, async (server) => {
      const warnings: string[] = [];
      const store = createGhaBlobStore(
        storeOptions(server, 2, { sizeBudget: 100, onWarning: (m) => warnings.push(m) }),
      );
      const small = randomBytes(60);
      const big = randomBytes(60);
      await store.write(blob(small), Readable.from([small]));
      await store.write(blob(big), Readable.from([big]));
      expect(await store.info(blob(small).digest)).toMatchObject({ size: 60 });
      expect(await store.info(blob(big).digest)).toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("size_budget");
      await store.close?.();
    });
  });
});

describe("gha cache: protocol use", () => {
  it("v2 sends large blobs as Put Block + Put Block List and small ones as one Put Blob", async () => {
    await withServer({}, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 2));
      const large = randomBytes(3 * 1024 * 1024 + 5);
      await store.write(blob(large), Readable.from([large]));
      const small = Buffer.from("small");
      await store.write(blob(small), Readable.from([small]));
      expect(server.stats.operations).toMatchObject({
        "blob:PutBlock": 7,
        "blob:PutBlockList": 1,
        "blob:PutBlob": 1,
      });
      expect((await readAll(await store.read(blob(large)))).equals(large)).toBe(true);
      await store.close?.();
    });
  });

  it("v1 uploads in Content-Range chunks and commits once", async () => {
    await withServer({}, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 1));
      const large = randomBytes(2 * 1024 * 1024);
      await store.write(blob(large), Readable.from([large]));
      expect(server.stats.operations).toMatchObject({
        "rest:POST caches": 1,
        "rest:PATCH caches/{id}": 4,
        "rest:POST caches/{id}": 1,
      });
      expect((await readAll(await store.read(blob(large)))).equals(large)).toBe(true);
      await store.close?.();
    });
  });

  it("info then read costs one lookup; a known blob is not re-uploaded nor re-reserved", async () => {
    await withServer({}, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 2));
      const data = Buffer.from("once");
      await store.write(blob(data), Readable.from([data]));
      await store.write(blob(data), Readable.from([data]));
      expect((await store.info(blob(data).digest))?.size).toBe(4);
      await readAll(await store.read(blob(data)));
      expect(server.stats.operations).toMatchObject({
        CreateCacheEntry: 1,
        FinalizeCacheEntryUpload: 1,
        GetCacheEntryDownloadURL: 1,
      });
      // Another store (another build) learns "already there" from the reservation conflict.
      const other = createGhaBlobStore(storeOptions(server, 2));
      await other.write(blob(data), Readable.from([data]));
      expect(server.stats.operations.CreateCacheEntry).toBe(2);
      expect(server.stats.operations["blob:PutBlob"]).toBe(1);
      await Promise.all([store.close?.(), other.close?.()]);
    });
  });

  it("a read whose bytes do not match the descriptor is DATA_LOSS", async () => {
    await withServer({}, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 2));
      const data = Buffer.from("twelve bytes");
      await store.write(blob(data), Readable.from([data]));
      const err = await failure(readAll(await store.read({ ...blob(data), size: 11 })));
      expect(err.code).toBe("DATA_LOSS");
      await store.close?.();
    });
  });

  it("never puts the token or signed-URL signatures in errors", async () => {
    await withServer({}, async (server) => {
      const forged = `${server.token.slice(0, -4)}AAAA`;
      const store = createGhaBlobStore({ ...storeOptions(server, 2), token: forged });
      const err = await failure(store.readPointer("idx"));
      expect(err.code).toBe("PERMISSION_DENIED");
      const text = JSON.stringify({ ...err, message: err.message, hint: err.hint });
      expect(text).not.toContain(forged);
      expect(text).not.toContain(forged.split(".")[1]);
      expect(text).not.toMatch(/sig=/);
      await store.close?.();
    });
  });
});
