import { join } from "node:path";
import type { Snapshotter } from "@kiln/core";
import { mountedPath } from "@kiln/snapshotter";
import { makeTempDir } from "./temp-dir.js";
import { readTree, type TreeEntryInfo, type TreeSpec, writeTree } from "./tree.js";

/** Opens a snapshotter on `root` (a fresh, empty directory unless the case reopens one). */
export type SnapshotterFactory = (root: string) => Promise<Snapshotter>;

export interface SnapshotterSuiteOptions {
  /** Label of the `describe` block; defaults to "Snapshotter conformance". */
  readonly name?: string;
  /**
   * Plants what a process killed mid-operation leaves under `root` and returns the paths that opening
   * the root again must remove. Implementation-specific, so the crash case only runs when given.
   */
  readonly plantCrashLeftovers?: (root: string) => Promise<string[]>;
  /** Whether cases that chown may run; defaults to "running as root". */
  readonly canChown?: boolean;
  /** Timeout of each case in ms (default 60 s; the 128-layer case gets four times that). */
  readonly timeout?: number;
}

/** What a case gets: the snapshotter, its root, a way to open a second instance, and tree helpers. */
export interface CaseContext {
  readonly sn: Snapshotter;
  readonly root: string;
  readonly options: SnapshotterSuiteOptions;
  /** Another instance on the same root (closed after the case). */
  open(): Promise<Snapshotter>;
  /** Writes `spec` into active snapshot `key` of `sn` (or of `on`). */
  write(key: string, spec: TreeSpec, on?: Snapshotter): Promise<void>;
  /** Reads the tree of active snapshot or view `key`. */
  read(key: string, on?: Snapshotter): Promise<Record<string, TreeEntryInfo>>;
  /** Host path of active snapshot or view `key` (valid until the case ends or `releaseAll`). */
  path(key: string, on?: Snapshotter): Promise<string>;
  /**
   * Releases every path handed out so far. Call it before committing a snapshot written through
   * `path`, as real callers do: an overlay upperdir must not stay mounted once it is a lower layer.
   */
  releaseAll(): Promise<void>;
  /** Commits a new layer with `spec` on top of `parent`, through a temporary active key. */
  layer(name: string, parent: string | undefined, spec: TreeSpec): Promise<void>;
}

/** Runs `body` with a fresh temp root and snapshotter; closes everything and deletes the root after. */
export async function runCase(
  factory: SnapshotterFactory,
  options: SnapshotterSuiteOptions,
  body: (ctx: CaseContext) => Promise<void>,
): Promise<void> {
  const tmp = await makeTempDir("snapshotter");
  const root = join(tmp.path, "root");
  const opened: Snapshotter[] = [];
  const releases: (() => Promise<void>)[] = [];
  const open = async () => {
    const sn = await factory(root);
    opened.push(sn);
    return sn;
  };
  try {
    const sn = await open();
    const path = async (key: string, on: Snapshotter = sn) => {
      const mounted = await mountedPath(await on.mounts(key));
      releases.push(mounted.release);
      return mounted.path;
    };
    /** Mounts `key` just for `fn` (writes and reads are not left mounted). */
    const using = async <T>(key: string, on: Snapshotter, fn: (dir: string) => Promise<T>) => {
      const mounted = await mountedPath(await on.mounts(key));
      try {
        return await fn(mounted.path);
      } finally {
        await mounted.release();
      }
    };
    const releaseAll = async () => {
      for (const release of releases.splice(0).reverse()) await release();
    };
    const ctx: CaseContext = {
      sn,
      root,
      options,
      open,
      path,
      releaseAll,
      write: (key, spec, on = sn) => using(key, on, (dir) => writeTree(dir, spec)),
      read: (key, on = sn) => using(key, on, (dir) => readTree(dir)),
      layer: async (name, parent, spec) => {
        const key = `${name}-active`;
        await sn.prepare(key, parent);
        await ctx.write(key, spec);
        await sn.commit(name, key);
      },
    };
    await body(ctx);
  } finally {
    for (const release of releases.splice(0).reverse()) await release();
    for (const sn of opened) await sn.close();
    await tmp.cleanup();
  }
}
