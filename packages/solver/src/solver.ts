import { availableParallelism } from "node:os";
import {
  type CacheGraph,
  type CallOptions,
  type Digest,
  KilnError,
  type OpResolver,
  type ProgressWriter,
  type ResultCache,
  type SolverEdge,
  type SolverVertex,
} from "@kiln/core";
import pLimit from "p-limit";
import type { FlightHandle } from "./flight.js";
import { createJob } from "./job.js";
import { createVertexState, type VertexState } from "./vertex-state.js";

export interface SolverOptions<R> {
  readonly resolveOp: OpResolver<R>;
  readonly cache: ResultCache<R>;
  /** Maximum number of `op.exec` calls running at once, across all jobs. Default: available CPUs. */
  readonly parallelism?: number;
}

export interface SolveOptions extends CallOptions {
  readonly progress: ProgressWriter;
  /** Never load results from the cache (results are still saved). */
  readonly noCache?: boolean;
}

export interface SolveResult<R> {
  readonly result: R;
  /** The root's cache key, or `undefined` when the root is volatile. */
  readonly key: Digest | undefined;
  /** Keys, links and results of every keyed edge of the job: what a remote cache export writes. */
  readonly cacheGraph: CacheGraph<R>;
}

export interface Solver<R> {
  /** Solves one graph (one job). Concurrent jobs share vertices with equal digests. */
  solve(root: SolverEdge, o: SolveOptions): Promise<SolveResult<R>>;
}

/**
 * A long-lived solver. Vertex states are shared by digest between the jobs that are running at the
 * same time and dropped when the last of them ends, so memoized results never outlive the jobs.
 */
export function createSolver<R>(opts: SolverOptions<R>): Solver<R> {
  const parallelism = opts.parallelism ?? availableParallelism();
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw new KilnError("INVALID_ARGUMENT", `parallelism must be a positive integer, got ${parallelism}`);
  }
  const deps = { resolveOp: opts.resolveOp, cache: opts.cache, limit: pLimit(parallelism) };
  const actives = new Map<Digest, VertexState<R>>();

  function acquire(root: SolverEdge): Map<Digest, VertexState<R>> {
    const states = new Map<Digest, VertexState<R>>();
    const stack: SolverVertex[] = [root.vertex];
    for (let vertex = stack.pop(); vertex; vertex = stack.pop()) {
      if (states.has(vertex.digest)) continue;
      let state = actives.get(vertex.digest);
      if (!state) {
        state = createVertexState(vertex, deps);
        actives.set(vertex.digest, state);
      }
      state.refs++;
      states.set(vertex.digest, state);
      for (const input of vertex.inputs) stack.push(input.vertex);
    }
    return states;
  }

  function release(states: Map<Digest, VertexState<R>>): void {
    for (const state of states.values()) {
      state.refs--;
      if (state.refs === 0 && actives.get(state.digest) === state) actives.delete(state.digest);
    }
  }

  async function solve(root: SolverEdge, o: SolveOptions): Promise<SolveResult<R>> {
    if (o.signal?.aborted) throw new KilnError("CANCELED", "build canceled", { cause: o.signal.reason });
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(o.signal?.reason);
    o.signal?.addEventListener("abort", onAbort, { once: true });
    let firstError: KilnError | undefined;
    const handles = new Set<FlightHandle>();
    const states = acquire(root);
    const job = createJob<R>({
      root,
      state: (vertex) => {
        const state = states.get(vertex.digest);
        if (!state) throw new KilnError("INTERNAL", `vertex ${vertex.digest} is not part of the job`);
        return state;
      },
      progress: o.progress,
      noCache: o.noCache === true,
      signal: controller.signal,
      fail: (err) => {
        if (firstError || controller.signal.aborted) return;
        firstError = err;
        controller.abort(err);
      },
      track: (handle) => handles.add(handle),
    });
    try {
      const result = await job.resolve(root);
      const key = await job.keyOf(root);
      return { result, key, cacheGraph: job.cacheGraph(root) };
    } catch (err) {
      if (!controller.signal.aborted) controller.abort(err);
      // Work this job alone was waiting for has been aborted; let it wind down before reporting.
      await Promise.all([...handles].filter((h) => h.abandoned).map((h) => h.done));
      if (firstError) throw firstError;
      if (o.signal?.aborted) throw new KilnError("CANCELED", "build canceled", { cause: o.signal.reason });
      if (err instanceof KilnError) throw err;
      throw new KilnError("INTERNAL", `solve failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      release(states);
    }
  }

  return { solve };
}
