import type { IncomingMessage, ServerResponse } from "node:http";
import { parseJsonObject, readBody, sendEmpty, sendJson } from "./http-util.js";
import type { ServiceContext } from "./twirp.js";

export const REST_MARKER = "/_apis/artifactcache/";

/** v1 errors look like Azure DevOps exceptions; go-actions-cache keys conflicts on `typeKey`. */
function apiError(res: ServerResponse, status: number, typeKey: string, message: string) {
  sendJson(res, status, {
    $id: "1",
    innerException: null,
    message,
    typeName: `GitHub.Services.ArtifactCache.WebApi.${typeKey}, GitHub.Services.ArtifactCache.WebApi`,
    typeKey,
    errorCode: 0,
    eventId: 3000,
  });
}

/** The legacy v1 REST cache API: lookup, reserve, PATCH chunks with Content-Range, commit. */
export async function handleRest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  resource: string,
  ctx: ServiceContext,
) {
  const raw = await readBody(req);
  if (req.method === "GET" && resource === "cache") {
    const keys = (url.searchParams.get("keys") ?? "").split(",").filter((k) => k !== "");
    const version = url.searchParams.get("version") ?? "";
    if (keys.length === 0 || !version)
      return apiError(res, 400, "ArgumentException", "keys and version are required");
    const entry = ctx.state.find(ctx.readScopes, keys, version);
    if (!entry) return sendEmpty(res, 204);
    return sendJson(res, 200, {
      scope: entry.scope,
      cacheKey: entry.key,
      cacheVersion: entry.version,
      creationTime: entry.createdAt.toISOString(),
      archiveLocation: ctx.blobs.signedUrl(entry.blob, "r"),
    });
  }
  if (req.method === "POST" && resource === "caches") {
    const body = parseJsonObject(raw);
    const key = typeof body?.key === "string" ? body.key : "";
    const version = typeof body?.version === "string" ? body.version : "";
    const cacheSize = typeof body?.cacheSize === "number" ? body.cacheSize : undefined;
    if (!key || !version) return apiError(res, 400, "ArgumentException", "key and version are required");
    if (ctx.writeScope === undefined)
      return apiError(res, 403, "AccessDeniedException", "token has no write scope");
    const entry = ctx.state.reserve(ctx.writeScope, key, version, cacheSize);
    if (!entry) {
      return apiError(
        res,
        409,
        "ArtifactCacheItemAlreadyExistsException",
        `Cache already exists. Scope: ${ctx.writeScope}, Key: ${key}, Version: ${version}`,
      );
    }
    return sendJson(res, 201, { cacheId: entry.id });
  }
  const idMatch = /^caches\/(\d+)$/.exec(resource);
  const entry = idMatch ? ctx.state.entries.find((e) => e.id === Number(idMatch[1])) : undefined;
  if (idMatch && (!entry || entry.finalized || entry.scope !== ctx.writeScope)) {
    return apiError(res, 404, "ArtifactCacheEntryNotFoundException", `Cache entry ${idMatch[1]} not found`);
  }
  if (entry && req.method === "PATCH") {
    const range = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(String(req.headers["content-range"] ?? ""));
    if (!range || Number(range[2]) - Number(range[1]) + 1 !== raw.length) {
      return apiError(res, 400, "ArgumentException", "Content-Range is missing or does not match the body");
    }
    const chunks = ctx.state.chunks.get(entry.id) ?? [];
    chunks.push({ start: Number(range[1]), data: raw });
    ctx.state.chunks.set(entry.id, chunks);
    return sendEmpty(res, 204);
  }
  if (entry && req.method === "POST") {
    const size = parseJsonObject(raw)?.size;
    const chunks = (ctx.state.chunks.get(entry.id) ?? []).sort((a, b) => a.start - b.start);
    // The chunks must tile [0, size) exactly; a gap or overlap is a broken upload.
    let offset = 0;
    for (const c of chunks) {
      if (c.start !== offset)
        return apiError(res, 400, "ArgumentException", "uploaded chunks are not contiguous");
      offset += c.data.length;
    }
    if (typeof size !== "number" || size !== offset) {
      return apiError(
        res,
        400,
        "ArgumentException",
        `size ${String(size)} does not match the ${offset} bytes uploaded`,
      );
    }
    ctx.state.chunks.delete(entry.id);
    ctx.state.putBlob(entry.blob, Buffer.concat(chunks.map((c) => c.data)));
    entry.size = size;
    entry.finalized = true;
    return sendEmpty(res, 204);
  }
  return apiError(res, 404, "NotFoundException", `no route for ${req.method} ${resource}`);
}
