import { setTimeout as sleep } from "node:timers/promises";
import { KilnError } from "@kiln/core";

/**
 * The request budget shared by every call of one store: a token bucket (`requests` per `perMs`,
 * starting full) plus a pause that a 429 imposes on everybody, since the service counts the whole
 * repository and one throttled request means the next ones would be throttled too.
 */
export interface RequestBudget {
  /** Waits for a token and for any pause; UNAVAILABLE when that would pass `deadline`. */
  acquire(deadline: number, signal: AbortSignal | undefined): Promise<void>;
  /** Nobody sends before `Date.now() + ms`. */
  pause(ms: number): void;
  /** Requests granted so far. */
  readonly granted: number;
}

export function createRequestBudget(limit: { requests: number; perMs: number } | undefined): RequestBudget {
  const capacity = limit?.requests ?? Number.POSITIVE_INFINITY;
  const perMs = limit ? limit.requests / limit.perMs : Number.POSITIVE_INFINITY;
  let tokens = capacity;
  let refilledAt = Date.now();
  let pausedUntil = 0;
  let granted = 0;

  const refill = (now: number) => {
    if (Number.isFinite(capacity)) tokens = Math.min(capacity, tokens + (now - refilledAt) * perMs);
    refilledAt = now;
  };

  return {
    get granted() {
      return granted;
    },
    pause(ms) {
      pausedUntil = Math.max(pausedUntil, Date.now() + ms);
    },
    async acquire(deadline, signal) {
      for (;;) {
        const now = Date.now();
        refill(now);
        let wait = pausedUntil - now;
        if (wait <= 0) {
          if (tokens >= 1) {
            tokens -= 1;
            granted++;
            return;
          }
          wait = Math.ceil((1 - tokens) / perMs);
        }
        if (now + wait > deadline) {
          throw new KilnError(
            "UNAVAILABLE",
            "gha cache: maximum timeout reached while waiting for the request budget",
            {
              hint: "the repository's cache API budget is exhausted; raise timeout=… or export less (mode=min)",
            },
          );
        }
        await cancellableSleep(wait, signal);
      }
    },
  };
}

/** Sleeps, or throws CANCELED when the signal aborts. */
export async function cancellableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    throw new KilnError("CANCELED", "operation canceled", { cause: signal?.reason ?? err });
  }
}
