import type { Digest, ProgressEvent, ProgressWriter, SolverEdge, SolverVertex } from "@kiln/core";

export const edgeId = (edge: SolverEdge): string => `${edge.vertex.digest}#${edge.index}`;

/**
 * One job's view of progress: every vertex is reported at most once per job (cached, or
 * started+completed). Ancestors skipped because a descendant was loaded from cache are reported as
 * cached once no unfinished part of the job can still need them (see `flushSkipped`).
 */
export interface JobProgress {
  /** Passes an op's own event (log, status, warning) through. */
  forward(event: ProgressEvent): void;
  /** The job's key for an edge, once computed (`undefined` = volatile). */
  knowKey(edge: SolverEdge, key: Digest | undefined): void;
  /** A vertex this job loaded from cache. */
  hit(edge: SolverEdge): void;
  /** An edge whose result this job now has (loaded or executed). */
  settled(edge: SolverEdge): void;
  /** Claims the vertex for a started/completed pair; false when it was already reported. */
  claimStart(vertex: SolverVertex): boolean;
  completed(vertex: SolverVertex, error?: string): void;
  warning(vertex: SolverVertex, message: string): void;
}

export function createJobProgress(root: SolverEdge, writer: ProgressWriter): JobProgress {
  const reported = new Set<string>();
  const keys = new Map<string, Digest | undefined>();
  const settledEdges = new Set<string>();
  const hits: SolverEdge[] = [];
  // Vertices in dependency order (inputs first), so cached steps are reported the way a user reads
  // the build: FROM before COPY before RUN, like BuildKit.
  const order = topologicalOrder(root);

  const write: ProgressWriter["write"] = (event) => {
    try {
      writer.write(event);
    } catch {
      // Writers must not throw; a broken renderer must not fail the build either.
    }
  };

  function cached(vertex: SolverVertex): void {
    if (reported.has(vertex.digest)) return;
    reported.add(vertex.digest);
    write({ type: "vertex.cached", vertex: vertex.digest, name: vertex.name, time: Date.now() });
  }

  /** Vertices still reachable from the root without crossing an edge whose result the job already has. */
  function liveVertices(): Set<string> {
    const live = new Set<string>();
    const seen = new Set<string>();
    const stack: SolverEdge[] = [root];
    for (let edge = stack.pop(); edge; edge = stack.pop()) {
      const id = edgeId(edge);
      if (seen.has(id) || settledEdges.has(id)) continue;
      seen.add(id);
      live.add(edge.vertex.digest);
      stack.push(...edge.vertex.inputs);
    }
    return live;
  }

  // Reporting a skipped ancestor as cached while another branch might still execute it would report
  // it twice, so only ancestors outside the live part of the graph are reported.
  function flushSkipped(): void {
    const live = liveVertices();
    const pending = new Map<string, SolverVertex>();
    for (const h of hits) if (!reported.has(h.vertex.digest)) pending.set(h.vertex.digest, h.vertex);
    const stack: SolverEdge[] = hits.flatMap((h) => h.vertex.inputs);
    for (let edge = stack.pop(); edge; edge = stack.pop()) {
      const { digest } = edge.vertex;
      if (live.has(digest) || reported.has(digest) || pending.has(digest)) continue;
      if (keys.get(edgeId(edge)) === undefined) continue;
      pending.set(digest, edge.vertex);
      stack.push(...edge.vertex.inputs);
    }
    const sorted = [...pending.values()].sort(
      (a, b) => (order.get(a.digest) ?? 0) - (order.get(b.digest) ?? 0),
    );
    for (const vertex of sorted) cached(vertex);
  }

  return {
    forward: write,
    knowKey(edge, key) {
      keys.set(edgeId(edge), key);
    },
    hit(edge) {
      // Reported by the `settled` call that follows, together with the ancestors it made unnecessary.
      hits.push(edge);
    },
    settled(edge) {
      settledEdges.add(edgeId(edge));
      if (hits.length > 0) flushSkipped();
    },
    claimStart(vertex) {
      if (reported.has(vertex.digest)) return false;
      reported.add(vertex.digest);
      write({ type: "vertex.started", vertex: vertex.digest, name: vertex.name, time: Date.now() });
      return true;
    },
    completed(vertex, error) {
      write({
        type: "vertex.completed",
        vertex: vertex.digest,
        name: vertex.name,
        time: Date.now(),
        ...(error === undefined ? {} : { error }),
      });
    },
    warning(vertex, message) {
      write({ type: "warning", vertex: vertex.digest, message, time: Date.now() });
    },
  };
}

function topologicalOrder(root: SolverEdge): Map<string, number> {
  const order = new Map<string, number>();
  let next = 0;
  const visit = (vertex: SolverVertex) => {
    if (order.has(vertex.digest)) return;
    order.set(vertex.digest, -1);
    for (const input of vertex.inputs) visit(input.vertex);
    order.set(vertex.digest, next++);
  };
  visit(root.vertex);
  return order;
}
