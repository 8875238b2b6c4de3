import type {
  CacheKeyDescription,
  CacheMap,
  CacheMapDep,
  CallOptions,
  Digest,
  Op,
  OpResolver,
  ProgressEvent,
  ProgressWriter,
  ResultCache,
  SolverVertex,
} from "@kiln/core";
import type { LimitFunction } from "p-limit";
import { canceledError, createFlightGroup, type JoinOptions } from "./flight.js";

/** A job watching an exec: told when the op really starts (after the parallelism gate) and given its logs. */
export interface ExecWatcher {
  started(): void;
  write(event: ProgressEvent): void;
}

/**
 * Everything the solver knows about one vertex digest, shared by every live job that references it.
 * Each expensive call (cacheMap, computeDigest, cache load, exec, save) runs at most once at a time and
 * its outcome is memoized until the last job referencing the digest ends.
 */
export interface VertexState<R> {
  readonly digest: Digest;
  /** Number of live jobs whose graph contains this digest. */
  refs: number;
  cacheMap(o: JoinOptions): Promise<CacheMap<R>>;
  computeDigest(
    dep: number,
    fn: NonNullable<CacheMapDep<R>["computeDigest"]>,
    input: R,
    o: JoinOptions,
  ): Promise<Digest>;
  load(
    key: Digest,
    o: JoinOptions,
    describeKey?: (key: Digest) => CacheKeyDescription | undefined,
  ): Promise<R | undefined>;
  /** `fresh` runs are kept apart from ordinary ones: a no-cache job must not reuse inputs loaded from cache. */
  exec(inputs: readonly R[], watcher: ExecWatcher, o: JoinOptions & { fresh: boolean }): Promise<R[]>;
  save(output: number, key: Digest, result: R, description: string): Promise<void>;
}

export interface VertexStateDeps<R> {
  readonly resolveOp: OpResolver<R>;
  readonly cache: ResultCache<R>;
  readonly limit: LimitFunction;
}

export function createVertexState<R>(vertex: SolverVertex, deps: VertexStateDeps<R>): VertexState<R> {
  const flights = createFlightGroup();
  const watchers = new Map<string, Set<ExecWatcher>>();
  const runs = new Map<string, { started: boolean }>();
  const saves = new Map<string, Promise<void>>();
  let op: Op<R> | undefined;
  const resolved = (): Op<R> => {
    op ??= deps.resolveOp(vertex);
    return op;
  };

  function watchersOf(key: string): Set<ExecWatcher> {
    let set = watchers.get(key);
    if (!set) {
      set = new Set();
      watchers.set(key, set);
    }
    return set;
  }

  // Logs go to every job waiting on this run right now, tagged with this vertex.
  function fanout(key: string): ProgressWriter {
    return {
      write(event) {
        const tagged = { ...event, vertex: vertex.digest } as ProgressEvent;
        for (const w of watchersOf(key)) w.write(tagged);
      },
    };
  }

  function execOnce(key: string, inputs: readonly R[], signal: AbortSignal): Promise<R[]> {
    const run = { started: false };
    runs.set(key, run);
    return new Promise<R[]>((resolve, reject) => {
      // A run abandoned while still queued for a parallelism slot settles at once, so a failing job
      // does not wait behind other jobs' long steps; its queued slot later sees the abort and no-ops.
      const onAbort = (): void => {
        if (!run.started) reject(canceledError(signal.reason));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      deps
        .limit(async () => {
          if (signal.aborted) return undefined;
          run.started = true;
          for (const w of watchersOf(key)) w.started();
          return resolved().exec(inputs, { signal, progress: fanout(key) });
        })
        .then(
          (outputs) => {
            signal.removeEventListener("abort", onAbort);
            if (outputs === undefined) reject(canceledError(signal.reason));
            else resolve(outputs);
          },
          (err: unknown) => {
            signal.removeEventListener("abort", onAbort);
            reject(err);
          },
        );
    });
  }

  return {
    digest: vertex.digest,
    refs: 0,
    cacheMap(o) {
      return flights.run("cachemap", (signal) => resolved().cacheMap({ signal }), o);
    },
    computeDigest(dep, fn, input, o) {
      return flights.run(`digest:${dep}`, (signal) => fn(input, { signal } satisfies CallOptions), o);
    },
    load(key, o, describeKey) {
      // Keys are pure functions of their structure, so whichever job describes the key first is right.
      return flights.run(
        `load:${key}`,
        (signal) => deps.cache.load(key, { signal, ...(describeKey ? { describeKey } : {}) }),
        o,
      );
    },
    async exec(inputs, watcher, o) {
      const key = o.fresh ? "exec:fresh" : "exec";
      const set = watchersOf(key);
      set.add(watcher);
      try {
        const outputs = flights.run(key, (signal) => execOnce(key, inputs, signal), o);
        // Joining a run that already started (or finished): this job sees it start now.
        if (runs.get(key)?.started) watcher.started();
        return await outputs;
      } finally {
        set.delete(watcher);
      }
    },
    save(output, key, result, description) {
      const id = `${output}:${key}`;
      let saving = saves.get(id);
      if (!saving) {
        saving = Promise.resolve().then(() =>
          deps.cache.save(key, result, { vertex: vertex.digest, description }),
        );
        saves.set(id, saving);
      }
      return saving;
    },
  };
}
