import type { IncomingMessage, ServerResponse } from "node:http";
import type { BlobEndpoint } from "./blob-endpoint.js";
import { field, parseJsonObject, readBody, sendJson } from "./http-util.js";
import type { CacheState } from "./state.js";

export const TWIRP_PREFIX = "/twirp/github.actions.results.api.v1.CacheService/";

const TWIRP_STATUS: Record<string, number> = {
  invalid_argument: 400,
  malformed: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  internal: 500,
};

/** Twirp errors are JSON bodies `{code, msg}` with the code's HTTP status. */
export function twirpError(
  res: ServerResponse,
  code: string,
  msg: string,
  headers: Record<string, string> = {},
) {
  sendJson(res, TWIRP_STATUS[code] ?? 500, { code, msg }, headers);
}

export interface ServiceContext {
  readonly state: CacheState;
  readonly blobs: BlobEndpoint;
  /** Scope a reservation is created in; undefined when the token may only read. */
  readonly writeScope: string | undefined;
  readonly readScopes: readonly string[];
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The v2 cache service (results-receiver): three JSON Twirp methods, blobs through signed URLs. */
export async function handleTwirp(
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  ctx: ServiceContext,
) {
  if (req.method !== "POST") return twirpError(res, "bad_route", `unsupported method ${req.method}`);
  const contentType = req.headers["content-type"] ?? "";
  const raw = await readBody(req);
  if (!contentType.startsWith("application/json")) {
    return twirpError(res, "bad_route", `unexpected Content-Type: ${contentType}`);
  }
  const body = parseJsonObject(raw);
  if (!body) return twirpError(res, "malformed", "the json request could not be decoded");
  const key = str(field(body, "key")) ?? "";
  const version = str(field(body, "version")) ?? "";
  if (method === "CreateCacheEntry") {
    if (!key || !version) return twirpError(res, "invalid_argument", "key and version are required");
    if (ctx.writeScope === undefined) return twirpError(res, "permission_denied", "token has no write scope");
    const entry = ctx.state.reserve(ctx.writeScope, key, version);
    if (!entry) {
      return twirpError(
        res,
        "already_exists",
        "cache entry with the same key, version, and scope already exists",
      );
    }
    return sendJson(res, 200, { ok: true, signed_upload_url: ctx.blobs.signedUrl(entry.blob, "cw") });
  }
  if (method === "FinalizeCacheEntryUpload") {
    const sizeValue = field(body, "size_bytes");
    const size =
      typeof sizeValue === "string" || typeof sizeValue === "number" ? Number(sizeValue) : Number.NaN;
    if (!key || !version || !Number.isSafeInteger(size)) {
      return twirpError(res, "invalid_argument", "key, version and size_bytes are required");
    }
    const entry = ctx.state.entries.find(
      (e) => e.scope === ctx.writeScope && e.key === key && e.version === version && !e.finalized,
    );
    if (!entry) return twirpError(res, "not_found", "cache entry not found");
    const blob = ctx.state.blobs.get(entry.blob);
    if (!blob) return twirpError(res, "failed_precondition", "cache entry has no uploaded content");
    if (blob.data.length !== size)
      return twirpError(res, "invalid_argument", "size_bytes does not match the upload");
    entry.size = size;
    entry.finalized = true;
    return sendJson(res, 200, { ok: true, entry_id: String(entry.id) });
  }
  if (method === "GetCacheEntryDownloadURL") {
    const restore = field(body, "restore_keys");
    const restoreKeys = Array.isArray(restore)
      ? restore.filter((k): k is string => typeof k === "string")
      : [];
    if (!key || !version) return twirpError(res, "invalid_argument", "key and version are required");
    const entry = ctx.state.find(ctx.readScopes, [key, ...restoreKeys], version);
    if (!entry) return sendJson(res, 200, { ok: false, signed_download_url: "", matched_key: "" });
    return sendJson(res, 200, {
      ok: true,
      signed_download_url: ctx.blobs.signedUrl(entry.blob, "r"),
      matched_key: entry.key,
    });
  }
  return twirpError(res, "bad_route", `no handler for path ${TWIRP_PREFIX}${method}`);
}
