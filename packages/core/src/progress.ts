import type { SourceLocation } from "./errors.js";

/**
 * Build progress is a stream of events keyed by vertex digest. The solver writes them; the CLI renders
 * them (tty/plain/rawjson) or a daemon forwards them. Writers must never throw and never block.
 */
export type ProgressEvent =
  | { type: "vertex.started"; vertex: string; name: string; time: number }
  | { type: "vertex.cached"; vertex: string; name: string; time: number }
  | { type: "vertex.completed"; vertex: string; name: string; time: number; error?: string }
  | { type: "vertex.log"; vertex: string; stream: 1 | 2; data: string; time: number }
  | { type: "vertex.status"; vertex: string; id: string; current: number; total?: number; time: number }
  | { type: "warning"; vertex?: string; message: string; location?: SourceLocation; time: number };

export interface ProgressWriter {
  write(event: ProgressEvent): void;
}

export const noopProgress: ProgressWriter = { write() {} };
