import { type CallOptions, KilnError, type Mount, throwIfAborted } from "@kiln/core";

/** A host path where a snapshot's tree can be read (and written, unless `readOnly`). */
export interface MountedPath {
  readonly path: string;
  readonly readOnly: boolean;
  /** Undoes whatever was needed to expose `path` (an unmount for overlay); idempotent. */
  release(): Promise<void>;
}

/**
 * Turns the mounts returned by a snapshotter into a host path.
 *
 * A single bind mount needs no syscall: its source already is the tree. Every other shape (overlay
 * with lowerdir/upperdir, several mounts) needs a real mount into a temp directory and a `release`
 * that unmounts it; that arrives with the overlay snapshotter.
 */
export async function mountedPath(mounts: readonly Mount[], o: CallOptions = {}): Promise<MountedPath> {
  throwIfAborted(o.signal);
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined && only.type === "bind") {
    return { path: only.source, readOnly: only.options.includes("ro"), release: async () => {} };
  }
  const shape = mounts.map((m) => m.type).join(",") || "none";
  throw new KilnError("NOT_IMPLEMENTED", `mounting ${shape} mounts is not implemented yet`, {
    hint: "only a single bind mount (the native snapshotter) can be used for now",
    details: { mounts },
  });
}
