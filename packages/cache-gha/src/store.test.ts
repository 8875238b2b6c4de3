import { Readable } from "node:stream";
import { sha256 } from "@kiln/core";
import { blobStoreSuite, startGhaCacheServer } from "@kiln/testkit";
import { describe, expect, it } from "vitest";
import { blobKey, indexKey } from "./keys.js";
import { createGhaBlobStore } from "./store.js";
import { storeOptions, withServer } from "./test-helpers.js";

/** hex(sha256("|go-actionscache-1.0")), the version go-actions-cache (BuildKit) stores entries under. */
const GO_ACTIONS_CACHE_VERSION = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

for (const apiVersion of [2, 1] as const) {
  blobStoreSuite(
    async () => {
      const server = await startGhaCacheServer();
      return { store: createGhaBlobStore(storeOptions(server, apiVersion)), cleanup: () => server.close() };
    },
    { name: `gha cache BlobStore, API v${apiVersion}` },
  );
}

const blob = (text: string) => {
  const data = Buffer.from(text);
  return { desc: { mediaType: "application/octet-stream", digest: sha256(data), size: data.length }, data };
};

describe("gha cache: BuildKit's layout and the service's semantics", () => {
  it.each([2, 1] as const)(
    "stores blobs and index versions under BuildKit's keys (v%i)",
    async (apiVersion) => {
      await withServer({}, async (server) => {
        const store = createGhaBlobStore(storeOptions(server, apiVersion));
        const { desc, data } = blob("layer bytes");
        await store.write(desc, Readable.from([data]));
        expect(await store.writePointer("buildkit", Buffer.from("{}"), { expected: null })).toBe(true);
        expect(await store.writePointer("buildkit", Buffer.from("{}"), { expected: "1" })).toBe(true);
        await store.close?.();
        const keys = server.entries().map((e) => e.key);
        const index = indexKey("buildkit", "refs/heads/main");
        expect(index).toMatch(/^index-buildkit-1-[0-9a-f]{8}$/);
        expect(keys).toEqual([`buildkit-blob-1-${desc.digest}`, `${index}#1`, `${index}#2`]);
        expect(blobKey(desc.digest)).toBe(`buildkit-blob-1-sha256:${desc.digest.slice(7)}`);
        // go-actions-cache's constant version: hex(sha256("|go-actionscache-1.0")).
        expect(new Set(server.entries().map((e) => e.version))).toEqual(new Set([GO_ACTIONS_CACHE_VERSION]));
      });
    },
  );

  it("a pull request reads its base branch's index and writes its own", async () => {
    await withServer({}, async (server) => {
      const main = createGhaBlobStore(storeOptions(server, 2));
      expect(await main.writePointer("buildkit", Buffer.from("main-index"), { expected: null })).toBe(true);
      const prToken = server.issueToken([
        { scope: "refs/pull/7/merge", permission: 3 },
        { scope: "refs/heads/main", permission: 1 },
      ]);
      const pr = createGhaBlobStore({ ...storeOptions(server, 2), token: prToken });
      const seen = await pr.readPointer("buildkit");
      expect(Buffer.from(seen?.data ?? []).toString()).toBe("main-index");
      // A version read from another ref means "not written here yet": the CAS write lands in the PR ref.
      expect(
        await pr.writePointer("buildkit", Buffer.from("pr-index"), { expected: seen?.version ?? null }),
      ).toBe(true);
      expect(Buffer.from((await pr.readPointer("buildkit"))?.data ?? []).toString()).toBe("pr-index");
      expect(Buffer.from((await main.readPointer("buildkit"))?.data ?? []).toString()).toBe("main-index");
      expect(server.entries().map((e) => [e.scope, e.key])).toContainEqual([
        "refs/pull/7/merge",
        `${indexKey("buildkit", "refs/pull/7/merge")}#1`,
      ]);
      await Promise.all([main.close?.(), pr.close?.()]);
    });
  });

  it("a pointer slot held by a writer that never finished is skipped after the lock timeout", async () => {
    await withServer({}, async (server) => {
      const store = createGhaBlobStore(storeOptions(server, 2));
      expect(await store.writePointer("idx", Buffer.from("one"), { expected: null })).toBe(true);
      // A crashed writer: slot #2 reserved through the raw API and never finalized.
      const res = await fetch(
        `${server.url}twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
          body: JSON.stringify({
            key: `${indexKey("idx", "refs/heads/main")}#2`,
            version: GO_ACTIONS_CACHE_VERSION,
          }),
        },
      );
      expect(res.status).toBe(200);
      const started = Date.now();
      expect(await store.writePointer("idx", Buffer.from("two"), { expected: "1" })).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      const now = await store.readPointer("idx");
      expect(Buffer.from(now?.data ?? []).toString()).toBe("two");
      expect(now?.version).toBe("3");
      await store.close?.();
    });
  });

  it("an unconditional pointer write always lands on the next free slot", async () => {
    await withServer({}, async (server) => {
      const a = createGhaBlobStore(storeOptions(server, 1));
      const b = createGhaBlobStore(storeOptions(server, 1));
      await a.writePointer("idx", Buffer.from("a1"));
      const [ra, rb] = await Promise.all([
        a.writePointer("idx", Buffer.from("a2")),
        b.writePointer("idx", Buffer.from("b2")),
      ]);
      expect([ra, rb]).toEqual([true, true]);
      expect(
        server
          .entries()
          .filter((e) => e.finalized)
          .map((e) => e.key.split("#")[1]),
      ).toEqual(["1", "2", "3"]);
      await Promise.all([a.close?.(), b.close?.()]);
    });
  });
});
