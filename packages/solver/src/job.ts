import {
  type CacheGraph,
  type CacheKeyDescription,
  type CacheKeyInfo,
  type CacheMap,
  cacheRecordDigest,
  contentCacheKey,
  type Digest,
  KilnError,
  type ProgressWriter,
  type SolverEdge,
  type SolverVertex,
} from "@kiln/core";
import type { FlightHandle, JoinOptions } from "./flight.js";
import { createJobProgress, edgeId } from "./job-progress.js";
import { type CacheKeyDep, cacheKey } from "./keys.js";
import { errorText, withVertex } from "./vertex-error.js";
import type { VertexState } from "./vertex-state.js";

export interface JobOptions<R> {
  readonly root: SolverEdge;
  readonly state: (vertex: SolverVertex) => VertexState<R>;
  readonly progress: ProgressWriter;
  readonly noCache: boolean;
  /** Fires when the job is canceled or has failed: the job then stops waiting on shared work. */
  readonly signal: AbortSignal;
  /** Records the job's first failure and aborts the job's signal. */
  readonly fail: (err: KilnError) => void;
  readonly track: (handle: FlightHandle) => void;
}

export interface Job<R> {
  resolve(edge: SolverEdge): Promise<R>;
  /** The edge's own key: fast key, else slow key, else `undefined` (volatile). */
  keyOf(edge: SolverEdge): Promise<Digest | undefined>;
  /** The keys and results this job learned, for writing a remote cache. */
  cacheGraph(root: SolverEdge): CacheGraph<R>;
}

/** One keyed edge as the job fills it in: keys as they are computed, the result once known. */
interface GraphEntry<R> {
  record: Digest;
  keys: CacheKeyInfo[];
  vertex?: Digest;
  name?: string;
  exportResult: boolean;
  result?: R;
}

interface FastKey<R> {
  readonly cm: CacheMap<R>;
  readonly volatile: boolean;
  readonly fast: Digest | undefined;
}

const ignore = (): void => {};

function memoized<T>(memo: Map<string, Promise<T>>, edge: SolverEdge, compute: () => Promise<T>): Promise<T> {
  const id = edgeId(edge);
  let promise = memo.get(id);
  if (!promise) {
    promise = compute();
    // Siblings of a failed branch may reject after nobody listens any more.
    promise.catch(ignore);
    memo.set(id, promise);
  }
  return promise;
}

/**
 * One solve call. Resolution is top-down and lazy: an edge's keys need only its ancestors' cache maps
 * (and the results of inputs that are content-hashed); its inputs are resolved only when neither key
 * hits the cache. Per-job memo tables make each edge resolve once per job; the shared vertex states
 * make each op call happen once across jobs.
 */
export function createJob<R>(o: JobOptions<R>): Job<R> {
  const progress = createJobProgress(o.root, o.progress);
  const join: JoinOptions = { signal: o.signal, track: o.track };
  const fastMemo = new Map<string, Promise<FastKey<R>>>();
  const slowMemo = new Map<string, Promise<Digest | undefined>>();
  const keyMemo = new Map<string, Promise<Digest | undefined>>();
  const resolveMemo = new Map<string, Promise<R>>();
  const graph = new Map<string, GraphEntry<R>>();
  const descriptions = new Map<Digest, CacheKeyDescription>();
  const describeKey = (key: Digest) => descriptions.get(key);
  const contentEntries = new Map<Digest, GraphEntry<R>>();

  function noteKey(edge: SolverEdge, cm: CacheMap<R>, info: CacheKeyInfo): void {
    const id = edgeId(edge);
    let entry = graph.get(id);
    if (!entry) {
      entry = {
        record: cacheRecordDigest(cm.digest, edge.index),
        keys: [],
        vertex: edge.vertex.digest,
        name: edge.vertex.name,
        exportResult: edge.vertex.metadata.exportCache !== false,
      };
      graph.set(id, entry);
    }
    if (!entry.keys.some((k) => k.key === info.key)) entry.keys.push(info);
    descriptions.set(info.key, { record: entry.record, deps: info.deps });
  }

  function noteResult(edge: SolverEdge, result: R): void {
    const entry = graph.get(edgeId(edge));
    if (entry) entry.result = result;
  }

  // BuildKit links a content-hashed input as a root record "<content>@-1" with an empty selector.
  function contentLink(content: Digest): CacheKeyDep {
    const key = contentCacheKey(content);
    if (!contentEntries.has(key)) {
      const record = cacheRecordDigest(content, -1);
      contentEntries.set(key, { record, keys: [{ key, deps: [] }], exportResult: false });
      descriptions.set(key, { record, deps: [] });
    }
    return { key };
  }

  // Errors from the job's own cancellation pass through; the first real failure aborts the job.
  function failure(vertex: SolverVertex, err: unknown): unknown {
    if (o.signal.aborted) return err;
    const wrapped = withVertex(err, vertex);
    o.fail(wrapped);
    return wrapped;
  }

  async function opStep<T>(vertex: SolverVertex, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw failure(vertex, err);
    }
  }

  function fastKey(edge: SolverEdge): Promise<FastKey<R>> {
    return memoized(fastMemo, edge, async () => {
      const { vertex } = edge;
      const cm = await opStep(vertex, () => o.state(vertex).cacheMap(join));
      if (cm.volatile) return { cm, volatile: true, fast: undefined };
      const depKeys = await Promise.all(vertex.inputs.map(keyOf));
      const deps: CacheKeyDep[] = [];
      for (const [i, key] of depKeys.entries()) {
        if (key === undefined) return { cm, volatile: false, fast: undefined };
        deps.push({ key, selector: cm.deps[i]?.selector });
      }
      const fast = cacheKey(cm.digest, edge.index, deps);
      noteKey(edge, cm, { key: fast, deps });
      return { cm, volatile: false, fast };
    });
  }

  function slowKey(edge: SolverEdge): Promise<Digest | undefined> {
    return memoized(slowMemo, edge, async () => {
      const { cm, volatile } = await fastKey(edge);
      const { vertex } = edge;
      if (volatile || !cm.deps.some((dep) => dep.computeDigest)) return undefined;
      const deps = await Promise.all(
        vertex.inputs.map(async (input, i): Promise<CacheKeyDep | undefined> => {
          const selector = cm.deps[i]?.selector;
          const compute = cm.deps[i]?.computeDigest;
          if (!compute) {
            const key = await keyOf(input);
            return key === undefined ? undefined : { key, selector };
          }
          const result = await resolve(input);
          const content = await opStep(vertex, () => o.state(vertex).computeDigest(i, compute, result, join));
          return contentLink(content);
        }),
      );
      if (deps.some((dep) => dep === undefined)) return undefined;
      const slow = cacheKey(cm.digest, edge.index, deps as CacheKeyDep[]);
      noteKey(edge, cm, { key: slow, deps: deps as CacheKeyDep[] });
      return slow;
    });
  }

  function keyOf(edge: SolverEdge): Promise<Digest | undefined> {
    return memoized(keyMemo, edge, async () => {
      const { volatile, fast } = await fastKey(edge);
      const key = volatile ? undefined : (fast ?? (await slowKey(edge)));
      progress.knowKey(edge, key);
      return key;
    });
  }

  // A failing cache backend must not fail the build: report it and treat the lookup as a miss.
  async function load(edge: SolverEdge, key: Digest): Promise<R | undefined> {
    try {
      return await o.state(edge.vertex).load(key, join, describeKey);
    } catch (err) {
      if (o.signal.aborted) throw err;
      progress.warning(edge.vertex, `cache load failed, running the step instead: ${errorText(err)}`);
      return undefined;
    }
  }

  async function exec(edge: SolverEdge, inputs: R[]): Promise<R> {
    const { vertex } = edge;
    let started = false;
    const watcher = {
      started() {
        if (!started) started = progress.claimStart(vertex);
      },
      write: progress.forward,
    };
    let outputs: R[];
    try {
      outputs = await o.state(vertex).exec(inputs, watcher, { ...join, fresh: o.noCache });
    } catch (err) {
      const canceled = o.signal.aborted;
      const reported = failure(vertex, err);
      if (started) progress.completed(vertex, canceled ? "canceled" : errorText(reported));
      throw reported;
    }
    const result = Array.isArray(outputs) ? outputs[edge.index] : undefined;
    if (result === undefined) {
      const count = Array.isArray(outputs) ? outputs.length : 0;
      const err = failure(
        vertex,
        new KilnError("INTERNAL", `op returned ${count} results, output ${edge.index} missing`),
      );
      if (started) progress.completed(vertex, errorText(err));
      throw err;
    }
    if (started) progress.completed(vertex);
    return result;
  }

  async function save(edge: SolverEdge, keys: readonly (Digest | undefined)[], result: R): Promise<void> {
    const st = o.state(edge.vertex);
    await Promise.all(
      [...new Set(keys)].map(async (key) => {
        if (key === undefined) return;
        try {
          await st.save(edge.index, key, result, edge.vertex.name);
        } catch (err) {
          progress.warning(edge.vertex, `cache save failed: ${errorText(err)}`);
        }
      }),
    );
  }

  async function hit(edge: SolverEdge, result: R, alsoKey?: Digest): Promise<R> {
    noteResult(edge, result);
    progress.hit(edge);
    if (alsoKey !== undefined) await save(edge, [alsoKey], result);
    progress.settled(edge);
    return result;
  }

  function resolve(edge: SolverEdge): Promise<R> {
    return memoized(resolveMemo, edge, async () => {
      const skipLoad = o.noCache || edge.vertex.metadata.ignoreCache === true;
      const { fast } = await fastKey(edge);
      if (fast !== undefined && !skipLoad) {
        const cached = await load(edge, fast);
        if (cached !== undefined) return hit(edge, cached);
      }
      // Computing the content key resolves the inputs it reads; resolve the others meanwhile instead of
      // after a miss. That costs nothing extra: an input whose key is cached is only loaded, and an
      // input that must run makes this step's key new, so the step would need it anyway.
      const { cm } = await fastKey(edge);
      const inputsEarly = cm.deps.some((dep) => dep.computeDigest)
        ? Promise.all(edge.vertex.inputs.map(resolve))
        : undefined;
      inputsEarly?.catch(() => {});
      const slow = await slowKey(edge);
      if (slow !== undefined && !skipLoad) {
        const cached = await load(edge, slow);
        // Also file it under the (missed) fast key, so the next build hits without hashing content.
        if (cached !== undefined) {
          await inputsEarly?.catch(() => {});
          return hit(edge, cached, fast);
        }
      }
      const inputs = await (inputsEarly ?? Promise.all(edge.vertex.inputs.map(resolve)));
      const result = await exec(edge, inputs);
      noteResult(edge, result);
      await save(edge, [fast, slow], result);
      progress.settled(edge);
      return result;
    });
  }

  function cacheGraph(root: SolverEdge): CacheGraph<R> {
    const byKey = new Map<Digest, GraphEntry<R>>();
    for (const entry of [...graph.values(), ...contentEntries.values()]) {
      for (const { key } of entry.keys) byKey.set(key, entry);
    }
    return { byKey, root: (graph.get(edgeId(root))?.keys ?? []).map((k) => k.key) };
  }

  return { resolve, keyOf, cacheGraph };
}
