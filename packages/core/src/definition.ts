/**
 * The build graph as it crosses from a frontend (or `@kiln/llb`) to the solver: BuildKit's
 * `pb.Definition`. `def` holds protobuf-encoded `pb.Op`s, inputs before dependents, the last entry a
 * terminal op that only points at the result. An op's digest is sha256 of its exact bytes;
 * `metadata` is keyed by that digest and never part of it.
 */
export interface OpMetadata {
  ignoreCache?: boolean;
  description?: Record<string, string>;
  exportCache?: boolean;
  caps?: Record<string, boolean>;
  progressGroup?: { id: string; name: string; weak: boolean };
}

export interface SourcePosition {
  line: number;
  character: number;
}

export interface SourceRange {
  start: SourcePosition;
  end: SourcePosition;
}

/** Source maps: which lines of which file produced an op (used for error messages). */
export interface SourceInfo {
  filename: string;
  data?: Uint8Array;
  language?: string;
}

export interface SourceLocations {
  sourceIndex: number;
  ranges: SourceRange[];
}

export interface Definition {
  readonly def: readonly Uint8Array[];
  readonly metadata: Readonly<Record<string, OpMetadata>>;
  readonly source?: {
    readonly infos: readonly SourceInfo[];
    readonly locations: Readonly<Record<string, readonly SourceLocations[]>>;
  };
}
