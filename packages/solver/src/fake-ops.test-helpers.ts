import {
  type CacheMap,
  type CacheMapDep,
  type Digest,
  type Op,
  type OpExecOptions,
  type OpResolver,
  type ProgressEvent,
  type ProgressWriter,
  type ResultCache,
  type SolverEdge,
  type SolverVertex,
  sha256,
} from "@kiln/core";

/** Fake vertices in the style of BuildKit's scheduler tests: string results, call counters, no filesystem. */
export interface FakeSpec {
  readonly name: string;
  readonly inputs?: readonly (SolverVertex | SolverEdge)[];
  /** CacheMap digest seed; defaults to the name (so equal names give equal keys). */
  readonly cacheSeed?: string;
  readonly volatile?: boolean;
  readonly selectors?: readonly (string | undefined)[];
  /** Per input: content-hash it (sha256 of the input string) in the slow key. */
  readonly contentHashed?: readonly boolean[];
  readonly ignoreCache?: boolean;
  /** Custom exec; default returns `[name(input,...)]`. */
  readonly exec?: (inputs: readonly string[], o: OpExecOptions) => Promise<string[]>;
}

export interface Counters {
  cacheMap: number;
  exec: number;
  computeDigest: number;
  running: number;
  maxRunning: number;
  signals: AbortSignal[];
}

export function createFakeOps() {
  const counters = new Map<Digest, Counters>();
  const specs = new Map<Digest, FakeSpec>();
  let running = 0;
  let maxRunning = 0;

  const countersOf = (v: SolverVertex | Digest): Counters => {
    const digest = typeof v === "string" ? v : v.digest;
    let c = counters.get(digest);
    if (!c) {
      c = { cacheMap: 0, exec: 0, computeDigest: 0, running: 0, maxRunning: 0, signals: [] };
      counters.set(digest, c);
    }
    return c;
  };

  function vtx(spec: FakeSpec): SolverVertex {
    const inputs: SolverEdge[] = (spec.inputs ?? []).map((i) =>
      "vertex" in i ? i : { vertex: i, index: 0 },
    );
    const digest = sha256(
      JSON.stringify([spec.name, spec.cacheSeed ?? null, inputs.map((e) => `${e.vertex.digest}#${e.index}`)]),
    );
    specs.set(digest, spec);
    return {
      digest,
      name: spec.name,
      inputs,
      sys: spec,
      metadata: spec.ignoreCache ? { ignoreCache: true } : {},
    };
  }

  const resolveOp: OpResolver<string> = (vertex) => {
    const spec = vertex.sys as FakeSpec;
    const c = countersOf(vertex);
    const op: Op<string> = {
      async cacheMap() {
        c.cacheMap++;
        await tick();
        const deps: CacheMapDep<string>[] = vertex.inputs.map((_, i) => ({
          selector: spec.selectors?.[i],
          ...(spec.contentHashed?.[i]
            ? {
                computeDigest: async (input: string) => {
                  c.computeDigest++;
                  return sha256(`content:${input}`);
                },
              }
            : {}),
        }));
        const cm: CacheMap<string> = {
          digest: sha256(spec.cacheSeed ?? spec.name),
          deps,
          volatile: spec.volatile,
        };
        return cm;
      },
      async exec(inputs, o) {
        c.exec++;
        c.signals.push(o.signal as AbortSignal);
        running++;
        c.running++;
        maxRunning = Math.max(maxRunning, running);
        c.maxRunning = Math.max(c.maxRunning, c.running);
        try {
          if (spec.exec) return await spec.exec(inputs, o);
          await tick();
          return [`${spec.name}(${inputs.join(",")})`];
        } finally {
          running--;
          c.running--;
        }
      },
    };
    return op;
  };

  return {
    vtx,
    resolveOp,
    calls: countersOf,
    get maxRunning() {
      return maxRunning;
    },
  };
}

/** The real ResultCache contract over a Map, with a log of what was loaded and saved. */
export function createMemoryCache() {
  const entries = new Map<Digest, { result: string; vertex: Digest; description: string }>();
  const loads: Digest[] = [];
  const saves: { key: Digest; vertex: Digest; description: string }[] = [];
  const cache: ResultCache<string> = {
    async load(key) {
      loads.push(key);
      await tick();
      return entries.get(key)?.result;
    },
    async save(key, result, info) {
      saves.push({ key, ...info });
      entries.set(key, { result, ...info });
    },
  };
  return {
    cache,
    entries,
    loads,
    saves,
    keysOf: (v: SolverVertex) => [...entries].filter(([, e]) => e.vertex === v.digest).map(([k]) => k),
    forget(v: SolverVertex) {
      for (const [k, e] of entries) if (e.vertex === v.digest) entries.delete(k);
    },
  };
}

export function createRecorder(): ProgressWriter & { events: ProgressEvent[]; lines(): string[] } {
  const events: ProgressEvent[] = [];
  return {
    events,
    write: (e) => events.push(e),
    /** `type name` per vertex event (logs, statuses and warnings are left out). */
    lines: () =>
      events.flatMap((e) =>
        e.type === "vertex.started" || e.type === "vertex.cached" || e.type === "vertex.completed"
          ? [
              `${e.type.slice("vertex.".length)} ${e.name}${e.type === "vertex.completed" && e.error ? " !" : ""}`,
            ]
          : [],
      ),
  };
}

export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets other promise chains and timers run (a macrotask turn). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Resolves when `predicate` holds, polling once per macrotask; fails after `turns`. */
export async function until(predicate: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (predicate()) return;
    await tick();
  }
  throw new Error("condition not reached");
}

/** Resolves when the signal aborts. */
export const aborted = (signal: AbortSignal | undefined): Promise<void> =>
  new Promise((r) => (signal?.aborted ? r() : signal?.addEventListener("abort", () => r(), { once: true })));

export const edge = (vertex: SolverVertex, index = 0): SolverEdge => ({ vertex, index });

/** An exec that returns `[value]` once `gate` resolves. */
export const afterGate = (gate: Promise<unknown>, value: string) => async (): Promise<string[]> => {
  await gate;
  return [value];
};
