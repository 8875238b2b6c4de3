import { KilnError } from "@kiln/core";
import pLimit from "p-limit";
import type { ActionsCacheApi, BlobSource, Reservation } from "./api.js";
import { CACHE_VERSION } from "./keys.js";
import { type Call, readJson, send, statusError, type Transport } from "./transport.js";

const SERVICE = "twirp/github.actions.results.api.v1.CacheService";

export interface V2Tuning {
  readonly blockSize: number;
  readonly singleShotMax: number;
  readonly concurrency: number;
}

/**
 * API v2 (results-receiver): three Twirp JSON calls (proto field names, int64 as strings) and Azure
 * block-blob URLs for the bytes, which do not count against the service's request budget.
 */
export function createApiV2(t: Transport, baseUrl: string, tuning: V2Tuning): ActionsCacheApi {
  const base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;

  async function twirp(
    method: string,
    body: object,
    call: Call,
  ): Promise<{ status: number; json?: Record<string, unknown> }> {
    const url = `${base}${SERVICE}/${method}`;
    const payload = JSON.stringify(body);
    const res = await send(
      t,
      {
        method: "POST",
        url,
        headers: { "content-type": "application/json" },
        body: () => payload,
        service: true,
      },
      call,
      method,
    );
    if (res.status === 409) {
      await res.body.dump();
      return { status: 409 };
    }
    if (res.status < 200 || res.status >= 300) throw await statusError(res, method, url);
    const json = await readJson(res);
    if (!json)
      throw new KilnError("UNAVAILABLE", `gha cache: ${method}: the service answered with invalid JSON`);
    return { status: res.status, json };
  }

  async function putBlock(
    url: string,
    blockId: string,
    source: BlobSource,
    start: number,
    end: number,
    call: Call,
  ) {
    const u = new URL(url);
    u.searchParams.set("comp", "block");
    u.searchParams.set("blockid", blockId);
    const res = await send(
      t,
      {
        method: "PUT",
        url: u.toString(),
        headers: { "content-length": String(end - start), "x-ms-version": "2024-11-04" },
        body: () => source.slice(start, end),
        service: false,
      },
      call,
      "uploading a block",
    );
    if (res.status !== 201) throw await statusError(res, "Put Block", url);
    await res.body.dump();
  }

  return {
    version: 2,
    async lookup(keys, call) {
      const [key, ...restore] = keys;
      const { json } = await twirp(
        "GetCacheEntryDownloadURL",
        { key, restore_keys: restore, version: CACHE_VERSION },
        call,
      );
      if (!json?.ok || typeof json.signed_download_url !== "string" || !json.signed_download_url)
        return undefined;
      return { key: String(json.matched_key ?? key), url: json.signed_download_url };
    },
    async reserve(key, _size, call) {
      const { status, json } = await twirp("CreateCacheEntry", { key, version: CACHE_VERSION }, call);
      if (status === 409) return undefined;
      if (!json?.ok || typeof json.signed_upload_url !== "string") {
        const message = String(json?.message ?? "");
        if (/already exists/i.test(message)) return undefined;
        throw new KilnError("UNAVAILABLE", `gha cache: CreateCacheEntry refused: ${message || "ok=false"}`);
      }
      return { key, id: key, uploadUrl: json.signed_upload_url };
    },
    async upload(reservation: Reservation, source, call) {
      const url = reservation.uploadUrl;
      if (!url) throw new KilnError("INTERNAL", "gha cache: v2 reservation without an upload URL");
      if (source.size <= tuning.singleShotMax) {
        // Put Blob: one request for the whole content.
        const res = await send(
          t,
          {
            method: "PUT",
            url,
            headers: {
              "content-length": String(source.size),
              "x-ms-blob-type": "BlockBlob",
              "x-ms-version": "2024-11-04",
            },
            body: () => source.slice(0, source.size),
            service: false,
          },
          call,
          "uploading a blob",
        );
        if (res.status !== 201) throw await statusError(res, "Put Blob", url);
        await res.body.dump();
        return;
      }
      // Put Block for each slice (same-length ids, as Azure requires), then Put Block List in order.
      const count = Math.ceil(source.size / tuning.blockSize);
      const ids = Array.from({ length: count }, (_, i) =>
        Buffer.from(`block-${String(i).padStart(8, "0")}`).toString("base64"),
      );
      const limit = pLimit(tuning.concurrency);
      await Promise.all(
        ids.map((id, i) =>
          limit(() =>
            putBlock(
              url,
              id,
              source,
              i * tuning.blockSize,
              Math.min(source.size, (i + 1) * tuning.blockSize),
              call,
            ),
          ),
        ),
      );
      const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
      const u = new URL(url);
      u.searchParams.set("comp", "blocklist");
      const res = await send(
        t,
        {
          method: "PUT",
          url: u.toString(),
          headers: { "content-type": "application/xml", "x-ms-version": "2024-11-04" },
          body: () => xml,
          service: false,
        },
        call,
        "committing blocks",
      );
      if (res.status !== 201) throw await statusError(res, "Put Block List", url);
      await res.body.dump();
    },
    async commit(reservation, size, call) {
      const { json } = await twirp(
        "FinalizeCacheEntryUpload",
        { key: reservation.key, size_bytes: String(size), version: CACHE_VERSION },
        call,
      );
      if (!json?.ok) {
        throw new KilnError(
          "UNAVAILABLE",
          `gha cache: FinalizeCacheEntryUpload refused: ${String(json?.message ?? "ok=false")}`,
        );
      }
    },
  };
}
