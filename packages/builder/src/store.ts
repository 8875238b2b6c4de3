import { homedir } from "node:os";
import { join } from "node:path";
import {
  createFileDigestMemo,
  createRefManager,
  createResultCache,
  type FileDigestMemo,
  type Metadata,
  openMetadata,
  type RefManager,
} from "@kiln/cache";
import type { CallOptions, ContentStore, Ref, ResultCache, Snapshotter } from "@kiln/core";
import { createContentStore } from "@kiln/oci";
import {
  createDefaultSnapshotter,
  createNativeSnapshotter,
  createOverlaySnapshotter,
} from "@kiln/snapshotter";
import { removeStaleStepDirs } from "./ops/step-dirs.js";

/**
 * The local store: one directory holding content blobs, snapshots and SQLite metadata. Several kiln
 * processes may open the same store at once.
 */
export interface LocalStore {
  readonly root: string;
  readonly metadata: Metadata;
  readonly content: ContentStore;
  readonly snapshotter: Snapshotter;
  readonly refs: RefManager;
  readonly results: ResultCache<Ref>;
  readonly fileDigests: FileDigestMemo;
  close(): Promise<void>;
}

/** `$XDG_DATA_HOME/kiln`, or `/var/lib/kiln` for root (like BuildKit's `/var/lib/buildkit`). */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0 && !env.XDG_DATA_HOME) return "/var/lib/kiln";
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "kiln");
}

export type SnapshotterChoice = "auto" | "overlay" | "native";

export async function openLocalStore(
  root: string,
  o?: CallOptions & { snapshotter?: SnapshotterChoice },
): Promise<LocalStore> {
  const metadata = openMetadata(root);
  const content = await createContentStore({ root: join(root, "content") });
  // overlayfs where the kernel and the filesystem allow it, else the copying native snapshotter.
  const snapshotterRoot = { root: join(root, "snapshotter") };
  const choice = o?.snapshotter ?? "auto";
  const snapshotter =
    choice === "native"
      ? await createNativeSnapshotter(snapshotterRoot)
      : choice === "overlay"
        ? await createOverlaySnapshotter(snapshotterRoot)
        : await createDefaultSnapshotter(snapshotterRoot);
  const refs = createRefManager({ metadata, snapshotter, content });
  await refs.cleanupStale(o);
  await removeStaleStepDirs(root);
  const fileDigests = createFileDigestMemo(metadata);
  return {
    root,
    metadata,
    content,
    snapshotter,
    refs,
    results: createResultCache(metadata, refs),
    fileDigests,
    async close() {
      fileDigests.flush();
      await snapshotter.close();
      metadata.close();
    },
  };
}
