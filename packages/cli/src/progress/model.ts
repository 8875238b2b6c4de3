import type { ProgressEvent } from "@kiln/core";

/** What the renderers know about a vertex, folded from progress events. */
export interface VertexView {
  readonly digest: string;
  readonly number: number;
  name: string;
  started?: number;
  completed?: number;
  cached: boolean;
  error?: string;
  logs: string[];
}

export interface ProgressModel {
  readonly vertices: Map<string, VertexView>;
  readonly warnings: string[];
  readonly startedAt: number;
  apply(event: ProgressEvent): VertexView | undefined;
}

export function createProgressModel(now = Date.now()): ProgressModel {
  const vertices = new Map<string, VertexView>();
  const warnings: string[] = [];
  const view = (digest: string, name: string): VertexView => {
    let v = vertices.get(digest);
    if (!v) {
      v = { digest, number: vertices.size + 1, name, cached: false, logs: [] };
      vertices.set(digest, v);
    }
    return v;
  };
  return {
    vertices,
    warnings,
    startedAt: now,
    apply(event) {
      switch (event.type) {
        case "vertex.started": {
          const v = view(event.vertex, event.name);
          v.started ??= event.time;
          return v;
        }
        case "vertex.cached": {
          const v = view(event.vertex, event.name);
          v.cached = true;
          v.started ??= event.time;
          v.completed = event.time;
          return v;
        }
        case "vertex.completed": {
          const v = view(event.vertex, event.name);
          v.completed = event.time;
          if (event.error) v.error = event.error;
          return v;
        }
        case "vertex.log": {
          const v = vertices.get(event.vertex);
          if (v) v.logs.push(...event.data.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1));
          return v;
        }
        case "warning":
          warnings.push(
            event.location
              ? `${event.location.file}:${event.location.line}: ${event.message}`
              : event.message,
          );
          return undefined;
        default:
          return undefined;
      }
    },
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
