import type { CallOptions } from "./call-options.js";

/**
 * Snapshotter: the containerd-style contract for filesystem trees on disk.
 *
 * Vocabulary (never mixed up in parameter names):
 *   `key`    - an *active* snapshot (writable, or a read-only *view*), created by prepare()/view();
 *   `name`   - a *committed* snapshot, created by commit(); immutable;
 *   `parent` - the committed snapshot a new one starts from (its tree is visible in the child).
 *
 * Lifecycle: prepare(key, parent) → mount and write → commit(name, key) (the active `key` is gone
 * afterwards) → view(key, name) to read → remove(). Active snapshots never become committed ones except
 * through commit(); committed snapshots are never written again. A snapshot with children cannot be
 * removed (FAILED_PRECONDITION).
 *
 * Crash safety: every method leaves the store in a state a new process can open. Implementations write
 * to temporary names and rename into place; leftovers of a killed process are cleaned by `open`.
 */
export type SnapshotKind = "active" | "view" | "committed";

export interface SnapshotInfo {
  readonly kind: SnapshotKind;
  /** The key (active/view) or name (committed). */
  readonly name: string;
  readonly parent?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly created: Date;
  readonly updated: Date;
}

/** A serialized mount syscall (containerd's `mount.Mount`). `bind` sources are host paths. */
export interface Mount {
  readonly type: "bind" | "overlay" | (string & {});
  readonly source: string;
  readonly options: readonly string[];
}

export interface SnapshotOptions extends CallOptions {
  readonly labels?: Readonly<Record<string, string>>;
}

export interface SnapshotUsage {
  readonly size: number;
  readonly inodes: number;
}

export interface Snapshotter {
  readonly name: string;
  stat(keyOrName: string, o?: CallOptions): Promise<SnapshotInfo>;
  /** Disk usage of this snapshot alone, excluding its parents. */
  usage(keyOrName: string, o?: CallOptions): Promise<SnapshotUsage>;
  mounts(key: string, o?: CallOptions): Promise<Mount[]>;
  /** New writable snapshot `key` on top of committed `parent` (or empty). ALREADY_EXISTS if `key` exists. */
  prepare(key: string, parent: string | undefined, o?: SnapshotOptions): Promise<Mount[]>;
  /** New read-only snapshot `key` of committed `parent`. */
  view(key: string, parent: string | undefined, o?: SnapshotOptions): Promise<Mount[]>;
  /** Turns active `key` into committed `name`; `key` no longer exists afterwards. */
  commit(name: string, key: string, o?: SnapshotOptions): Promise<void>;
  remove(keyOrName: string, o?: CallOptions): Promise<void>;
  walk(fn: (info: SnapshotInfo) => void | Promise<void>, o?: CallOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
