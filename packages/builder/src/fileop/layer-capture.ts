import { type BigIntStats, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { CallOptions, Digest } from "@kiln/core";
import { createTarWriter, fileBody, type TarEntry, tarEntryFor, tarType } from "@kiln/snapshotter";

/** A directory's metadata as the copier will leave it: mode, owner and mtime (seconds, as set). */
export interface FinalDirectory {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
}

/**
 * Writes a COPY's layer while the copy runs, so deflating it overlaps the copy instead of following
 * it (on a 20,000-file COPY the export's diff walk and deflate took longer than the copy itself).
 *
 * The tar must be byte for byte the one the differ would write for the finished snapshot against its
 * parent, so a layer computed either way is the same layer. That holds when the copy creates one new
 * entry (a file or a whole directory tree) that did not exist in the parent: the differ then writes
 * the entry's ancestors and everything below it, in byte order, which is the order the copier creates
 * them. Files, links and special files are described from lstat once the copier has set their
 * metadata. A directory's header comes before its children but its mtime is only set after them, so
 * the copier says what it will set (FinalDirectory); `finish` checks every directory header against
 * the disk and gives up when one differs. Whatever the copier cannot promise (several sources,
 * timestamps applied afterwards, pattern-created directories) it reports with `abandon`, and the layer
 * is left to the differ, as without a capture.
 */
export interface LayerCapture {
  /** Call once `host` exists as a directory, before anything is created inside it. */
  directory(host: string, final: FinalDirectory): Promise<void>;
  /**
   * Call once a non-directory at `host` has its content and metadata; `content` if held in memory,
   * `stat` if the caller took it after setting the metadata (else it is read here).
   */
  entry(host: string, content?: Buffer, stat?: BigIntStats): Promise<void>;
  /** The copy does something the capture cannot describe exactly: the differ makes the layer. */
  abandon(): void;
  readonly active: boolean;
}

export interface CapturedTar {
  readonly diffId: Digest;
  readonly size: number;
}

export interface LayerCaptureHandle {
  readonly capture: LayerCapture;
  /** The tar's digest and size, or undefined when the capture was abandoned or saw nothing. */
  finish(): Promise<CapturedTar | undefined>;
}

interface DirectoryCheck {
  readonly host: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly seconds: bigint;
}

/** A capture of the tree at `root`, writing the tar to `out` (ended on success, destroyed otherwise). */
export function createLayerCapture(root: string, out: Writable, o: CallOptions = {}): LayerCaptureHandle {
  const tar = createTarWriter(out, o);
  const checks: DirectoryCheck[] = [];
  /** `dev:ino` → first layer path, for hardlinks (see the differ's rule in diff.ts). */
  const inodes = new Map<string, string>();
  let started = false;
  let abandoned = false;
  let written = 0;

  // Hosts are path.join results under `root` (normalised): a prefix test is enough, and path.relative
  // was a visible share of the copy's time.
  const prefix = root.endsWith("/") ? root : `${root}/`;
  const nameOf = (host: string): string | undefined =>
    host.startsWith(prefix) && host.length > prefix.length ? host.slice(prefix.length) : undefined;

  function abandon(): void {
    if (abandoned) return;
    abandoned = true;
    tar.abort(new Error("layer capture abandoned"));
  }

  /** The differ writes every ancestor of a written entry, with its metadata in the new tree. */
  async function startAt(name: string): Promise<void> {
    started = true;
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join("/");
      const host = join(root, ancestor);
      const stat = lstatSync(host, { bigint: true });
      if (!stat.isDirectory()) return abandon();
      checks.push(checkOf(host, stat));
      await add(tarEntryFor(ancestor, { hostPath: host, stat }, "directory"));
    }
  }

  async function add(entry: TarEntry, body?: Buffer | Readable): Promise<void> {
    if (abandoned) return;
    written++;
    await tar.add(entry, body);
  }

  const capture: LayerCapture = {
    get active() {
      return !abandoned;
    },
    abandon,
    async directory(host, final) {
      if (abandoned) return;
      const name = nameOf(host);
      if (name === undefined || final.mtime < 0) return abandon();
      if (!started) await startAt(name);
      const seconds = Math.trunc(final.mtime);
      checks.push({
        host,
        mode: final.mode & 0o7777,
        uid: final.uid,
        gid: final.gid,
        seconds: BigInt(seconds),
      });
      await add({
        name: `${name}/`,
        type: "directory",
        mode: final.mode & 0o7777,
        uid: final.uid,
        gid: final.gid,
        mtime: new Date(seconds * 1000),
      });
    },
    async entry(host, content, known) {
      if (abandoned) return;
      const name = nameOf(host);
      if (name === undefined) return abandon();
      if (!started) await startAt(name);
      const stat = known ?? lstatSync(host, { bigint: true });
      const type = tarType(stat);
      if (type === undefined) return; // a socket: the differ skips it too
      if (type === "directory" || stat.mtimeNs < 0n) return abandon();
      const treeEntry = {
        hostPath: host,
        stat,
        ...(type === "symlink" ? { linkTarget: readlinkSync(host) } : {}),
      };
      if (type !== "file") return add(tarEntryFor(name, treeEntry, type));
      const inode = `${stat.dev}:${stat.ino}`;
      const first = inodes.get(inode);
      // Registered whatever the link count: the first copy of a hardlinked file has one link when it
      // is written, and the differ (which sees the finished tree) still links the later ones to it.
      if (first !== undefined && stat.nlink > 1n) {
        return add({ ...tarEntryFor(name, treeEntry, "link"), linkname: first });
      }
      inodes.set(inode, name);
      const body = content?.length === Number(stat.size) ? content : fileBody(host, stat.size);
      await add(tarEntryFor(name, treeEntry, "file"), body);
    },
  };

  return {
    capture,
    async finish() {
      if (!abandoned && written > 0 && checks.every(stillAsWritten)) return tar.finish();
      abandon();
      return undefined;
    },
  };
}

function checkOf(host: string, stat: BigIntStats): DirectoryCheck {
  return {
    host,
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    seconds: stat.mtimeNs / 1_000_000_000n,
  };
}

function stillAsWritten(check: DirectoryCheck): boolean {
  const now = checkOf(check.host, lstatSync(check.host, { bigint: true }));
  return (
    now.mode === check.mode && now.uid === check.uid && now.gid === check.gid && now.seconds === check.seconds
  );
}
