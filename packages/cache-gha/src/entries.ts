import { KilnError } from "@kiln/core";
import type { ActionsCacheApi, FoundEntry } from "./api.js";
import { type Call, type HttpResponse, send, statusError, type Transport } from "./transport.js";

/** Signed URLs last about as long on the service; re-resolving earlier costs budget for nothing. */
const URL_TTL_MS = 5 * 60_000;

/**
 * Lookups of exact keys, shared: concurrent callers of one key wait for a single request, and a hit
 * is remembered (with its signed URL) for a while, so `info` then `read` costs one service request.
 */
export interface EntryResolver {
  find(key: string, call: Call): Promise<FoundEntry | undefined>;
  forget(key: string): void;
  remember(key: string, entry: FoundEntry): void;
  /** GET or HEAD the entry's content; an expired URL (403) is resolved again once. */
  fetch(key: string, method: "GET" | "HEAD", call: Call): Promise<HttpResponse | undefined>;
}

export function createEntryResolver(t: Transport, api: ActionsCacheApi): EntryResolver {
  const known = new Map<string, { entry: FoundEntry; until: number }>();
  const inflight = new Map<string, Promise<FoundEntry | undefined>>();

  async function find(key: string, call: Call): Promise<FoundEntry | undefined> {
    const memo = known.get(key);
    if (memo && memo.until > Date.now()) return memo.entry;
    let pending = inflight.get(key);
    if (!pending) {
      pending = api
        .lookup([key], call)
        // The service also matches by prefix; only the exact key is this entry.
        .then((found) => (found?.key === key ? found : undefined))
        .finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    const found = await pending;
    if (found) known.set(key, { entry: found, until: Date.now() + URL_TTL_MS });
    return found;
  }

  return {
    find,
    forget: (key) => known.delete(key),
    remember: (key, entry) => known.set(key, { entry, until: Date.now() + URL_TTL_MS }),
    async fetch(key, method, call) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const entry = await find(key, call);
        if (!entry) return undefined;
        const res = await send(t, { method, url: entry.url, service: false }, call, `downloading ${key}`);
        if (res.status === 200 || res.status === 206) return res;
        if (res.status === 404) {
          await res.body.dump();
          known.delete(key);
          return undefined;
        }
        if ((res.status === 403 || res.status === 401) && attempt === 0) {
          await res.body.dump();
          known.delete(key);
          continue;
        }
        throw await statusError(res, `downloading ${key}`, entry.url);
      }
      throw new KilnError("UNAVAILABLE", `gha cache: the download URL for ${key} keeps being refused`);
    },
  };
}
