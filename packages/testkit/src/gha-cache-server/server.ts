import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ACCOUNT, CONTAINER, createBlobEndpoint } from "./blob-endpoint.js";
import { readBody, sendJson } from "./http-util.js";
import { handleRest, REST_MARKER } from "./rest.js";
import { type CacheEntry, createCacheState } from "./state.js";
import {
  type GhaCacheScope,
  mintRuntimeToken,
  READ,
  scopeOrder,
  verifyRuntimeToken,
  WRITE,
} from "./token.js";
import { handleTwirp, TWIRP_PREFIX, twirpError } from "./twirp.js";

export interface GhaCacheServerOptions {
  /** Scopes of the default token (`server.token`); default: write+read `refs/heads/main`. */
  readonly scopes?: readonly GhaCacheScope[];
  /**
   * Throttles the cache service API like GitHub does (about 150 requests per 5 minutes): past `limit`
   * requests in a fixed window of `windowMs`, requests get 429 with `Retry-After` (whole seconds until
   * the window resets). Blob transfers are not counted, as on the real service.
   */
  readonly rateLimit?: { readonly limit: number; readonly windowMs: number };
}

export interface GhaCacheServerStats {
  /** Requests to the cache service API (Twirp and REST), throttled ones included. */
  serviceRequests: number;
  throttled: number;
  blobRequests: number;
  /**
   * Requests by operation: Twirp method names, `rest:<METHOD> <resource kind>` for v1 (e.g.
   * `rest:PATCH caches/{id}`), and `blob:PutBlob|PutBlock|PutBlockList|GET|HEAD` for the blob endpoint.
   */
  operations: Record<string, number>;
}

export interface GhaCacheServer {
  /** `http://127.0.0.1:<port>/`: both ACTIONS_RESULTS_URL (v2) and ACTIONS_CACHE_URL (v1). */
  readonly url: string;
  /** A runtime token (JWT with `ac` scopes) this server accepts. */
  readonly token: string;
  readonly stats: GhaCacheServerStats;
  /** Another accepted token with other scopes, e.g. a pull request that reads main's cache. */
  issueToken(scopes: readonly GhaCacheScope[]): string;
  /** The environment `@actions/cache` and buildx read, for API `version` 1 or 2. */
  env(version: 1 | 2): Record<string, string>;
  /** A snapshot of all entries, reserved and finalized. */
  entries(): readonly Readonly<CacheEntry>[];
  close(): Promise<void>;
}

/**
 * A faithful local GitHub Actions cache service on 127.0.0.1: the v2 Twirp API with Azure-style blob
 * URLs (Put Blob, Put Block, Put Block List, ranged GET) and the legacy v1 REST API, bearer-token auth,
 * per-scope immutable entries, the service's key/restore-key matching, and optional rate limiting.
 */
export async function startGhaCacheServer(options: GhaCacheServerOptions = {}): Promise<GhaCacheServer> {
  const secret = randomBytes(32);
  const state = createCacheState();
  const stats: GhaCacheServerStats = { serviceRequests: 0, throttled: 0, blobRequests: 0, operations: {} };
  const count = (op: string) => {
    stats.operations[op] = (stats.operations[op] ?? 0) + 1;
  };
  let baseUrl = "";
  const blobs = createBlobEndpoint(state, () => baseUrl, secret);
  let window = { start: Date.now(), count: 0 };

  /** True when the request was answered with 429. */
  function throttle(res: ServerResponse, v2: boolean): boolean {
    const limit = options.rateLimit;
    if (!limit) return false;
    const now = Date.now();
    if (now - window.start >= limit.windowMs) window = { start: now, count: 0 };
    window.count++;
    if (window.count <= limit.limit) return false;
    stats.throttled++;
    const retryAfter = String(Math.max(1, Math.ceil((window.start + limit.windowMs - now) / 1000)));
    const msg = "Request was blocked due to exceeding usage of resource 'Count' in namespace ''.";
    if (v2) twirpError(res, "resource_exhausted", msg, { "retry-after": retryAfter });
    else
      sendJson(
        res,
        429,
        { $id: "1", message: msg, typeKey: "ThrottledException" },
        { "retry-after": retryAfter },
      );
    return true;
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname.startsWith(`/${ACCOUNT}/${CONTAINER}/`)) {
      stats.blobRequests++;
      const comp = url.searchParams.get("comp");
      count(
        `blob:${req.method === "PUT" ? (comp === "block" ? "PutBlock" : comp === "blocklist" ? "PutBlockList" : "PutBlob") : req.method}`,
      );
      return blobs.handle(req, res, url);
    }
    const twirpAt = url.pathname.indexOf(TWIRP_PREFIX);
    const restAt = url.pathname.indexOf(REST_MARKER);
    if (twirpAt < 0 && restAt < 0) {
      await readBody(req);
      return sendJson(res, 404, { message: `no route for ${url.pathname}` });
    }
    const v2 = twirpAt >= 0;
    stats.serviceRequests++;
    count(
      v2
        ? url.pathname.slice(twirpAt + TWIRP_PREFIX.length)
        : `rest:${req.method} ${url.pathname.slice(restAt + REST_MARKER.length).replace(/\/\d+$/, "/{id}")}`,
    );
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    const scopes = auth?.[1] ? verifyRuntimeToken(secret, auth[1]) : undefined;
    if (!scopes) {
      await readBody(req);
      if (v2) return twirpError(res, "unauthenticated", "invalid or missing bearer token");
      return sendJson(res, 401, { message: "invalid or missing bearer token" });
    }
    if (throttle(res, v2)) {
      await readBody(req);
      return;
    }
    const order = scopeOrder(scopes);
    const ctx = { state, blobs, writeScope: order.write, readScopes: order.read };
    if (v2) return handleTwirp(req, res, url.pathname.slice(twirpAt + TWIRP_PREFIX.length), ctx);
    return handleRest(req, res, url, url.pathname.slice(restAt + REST_MARKER.length), ctx);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { code: "internal", msg: String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const defaultScopes = options.scopes ?? [{ scope: "refs/heads/main", permission: READ | WRITE }];
  const token = mintRuntimeToken(secret, defaultScopes);

  return {
    url: baseUrl,
    token,
    stats,
    issueToken: (scopes) => mintRuntimeToken(secret, scopes),
    env(version) {
      const common = {
        ACTIONS_RUNTIME_TOKEN: token,
        ACTIONS_CACHE_URL: baseUrl,
        ACTIONS_RESULTS_URL: baseUrl,
      };
      return version === 2 ? { ...common, ACTIONS_CACHE_SERVICE_V2: "true" } : common;
    },
    entries: () => state.entries.map((e) => ({ ...e })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
