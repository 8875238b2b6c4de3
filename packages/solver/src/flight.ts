import { KilnError } from "@kiln/core";

/**
 * Single-flight with shared cancellation: every caller of the same key joins one run of the work, and
 * the work's own AbortSignal fires only when the last caller still waiting has gone away. A finished
 * run stays memoized (value or error) for the life of the group; an abandoned one is forgotten so
 * the next caller starts afresh.
 */
export interface FlightHandle {
  /** Settles (never rejects) when the underlying work settles. */
  readonly done: Promise<void>;
  /** True when every caller left before the work finished, so its signal was aborted. */
  readonly abandoned: boolean;
}

export interface JoinOptions {
  /** The caller's signal: when it aborts, the caller stops waiting (rejects with CANCELED). */
  readonly signal: AbortSignal;
  /** Told about every run the caller joins, so a failing job can wait for what it abandoned. */
  readonly track?: (handle: FlightHandle) => void;
}

export interface FlightGroup {
  run<T>(key: string, work: (signal: AbortSignal) => Promise<T>, o: JoinOptions): Promise<T>;
}

interface Entry {
  readonly promise: Promise<unknown>;
  readonly controller: AbortController;
  readonly done: Promise<void>;
  waiters: number;
  settled: boolean;
  abandoned: boolean;
}

export function canceledError(reason: unknown): KilnError {
  return new KilnError("CANCELED", "operation canceled", { cause: reason });
}

const ignore = (): void => {};

export function createFlightGroup(): FlightGroup {
  const entries = new Map<string, Entry>();

  function start(key: string, work: (signal: AbortSignal) => Promise<unknown>): Entry {
    const controller = new AbortController();
    let promise: Promise<unknown>;
    try {
      promise = work(controller.signal);
    } catch (err) {
      promise = Promise.reject(err);
    }
    const entry: Entry = {
      promise,
      controller,
      done: promise.then(ignore, ignore),
      waiters: 0,
      settled: false,
      abandoned: false,
    };
    entry.done.then(() => {
      entry.settled = true;
    });
    entries.set(key, entry);
    return entry;
  }

  function leave(key: string, entry: Entry, reason: unknown): void {
    entry.waiters--;
    if (entry.waiters > 0 || entry.settled) return;
    entry.abandoned = true;
    if (entries.get(key) === entry) entries.delete(key);
    entry.controller.abort(reason);
  }

  return {
    run<T>(key: string, work: (signal: AbortSignal) => Promise<T>, o: JoinOptions): Promise<T> {
      const { signal } = o;
      if (signal.aborted) return Promise.reject(canceledError(signal.reason));
      const entry = entries.get(key) ?? start(key, work);
      entry.waiters++;
      o.track?.(entry);
      return new Promise<T>((resolve, reject) => {
        let waiting = true;
        const onAbort = (): void => {
          if (!waiting) return;
          waiting = false;
          leave(key, entry, signal.reason);
          reject(canceledError(signal.reason));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        const finish = (): boolean => {
          if (!waiting) return false;
          waiting = false;
          entry.waiters--;
          signal.removeEventListener("abort", onAbort);
          return true;
        };
        entry.promise.then(
          (value) => finish() && resolve(value as T),
          (err: unknown) => finish() && reject(err),
        );
      });
    },
  };
}
