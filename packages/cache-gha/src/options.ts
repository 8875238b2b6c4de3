/** Resolved configuration of one GitHub Actions cache backend (see `parseGhaAttrs` for the attribute form). */
export interface GhaCacheOptions {
  /** BuildKit's `scope`: names the cache index (`index-<scope>-1-…`); default `buildkit`. */
  readonly scope: string;
  /** The runner's ACTIONS_RUNTIME_TOKEN. Sent only as a bearer header; never logged or put in errors. */
  readonly token: string;
  /** Base URL of the service: ACTIONS_RESULTS_URL for API v2, ACTIONS_CACHE_URL for v1. */
  readonly url: string;
  /** Cache service API: 2 (Twirp + blob URLs, current) or 1 (legacy REST, still used by GHES). */
  readonly apiVersion: 1 | 2;
  /** Upper bound for one operation including retries and rate-limit waits (BuildKit `timeout`, 10m). */
  readonly timeoutMs: number;
  /**
   * Client-side request budget for the cache *service* API (blob transfers on v2 are not counted):
   * a token bucket of `requests` refilled over `perMs`. GitHub allows about 150 per 5 minutes per
   * repository; the default stays at that so a lone build never trips the 429. `undefined`: no budget.
   */
  readonly rateLimit?: { readonly requests: number; readonly perMs: number } | undefined;
  /**
   * Bytes of blobs this store uploads at most; beyond that, blobs are skipped with a warning (a later
   * import just misses those layers). Protects the repository's 10 GB cache from LRU thrash.
   * `undefined`: unlimited.
   */
  readonly sizeBudget?: number | undefined;
  /** Receives warnings (skipped uploads, throttling); default: `process.emitWarning`. */
  readonly onWarning?: ((message: string) => void) | undefined;
  /** Advanced tuning (tests use small values to exercise every path). */
  readonly tuning?: GhaCacheTuning | undefined;
}

export interface GhaCacheTuning {
  /** v1 PATCH chunk size and v2 block size (default 32 MiB). */
  readonly chunkSize?: number;
  /** v2: up to this size a blob is one Put Blob request, above it Put Block + Put Block List (64 MiB). */
  readonly singleShotMax?: number;
  /** Parallel chunk/block uploads per blob (default 4). */
  readonly uploadConcurrency?: number;
  /** First retry delay after a transient failure; doubles up to 30 s (default 1 s). */
  readonly retryBaseMs?: number;
  /** Blobs up to this size are verified in memory, larger ones spill to a temp file (default 8 MiB). */
  readonly memorySpoolMax?: number;
  /**
   * How long a pointer slot reserved by a writer that never finished blocks the index before writers
   * move past it, like BuildKit's 15 s (default 15 s); `pointerPollMs` is the re-check interval (2 s).
   */
  readonly pointerLockTimeoutMs?: number;
  readonly pointerPollMs?: number;
}

export const DEFAULT_SCOPE = "buildkit";
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_RATE_LIMIT = { requests: 150, perMs: 5 * 60_000 } as const;
export const DEFAULT_SIZE_BUDGET = 10 * 1024 ** 3;
