import type { CacheKeyDescription } from "./cache-keys.js";
import type { CallOptions } from "./call-options.js";
import type { OpMetadata } from "./definition.js";
import type { Digest } from "./digest.js";
import type { ProgressWriter } from "./progress.js";

/**
 * The solver's view of a build step. The solver is op-agnostic: it turns a Definition into vertices,
 * asks an injected `OpResolver` for an `Op` per vertex, and only ever calls `cacheMap()` and `exec()`.
 *
 * Cache keys: a vertex's key is derived from its CacheMap digest and, per input, either the input's own
 * key (definition-based, cheap) or a content digest of the paths the step reads from that input
 * (`computeDigest`, e.g. the files a COPY selects). Keys never include mtimes.
 */
export interface SolverVertex {
  /** sha256 of the op's protobuf bytes. */
  readonly digest: Digest;
  /** Human-readable name (metadata description `llb.customname`, or derived). */
  readonly name: string;
  readonly inputs: readonly SolverEdge[];
  /** The decoded op; its shape belongs to whoever wrote the Definition (`@kiln/llb`'s `pb.Op`). */
  readonly sys: unknown;
  readonly metadata: OpMetadata;
}

export interface SolverEdge {
  readonly vertex: SolverVertex;
  /** Output index of `vertex`. */
  readonly index: number;
}

export interface CacheMapDep<R> {
  /** Distinguishes what the step reads from this input (e.g. selected paths); part of the key. */
  readonly selector?: string;
  /** Content digest of what the step reads from this input; replaces the input's key when present. */
  readonly computeDigest?: (input: R, o: CallOptions) => Promise<Digest>;
}

export interface CacheMap<R> {
  readonly digest: Digest;
  /** One entry per op input, in input order. */
  readonly deps: readonly CacheMapDep<R>[];
  /** The result depends on something outside the definition (a local directory): never cached by key. */
  readonly volatile?: boolean;
}

export interface OpExecOptions extends CallOptions {
  /** Progress for this vertex: logs, status, warnings. */
  readonly progress: ProgressWriter;
}

export interface Op<R> {
  cacheMap(o: CallOptions): Promise<CacheMap<R>>;
  /** Runs the step. `inputs` follow the vertex's input order; returns one result per output. */
  exec(inputs: readonly R[], o: OpExecOptions): Promise<R[]>;
}

export type OpResolver<R> = (vertex: SolverVertex) => Op<R>;

/**
 * Persistent cache of results by key, shared by processes on one store. `save` may be called for a key
 * that another process saved meanwhile: both results are valid, either can be returned later.
 */
export interface ResultLoadOptions extends CallOptions {
  /**
   * How the solver built `key` and, recursively, every key it links: an imported remote cache matches
   * BuildKit's records against this structure (as BuildKit's cache query walks links) instead of
   * enumerating every key its records could stand for.
   */
  readonly describeKey?: (key: Digest) => CacheKeyDescription | undefined;
}

export interface ResultCache<R> {
  load(key: Digest, o?: ResultLoadOptions): Promise<R | undefined>;
  save(key: Digest, result: R, info: { vertex: Digest; description: string }): Promise<void>;
}
