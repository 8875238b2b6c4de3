import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type BlobStore,
  type CallOptions,
  type Descriptor,
  type Digest,
  KilnError,
  throwIfAborted,
  type WritePointerOptions,
} from "@kiln/core";
import { Agent } from "undici";
import type { ActionsCacheApi } from "./api.js";
import { createApiV1 } from "./api-v1.js";
import { createApiV2 } from "./api-v2.js";
import { createEntryResolver } from "./entries.js";
import { blobKey, tokenScopes } from "./keys.js";
import { createRequestBudget } from "./limiter.js";
import type { GhaCacheOptions } from "./options.js";
import { createPointers } from "./pointers.js";
import { spoolVerified } from "./spool.js";
import type { Call, Transport } from "./transport.js";
import { verifying } from "./verify.js";

const MiB = 1024 * 1024;

/**
 * A BlobStore over the GitHub Actions cache service (API v1 or v2), with BuildKit's keys: blobs are
 * `buildkit-blob-1-<digest>` entries, pointers are BuildKit's `index-…#<n>` entries (see pointers.ts).
 * Entries are immutable, so `write` learns "already there" from the reservation conflict instead of
 * spending a lookup. Every service request goes through one token bucket (`rateLimit`), 429s pause it.
 */
export function createGhaBlobStore(options: GhaCacheOptions): BlobStore {
  const tuning = options.tuning ?? {};
  const dispatcher = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
  const warn =
    options.onWarning ?? ((message: string) => process.emitWarning(message, { code: "KILN_GHA_CACHE" }));
  const transport: Transport = {
    dispatcher,
    budget: createRequestBudget(options.rateLimit),
    token: options.token,
    retryBaseMs: tuning.retryBaseMs ?? 1000,
    warn,
  };
  const chunkSize = tuning.chunkSize ?? 32 * MiB;
  const concurrency = tuning.uploadConcurrency ?? 4;
  const api: ActionsCacheApi =
    options.apiVersion === 2
      ? createApiV2(transport, options.url, {
          blockSize: chunkSize,
          singleShotMax: tuning.singleShotMax ?? 64 * MiB,
          concurrency,
        })
      : createApiV1(transport, options.url, { chunkSize, concurrency });
  const entries = createEntryResolver(transport, api);
  /** Blob keys known to exist (written here or seen): a repeated write costs nothing. */
  const present = new Set<string>();
  let uploadedBytes = 0;
  let budgetWarned = false;

  const call = (o?: CallOptions): Call => ({ deadline: Date.now() + options.timeoutMs, signal: o?.signal });

  /** Reserve, upload, commit; false when the key is taken (exists, or another writer is on it). */
  async function putEntry(
    key: string,
    data: { size: number; slice: (s: number, e: number) => Readable | Uint8Array },
    c: Call,
  ) {
    const reservation = await api.reserve(key, data.size, c);
    if (!reservation) return false;
    await api.upload(reservation, data, c);
    await api.commit(reservation, data.size, c);
    return true;
  }

  const pointers = createPointers(
    transport,
    api,
    tokenScopes(options.token),
    { lockTimeoutMs: tuning.pointerLockTimeoutMs ?? 15_000, pollMs: tuning.pointerPollMs ?? 2_000 },
    (key, bytes, c) => putEntry(key, { size: bytes.byteLength, slice: (s, e) => bytes.subarray(s, e) }, c),
  );

  async function info(digest: Digest, o?: CallOptions) {
    throwIfAborted(o?.signal);
    const res = await entries.fetch(blobKey(digest), "HEAD", call(o));
    if (!res) return undefined;
    await res.body.dump();
    const size = Number(res.headers["content-length"]);
    const modified = res.headers["last-modified"];
    present.add(blobKey(digest));
    return {
      size,
      ...(typeof modified === "string" && !Number.isNaN(Date.parse(modified))
        ? { updatedAt: new Date(modified) }
        : {}),
    };
  }

  async function read(desc: Descriptor, o?: CallOptions): Promise<Readable> {
    throwIfAborted(o?.signal);
    const res = await entries.fetch(blobKey(desc.digest), "GET", call(o));
    if (!res) {
      throw new KilnError("NOT_FOUND", `blob ${desc.digest} is not in the GitHub Actions cache`, {
        hint: "the service evicts entries unused for 7 days or when the repository passes its size limit",
      });
    }
    const out = verifying(desc);
    pipeline(res.body, out).catch(() => {
      // The error already reached the consumer through `out`.
    });
    return out;
  }

  async function write(desc: Descriptor, body: Readable, o?: CallOptions): Promise<void> {
    if (o?.signal?.aborted) {
      body.destroy();
      throwIfAborted(o.signal);
    }
    const key = blobKey(desc.digest);
    if (present.has(key)) {
      body.destroy();
      return;
    }
    const spooled = await spoolVerified(desc, body, tuning.memorySpoolMax ?? 8 * MiB, o?.signal);
    try {
      if (options.sizeBudget !== undefined && uploadedBytes + desc.size > options.sizeBudget) {
        warn(
          `gha cache: not uploading ${desc.digest} (${desc.size} bytes): size_budget of ${options.sizeBudget} bytes reached${
            budgetWarned ? "" : "; later imports miss this layer (raise size_budget=… or use mode=min)"
          }`,
        );
        budgetWarned = true;
        return;
      }
      // Counted before the upload so that concurrent writes cannot overshoot the budget together.
      uploadedBytes += desc.size;
      let stored = false;
      try {
        stored = await putEntry(key, spooled, call(o));
      } finally {
        if (!stored) uploadedBytes -= desc.size;
      }
      present.add(key);
    } finally {
      await spooled.release();
    }
  }

  return {
    type: "gha",
    capabilities: { rangeReads: false, touch: false, conditionalPointers: true },
    info,
    read,
    write,
    async readPointer(name, o) {
      throwIfAborted(o?.signal);
      return pointers.read(name, call(o));
    },
    async writePointer(name: string, data: Uint8Array, o: WritePointerOptions = {}) {
      throwIfAborted(o.signal);
      return pointers.write(name, data, o, call(o));
    },
    async close() {
      await dispatcher.close();
    },
  };
}
