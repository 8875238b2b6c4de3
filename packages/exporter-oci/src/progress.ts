import { randomBytes } from "node:crypto";
import type { ProgressWriter } from "@kiln/core";

export interface ExportStep {
  status(text: string): void;
  done(err?: unknown): void;
}

/**
 * Exporter progress as one vertex (like BuildKit's "exporting to …" step) whose status lines name the
 * current phase. Exporters are not LLB vertices, so the vertex key is random rather than a digest.
 */
export function exportStep(progress: ProgressWriter, name: string): ExportStep {
  const vertex = `export:${randomBytes(8).toString("hex")}`;
  progress.write({ type: "vertex.started", vertex, name, time: Date.now() });
  let finished = false;
  return {
    status(text) {
      progress.write({ type: "vertex.status", vertex, id: text, current: 1, total: 1, time: Date.now() });
    },
    done(err) {
      if (finished) return;
      finished = true;
      const error = err === undefined ? {} : { error: err instanceof Error ? err.message : String(err) };
      progress.write({ type: "vertex.completed", vertex, name, time: Date.now(), ...error });
    },
  };
}
