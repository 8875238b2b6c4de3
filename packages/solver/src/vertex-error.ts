import { isCanceled, KilnError, type SolverVertex } from "@kiln/core";

/**
 * Attaches the failing vertex to an op error. A KilnError keeps its code, message, hint, location,
 * details and cause (re-created only when `vertex` is missing, because its fields are readonly);
 * anything else becomes INTERNAL (or CANCELED for an abort) with the original as `cause`.
 */
export function withVertex(err: unknown, vertex: SolverVertex): KilnError {
  if (err instanceof KilnError) {
    if (err.vertex !== undefined) return err;
    const wrapped = new KilnError(err.code, err.message, {
      hint: err.hint,
      location: err.location,
      details: err.details,
      cause: err.cause,
      vertex: vertex.digest,
    });
    if (err.stack !== undefined) wrapped.stack = err.stack;
    return wrapped;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KilnError(isCanceled(err) ? "CANCELED" : "INTERNAL", `${vertex.name}: ${message}`, {
    cause: err,
    vertex: vertex.digest,
  });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
