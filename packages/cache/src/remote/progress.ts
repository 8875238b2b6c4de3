import { randomBytes } from "node:crypto";
import type { ProgressWriter } from "@kiln/core";

export interface CacheStep {
  status(text: string): void;
  done(error?: string): void;
}

/**
 * A progress vertex for cache work (BuildKit shows "exporting cache to …" and "importing cache manifest
 * from …" as steps of their own). Not an LLB vertex, so its key is random.
 */
export function cacheStep(progress: ProgressWriter | undefined, name: string): CacheStep {
  if (!progress) return { status() {}, done() {} };
  const vertex = `cache:${randomBytes(8).toString("hex")}`;
  progress.write({ type: "vertex.started", vertex, name, time: Date.now() });
  let finished = false;
  return {
    status(text) {
      progress.write({ type: "vertex.status", vertex, id: text, current: 1, total: 1, time: Date.now() });
    },
    done(error) {
      if (finished) return;
      finished = true;
      progress.write({
        type: "vertex.completed",
        vertex,
        name,
        time: Date.now(),
        ...(error ? { error } : {}),
      });
    },
  };
}
