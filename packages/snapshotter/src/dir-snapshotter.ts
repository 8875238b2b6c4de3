import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type CallOptions,
  KilnError,
  type Mount,
  type SnapshotKind,
  type SnapshotOptions,
  type Snapshotter,
  type SnapshotUsage,
  throwIfAborted,
} from "@kiln/core";
import { errnoCode, isMissing, isTargetTaken } from "./fs-errors.js";
import {
  commitMarkerName,
  FS_DIR,
  INFO_FILE,
  listSnapshotIds,
  readStoredInfo,
  type StoredInfo,
  snapshotId,
  tempName,
  toSnapshotInfo,
  writeInfoFile,
} from "./native-store.js";
import { treeUsage } from "./usage.js";

/**
 * What differs between the directory-per-snapshot snapshotters (native copies, overlay layers). The
 * store itself (info.json, temp names, atomic renames, parent checks) is shared: see native-store.ts.
 */
export interface SnapshotDriver {
  readonly name: string;
  /**
   * Fills the snapshot directory under construction (`fs/` exists and is empty) and returns the
   * driver's extra info fields. `parent` is committed.
   */
  populate(
    tmpDir: string,
    kind: SnapshotKind,
    parent: StoredInfo | undefined,
    o: CallOptions,
  ): Promise<Pick<StoredInfo, "lowers">>;
  /** Mounts of an active snapshot or a view. */
  mounts(info: StoredInfo): Mount[];
  /** After `info` became committed in directory `dir` (also runs when that step is retried). */
  committed?(info: StoredInfo, dir: string): Promise<void>;
  /** After committed snapshot `info` was removed. */
  removed?(info: StoredInfo): Promise<void>;
  close?(): Promise<void>;
}

/** The snapshotter over `<snapshotsDir>/<sha256(key)>/` directories with behaviour from `driver`. */
export function createDirSnapshotter(snapshotsDir: string, driver: SnapshotDriver): Snapshotter {
  let closed = false;
  const dirOf = (keyOrName: string): string => join(snapshotsDir, snapshotId(keyOrName));

  function ensureOpen(o: CallOptions | undefined): void {
    if (closed) throw new KilnError("FAILED_PRECONDITION", `snapshotter at ${snapshotsDir} is closed`);
    throwIfAborted(o?.signal);
  }

  async function load(keyOrName: string): Promise<StoredInfo> {
    const info = await readStoredInfo(snapshotsDir, snapshotId(keyOrName));
    if (info === undefined)
      throw new KilnError("NOT_FOUND", `snapshot ${JSON.stringify(keyOrName)} not found`);
    return info;
  }

  async function loadCommitted(name: string): Promise<StoredInfo> {
    const info = await load(name);
    if (info.kind !== "committed") {
      throw new KilnError("INVALID_ARGUMENT", `parent ${JSON.stringify(name)} is not committed`, {
        hint: "commit the active snapshot before using it as a parent",
      });
    }
    return info;
  }

  async function allInfos(): Promise<StoredInfo[]> {
    const infos: StoredInfo[] = [];
    for (const id of await listSnapshotIds(snapshotsDir)) {
      // A snapshot removed between readdir and read is simply skipped.
      const info = await readStoredInfo(snapshotsDir, id).catch((err: unknown) => {
        if (isMissing(err)) return undefined;
        throw err;
      });
      if (info !== undefined) infos.push(info);
    }
    return infos;
  }

  async function hasChildren(name: string): Promise<boolean> {
    return (await allInfos()).some((info) => info.parent === name);
  }

  async function create(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    o: SnapshotOptions = {},
  ): Promise<Mount[]> {
    ensureOpen(o);
    const parentInfo = parent === undefined ? undefined : await loadCommitted(parent);
    if ((await readStoredInfo(snapshotsDir, snapshotId(key))) !== undefined) {
      throw new KilnError("ALREADY_EXISTS", `snapshot ${JSON.stringify(key)} already exists`);
    }
    const now = new Date().toISOString();
    const tmp = join(snapshotsDir, tempName("new"));
    let info: StoredInfo;
    try {
      await mkdir(join(tmp, FS_DIR), { recursive: true, mode: 0o755 });
      const extra = await driver.populate(tmp, kind, parentInfo, o);
      info = {
        kind,
        name: key,
        ...(parent === undefined ? {} : { parent }),
        labels: { ...o.labels },
        created: now,
        updated: now,
        ...extra,
      };
      await writeFile(join(tmp, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
      await rename(tmp, dirOf(key));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (isTargetTaken(err)) {
        throw new KilnError("ALREADY_EXISTS", `snapshot ${JSON.stringify(key)} already exists`);
      }
      if (parent !== undefined) await loadCommitted(parent); // a parent removed meanwhile → NOT_FOUND
      throw err;
    }
    if (parent !== undefined) await checkParentSurvived(key, parent);
    return driver.mounts(info);
  }

  /** A concurrent remove() of the parent may have won the race; then this child must not stay. */
  async function checkParentSurvived(key: string, parent: string): Promise<void> {
    try {
      await loadCommitted(parent);
    } catch (err) {
      const doomed = join(snapshotsDir, tempName("rm"));
      await rename(dirOf(key), doomed);
      await rm(doomed, { recursive: true, force: true });
      throw err;
    }
  }

  return {
    name: driver.name,

    async stat(keyOrName, o) {
      ensureOpen(o);
      return toSnapshotInfo(await load(keyOrName));
    },

    async usage(keyOrName, o): Promise<SnapshotUsage> {
      ensureOpen(o);
      const info = await load(keyOrName);
      return treeUsage(join(dirOf(info.name), FS_DIR), o);
    },

    async mounts(key, o) {
      ensureOpen(o);
      const info = await load(key);
      if (info.kind === "committed") {
        throw new KilnError(
          "FAILED_PRECONDITION",
          `snapshot ${JSON.stringify(key)} is committed, not active`,
          { hint: "create a view of a committed snapshot to read it" },
        );
      }
      return driver.mounts(info);
    },

    prepare: (key, parent, o) => create("active", key, parent, o),
    view: (key, parent, o) => create("view", key, parent, o),

    async commit(name, key, o = {}) {
      ensureOpen(o);
      const active = await load(key);
      if (active.kind !== "active") {
        throw new KilnError(
          "FAILED_PRECONDITION",
          `snapshot ${JSON.stringify(key)} is not active (${active.kind})`,
        );
      }
      const nameId = snapshotId(name);
      const committed: StoredInfo = {
        ...active,
        kind: "committed",
        name,
        labels: { ...(o.labels ?? active.labels) },
        updated: new Date().toISOString(),
      };
      // 1. marker with the final info, 2. atomic rename to the name's id, 3. marker becomes info.json.
      // A crash after 2 is rolled forward by readStoredInfo; a crash before 2 leaves `key` intact.
      const keyDir = dirOf(key);
      await writeInfoFile(snapshotsDir, join(keyDir, commitMarkerName(nameId)), committed);
      try {
        await rename(keyDir, join(snapshotsDir, nameId));
      } catch (err) {
        await rm(join(keyDir, commitMarkerName(nameId)), { force: true });
        if (isTargetTaken(err)) {
          throw new KilnError("ALREADY_EXISTS", `snapshot ${JSON.stringify(name)} already exists`, {
            hint: `the active snapshot ${JSON.stringify(key)} was left as it was`,
          });
        }
        if (errnoCode(err) === "ENOENT") {
          throw new KilnError("NOT_FOUND", `snapshot ${JSON.stringify(key)} not found`, { cause: err });
        }
        throw err;
      }
      await readStoredInfo(snapshotsDir, nameId);
      await driver.committed?.(committed, join(snapshotsDir, nameId));
    },

    async remove(keyOrName, o) {
      ensureOpen(o);
      const info = await load(keyOrName);
      const childError = () =>
        new KilnError("FAILED_PRECONDITION", `snapshot ${JSON.stringify(keyOrName)} has children`, {
          hint: "remove the snapshots created from it first",
        });
      if (info.kind === "committed" && (await hasChildren(info.name))) throw childError();
      const dir = dirOf(info.name);
      const doomed = join(snapshotsDir, tempName("rm"));
      try {
        await rename(dir, doomed);
      } catch (err) {
        if (isMissing(err))
          throw new KilnError("NOT_FOUND", `snapshot ${JSON.stringify(keyOrName)} not found`);
        throw err;
      }
      // A child prepared concurrently between the check and the rename: put the parent back.
      if (info.kind === "committed" && (await hasChildren(info.name))) {
        await rename(doomed, dir);
        throw childError();
      }
      await rm(doomed, { recursive: true, force: true });
      if (info.kind === "committed") await driver.removed?.(info);
    },

    async walk(fn, o) {
      ensureOpen(o);
      const infos = (await allInfos()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const info of infos) {
        throwIfAborted(o?.signal);
        await fn(toSnapshotInfo(info));
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await driver.close?.();
    },
  };
}
