import { KilnError } from "@kiln/core";
import pLimit from "p-limit";
import type { ActionsCacheApi } from "./api.js";
import { CACHE_VERSION } from "./keys.js";
import { readJson, send, statusError, type Transport } from "./transport.js";

const ACCEPT = "application/json;api-version=6.0-preview.1";

/**
 * API v1 (legacy REST under `_apis/artifactcache/`): lookup, reserve, PATCH chunks with Content-Range,
 * commit. Every chunk is a service request, so uploads spend the request budget too.
 */
export function createApiV1(
  t: Transport,
  baseUrl: string,
  tuning: { chunkSize: number; concurrency: number },
): ActionsCacheApi {
  const base = `${baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`}_apis/artifactcache/`;
  const json = (body: object) => {
    const text = JSON.stringify(body);
    return { headers: { accept: ACCEPT, "content-type": "application/json" }, body: () => text };
  };

  return {
    version: 1,
    async lookup(keys, call) {
      const url = `${base}cache?keys=${encodeURIComponent(keys.join(","))}&version=${CACHE_VERSION}`;
      const res = await send(
        t,
        { method: "GET", url, headers: { accept: ACCEPT }, service: true },
        call,
        "cache lookup",
      );
      if (res.status === 204) {
        await res.body.dump();
        return undefined;
      }
      if (res.status !== 200) throw await statusError(res, "cache lookup", url);
      const entry = await readJson(res);
      if (typeof entry?.archiveLocation !== "string") {
        throw new KilnError("UNAVAILABLE", "gha cache: cache lookup answered without archiveLocation");
      }
      return { key: String(entry.cacheKey ?? keys[0]), url: entry.archiveLocation };
    },
    async reserve(key, size, call) {
      const url = `${base}caches`;
      const res = await send(
        t,
        { method: "POST", url, ...json({ key, version: CACHE_VERSION, cacheSize: size }), service: true },
        call,
        "reserving a cache entry",
      );
      if (res.status === 409) {
        await res.body.dump();
        return undefined;
      }
      if (res.status !== 201 && res.status !== 200) {
        const err = await statusError(res, "reserving a cache entry", url);
        // Older deployments answered conflicts with another status but the same exception type.
        if (/already ?exists/i.test(err.message)) return undefined;
        throw err;
      }
      const body = await readJson(res);
      if (typeof body?.cacheId !== "number")
        throw new KilnError("UNAVAILABLE", "gha cache: reserve answered without cacheId");
      return { key, id: String(body.cacheId) };
    },
    async upload(reservation, source, call) {
      const url = `${base}caches/${reservation.id}`;
      const limit = pLimit(tuning.concurrency);
      const starts = Array.from(
        { length: Math.ceil(source.size / tuning.chunkSize) },
        (_, i) => i * tuning.chunkSize,
      );
      await Promise.all(
        starts.map((start) =>
          limit(async () => {
            const end = Math.min(source.size, start + tuning.chunkSize);
            const res = await send(
              t,
              {
                method: "PATCH",
                url,
                headers: {
                  accept: ACCEPT,
                  "content-type": "application/octet-stream",
                  "content-range": `bytes ${start}-${end - 1}/*`,
                  "content-length": String(end - start),
                },
                body: () => source.slice(start, end),
                service: true,
              },
              call,
              "uploading a chunk",
            );
            if (res.status < 200 || res.status >= 300) throw await statusError(res, "uploading a chunk", url);
            await res.body.dump();
          }),
        ),
      );
    },
    async commit(reservation, size, call) {
      const url = `${base}caches/${reservation.id}`;
      const res = await send(
        t,
        { method: "POST", url, ...json({ size }), service: true },
        call,
        "committing a cache entry",
      );
      if (res.status < 200 || res.status >= 300)
        throw await statusError(res, "committing a cache entry", url);
      await res.body.dump();
    },
  };
}
