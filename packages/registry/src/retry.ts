import { setTimeout as sleep } from "node:timers/promises";
import { isCanceled, KilnError, redactCredentials, throwIfAborted } from "@kiln/core";

/** How often and how patiently transient failures are retried. */
export interface RetryPolicy {
  /** Attempts in total, the first included (default 5). */
  readonly attempts?: number;
  /** Delay before the second attempt; doubles each time (default 200 ms). */
  readonly baseDelayMs?: number;
  /** Upper bound of one delay, `Retry-After` included (default 30 s). */
  readonly maxDelayMs?: number;
}

/**
 * A failure worth trying again: 5xx, 429, 408, a reset or refused connection. `retryAfterMs` comes
 * from the server's `Retry-After`.
 */
export class TransientError extends Error {
  override readonly name = "TransientError";
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** True for errors a new attempt may cure: server overload and broken connections. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
  }
  return false;
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Delay before attempt `attempt + 1`: exponential with full jitter, or the server's Retry-After. */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const max = policy.maxDelayMs ?? 30_000;
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, max);
  const base = policy.baseDelayMs ?? 200;
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  // Half fixed, half random: spreads clients apart without ever retrying instantly.
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Runs `attempt` until it succeeds, fails permanently, or the attempts run out (UNAVAILABLE with the
 * last failure as cause). Only `isTransient` failures are retried; the signal stops the waiting too.
 */
export async function withRetries<T>(
  what: string,
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, policy.attempts ?? 5);
  for (let n = 1; ; n++) {
    throwIfAborted(signal);
    try {
      return await attempt(n);
    } catch (err) {
      if (isCanceled(err) || signal?.aborted) {
        throw new KilnError("CANCELED", `${what}: canceled`, { cause: signal?.reason ?? err });
      }
      if (!isTransient(err)) throw asKilnError(what, err);
      if (n >= attempts) {
        throw new KilnError("UNAVAILABLE", `${what}: failed after ${n} attempts: ${describe(err)}`, {
          cause: err,
          hint: "the registry or the network is failing; try again later",
        });
      }
      const delay = backoffDelay(n, policy, err instanceof TransientError ? err.retryAfterMs : undefined);
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        throw new KilnError("CANCELED", `${what}: canceled`, { cause: signal?.reason });
      }
    }
  }
}

/** An error's message (and its code, for socket errors) with credentials removed. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return redactCredentials(String(err));
  const code = (err as { code?: unknown }).code;
  const causeCode = (err.cause as { code?: unknown } | undefined)?.code;
  const suffix =
    typeof code === "string" ? ` (${code})` : typeof causeCode === "string" ? ` (${causeCode})` : "";
  return redactCredentials(`${err.message}${suffix}`);
}

const TLS_VERIFY_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/;

/** Socket and TLS errors become KilnErrors that say what was being done; KilnErrors pass through. */
function asKilnError(what: string, err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const code = String((err as { code?: unknown }).code ?? "");
  if (TLS_VERIFY_ERROR.test(code)) {
    return new KilnError("FAILED_PRECONDITION", `${what}: TLS verification failed: ${describe(err)}`, {
      cause: err,
      hint: 'trust the registry\'s CA in kiln.toml ([registry."host:port"] ca = ["ca.pem"]) or set insecure = true',
    });
  }
  return new KilnError("UNAVAILABLE", `${what}: ${describe(err)}`, { cause: err });
}
