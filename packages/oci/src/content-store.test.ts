import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { isKilnError, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createContentStore } from "./content-store.js";
import { tempDir } from "./fixtures.test-helpers.js";

const ingestOf = (root: string) => readdirSync(join(root, "ingest"));

describe("content store", () => {
  it("writes, reads and describes a blob at blobs/sha256/<hex>", async () => {
    const root = tempDir();
    const store = createContentStore({ root });
    const info = await store.write(Buffer.from("hello"));
    expect(info).toEqual({ digest: sha256("hello"), size: 5 });
    expect(store.path(info.digest)).toBe(join(root, "blobs", "sha256", info.digest.slice(7)));
    expect(await text(await store.read(info.digest))).toBe("hello");
    expect((await store.readBytes(info.digest)).toString()).toBe("hello");
    expect(await store.info(info.digest)).toEqual(info);
    expect(ingestOf(root)).toEqual([]);
  });

  it("is idempotent and drains the body when the blob already exists", async () => {
    const store = createContentStore({ root: tempDir() });
    const first = await store.write(Readable.from([Buffer.from("same")]));
    const body = Readable.from([Buffer.from("same")]);
    expect(await store.write(body, { digest: first.digest, size: 4 })).toEqual(first);
    expect(body.readableEnded).toBe(true);
  });

  it("answers NOT_FOUND for a missing blob and undefined from info", async () => {
    const store = createContentStore({ root: tempDir() });
    const missing = sha256("missing");
    expect(await store.info(missing)).toBeUndefined();
    await expect(store.read(missing)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(store.readBytes(missing)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(() => store.path("sha256:../../etc/passwd" as never)).toThrow(/invalid digest/);
  });

  it("rejects a digest mismatch with DATA_LOSS and keeps nothing", async () => {
    const root = tempDir();
    const store = createContentStore({ root });
    const wrong = sha256("other");
    const err = await store.write(Buffer.from("data"), { digest: wrong }).catch((e: unknown) => e);
    expect(isKilnError(err, "DATA_LOSS")).toBe(true);
    expect(await store.info(wrong)).toBeUndefined();
    expect(await store.info(sha256("data"))).toBeUndefined();
    expect(ingestOf(root)).toEqual([]);
  });

  it("rejects a size mismatch (too long fails before the end, too short at the end)", async () => {
    const root = tempDir();
    const store = createContentStore({ root });
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await expect(store.write(endless, { size: 10 })).rejects.toMatchObject({ code: "DATA_LOSS" });
    await expect(store.write(Buffer.from("abc"), { size: 10 })).rejects.toMatchObject({ code: "DATA_LOSS" });
    expect(ingestOf(root)).toEqual([]);
    expect(readdirSync(join(root, "blobs", "sha256"))).toEqual([]);
  });

  it("aborting mid-write leaves neither a blob nor a temp file", async () => {
    const root = tempDir();
    const store = createContentStore({ root });
    const body = new PassThrough();
    const controller = new AbortController();
    const pending = store.write(body, undefined, { signal: controller.signal });
    body.write(Buffer.alloc(1024 * 1024, 1));
    await new Promise((r) => setTimeout(r, 50));
    expect(ingestOf(root)).toHaveLength(1); // the partial write is visible only in ingest/
    expect(readdirSync(join(root, "blobs", "sha256"))).toEqual([]);
    controller.abort(new Error("user pressed ^C"));
    await expect(pending).rejects.toMatchObject({ code: "CANCELED" });
    expect(ingestOf(root)).toEqual([]);
    expect(readdirSync(join(root, "blobs", "sha256"))).toEqual([]);
  });

  it("lets concurrent writers of the same blob both succeed", async () => {
    const root = tempDir();
    const stores = [createContentStore({ root }), createContentStore({ root })];
    const data = Buffer.alloc(4 * 1024 * 1024, 7);
    const chunks = (n: number) =>
      Array.from({ length: n }, (_, i) => data.subarray((i * data.length) / n, ((i + 1) * data.length) / n));
    const results = await Promise.all([
      stores[0]?.write(Readable.from(chunks(64))),
      stores[1]?.write(Readable.from(chunks(16)), { digest: sha256(data), size: data.length }),
      stores[0]?.write(data),
    ]);
    for (const r of results) expect(r).toEqual({ digest: sha256(data), size: data.length });
    expect(readdirSync(join(root, "blobs", "sha256"))).toEqual([sha256(data).slice(7)]);
    expect(ingestOf(root)).toEqual([]);
  });

  it("removes stale ingest leftovers on open but not fresh ones (another writer may own them)", () => {
    const root = tempDir();
    mkdirSync(join(root, "ingest"), { recursive: true });
    writeFileSync(join(root, "ingest", "crashed"), "partial");
    const old = new Date(Date.now() - 60 * 60 * 1000);
    utimesSync(join(root, "ingest", "crashed"), old, old);
    writeFileSync(join(root, "ingest", "in-progress"), "partial");
    createContentStore({ root });
    expect(existsSync(join(root, "ingest", "crashed"))).toBe(false);
    expect(existsSync(join(root, "ingest", "in-progress"))).toBe(true);
  });
});
