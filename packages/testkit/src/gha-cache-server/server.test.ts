import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GhaCacheServer, startGhaCacheServer } from "./index.js";

const VERSION = createHash("sha256").update("test").digest("hex");
let server: GhaCacheServer;

const twirp = (method: string, body: object, token = server.token) =>
  fetch(`${server.url}twirp/github.actions.results.api.v1.CacheService/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const rest = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}_apis/artifactcache/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", ...init.headers },
  });

async function reserveV2(key: string): Promise<string> {
  const res = await twirp("CreateCacheEntry", { key, version: VERSION });
  expect(res.status).toBe(200);
  return ((await res.json()) as { signed_upload_url: string }).signed_upload_url;
}

describe("startGhaCacheServer: the wire protocol", () => {
  beforeEach(async () => {
    server = await startGhaCacheServer();
  });
  afterEach(() => server.close());

  it("v2: Put Block + Put Block List, finalize, ranged reads; entries are immutable", async () => {
    const upload = await reserveV2("k1");
    const ids = ["YmxvY2stMA==", "YmxvY2stMQ=="];
    for (const [i, part] of ["hello ", "world"].entries()) {
      const res = await fetch(`${upload}&comp=block&blockid=${encodeURIComponent(ids[i] ?? "")}`, {
        method: "PUT",
        body: part,
      });
      expect(res.status).toBe(201);
    }
    const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
    const committed = await fetch(`${upload}&comp=blocklist`, { method: "PUT", body: list });
    expect(committed.status).toBe(201);
    expect(committed.headers.get("etag")).toMatch(/^".+"$/);
    // Not visible before it is finalized; a wrong size is refused.
    expect(
      await (await twirp("GetCacheEntryDownloadURL", { key: "k1", version: VERSION })).json(),
    ).toMatchObject({ ok: false });
    expect(
      (await twirp("FinalizeCacheEntryUpload", { key: "k1", version: VERSION, size_bytes: "3" })).status,
    ).toBe(400);
    const fin = await twirp("FinalizeCacheEntryUpload", { key: "k1", version: VERSION, size_bytes: "11" });
    expect(await fin.json()).toEqual({ ok: true, entry_id: "1" });

    const conflict = await twirp("CreateCacheEntry", { key: "k1", version: VERSION });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ code: "already_exists" });

    const found = (await (
      await twirp("GetCacheEntryDownloadURL", { key: "k", restore_keys: [], version: VERSION })
    ).json()) as {
      ok: boolean;
      signed_download_url: string;
      matched_key: string;
    };
    expect(found).toMatchObject({ ok: true, matched_key: "k1" });
    expect(await (await fetch(found.signed_download_url)).text()).toBe("hello world");
    const ranged = await fetch(found.signed_download_url, { headers: { "x-ms-range": "bytes=6-10" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 6-10/11");
    expect(await ranged.text()).toBe("world");
    expect((await fetch(found.signed_download_url, { headers: { range: "bytes=20-" } })).status).toBe(416);
    // Another version is another entry.
    expect(
      await (await twirp("GetCacheEntryDownloadURL", { key: "k1", version: "other" })).json(),
    ).toMatchObject({ ok: false });
  });

  it("signed URLs are checked: a tampered signature, a read URL used to write, a bad token", async () => {
    const upload = await reserveV2("k2");
    expect(
      (
        await fetch(upload.replace(/sig=[^&]+/, "sig=AAAA"), {
          method: "PUT",
          body: "x",
          headers: { "x-ms-blob-type": "BlockBlob" },
        })
      ).status,
    ).toBe(403);
    expect((await fetch(upload, { method: "PUT", body: "x" })).status).toBe(400); // Put Blob needs x-ms-blob-type
    expect(
      (await fetch(upload, { method: "PUT", body: "x", headers: { "x-ms-blob-type": "BlockBlob" } })).status,
    ).toBe(201);
    await twirp("FinalizeCacheEntryUpload", { key: "k2", version: VERSION, size_bytes: "1" });
    const { signed_download_url } = (await (
      await twirp("GetCacheEntryDownloadURL", { key: "k2", version: VERSION })
    ).json()) as {
      signed_download_url: string;
    };
    expect(
      (
        await fetch(signed_download_url, {
          method: "PUT",
          body: "y",
          headers: { "x-ms-blob-type": "BlockBlob" },
        })
      ).status,
    ).toBe(403);
    const denied = await twirp("GetCacheEntryDownloadURL", { key: "k2", version: VERSION }, "forged");
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ code: "unauthenticated" });
  });

  it("v1: reserve (409 when taken), PATCH chunks with Content-Range, commit, lookup with restore keys", async () => {
    const reserve = () =>
      rest("caches", {
        method: "POST",
        body: JSON.stringify({ key: "npm-linux-1", version: VERSION, cacheSize: 8 }),
      });
    const first = await reserve();
    expect(first.status).toBe(201);
    const { cacheId } = (await first.json()) as { cacheId: number };
    expect((await reserve()).status).toBe(409);
    const patch = (range: string, body: string) =>
      rest(`caches/${cacheId}`, {
        method: "PATCH",
        body,
        headers: { "content-type": "application/octet-stream", "content-range": range },
      });
    expect((await patch("bytes 4-7/*", "5678")).status).toBe(204);
    expect((await patch("bytes 0-9/*", "12")).status).toBe(400); // range and body disagree
    expect(
      (await rest(`caches/${cacheId}`, { method: "POST", body: JSON.stringify({ size: 8 }) })).status,
    ).toBe(400); // gap at 0
    expect((await patch("bytes 0-3/*", "1234")).status).toBe(204);
    expect(
      (await rest(`caches/${cacheId}`, { method: "POST", body: JSON.stringify({ size: 8 }) })).status,
    ).toBe(204);
    expect((await rest(`cache?keys=nope&version=${VERSION}`)).status).toBe(204);
    const hit = await rest(`cache?keys=${encodeURIComponent("nope,npm-linux-")}&version=${VERSION}`);
    expect(hit.status).toBe(200);
    const entry = (await hit.json()) as { cacheKey: string; archiveLocation: string };
    expect(entry.cacheKey).toBe("npm-linux-1");
    expect(await (await fetch(entry.archiveLocation)).text()).toBe("12345678");
  });

  it("rate limiting answers 429 with Retry-After once the window's budget is spent", async () => {
    await server.close();
    server = await startGhaCacheServer({ rateLimit: { limit: 2, windowMs: 60_000 } });
    const lookup = () => twirp("GetCacheEntryDownloadURL", { key: "x", version: VERSION });
    expect((await lookup()).status).toBe(200);
    expect((await lookup()).status).toBe(200);
    const throttled = await lookup();
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(50);
    expect(await throttled.json()).toMatchObject({ code: "resource_exhausted" });
    expect((await rest(`cache?keys=x&version=${VERSION}`)).status).toBe(429);
    expect(server.stats).toMatchObject({ serviceRequests: 4, throttled: 2 });
  });
});
