import { createReadStream } from "node:fs";
import type { Writable } from "node:stream";
import type { CallOptions, Exporter, ExportRequest, ExportResponse } from "@kiln/core";
import { packTar, type TarEntry } from "@kiln/oci";
import { destAttr, epochAttr } from "./attrs.js";
import { deviceNumbers, mtimeSeconds, type TreeEntry, walkTree } from "./fs-tree.js";
import { writeToDestination } from "./output.js";
import { exportStep } from "./progress.js";

export interface TarExporterDeps {
  /** Where `dest=-` writes (process.stdout when omitted). */
  readonly stdout?: Writable;
}

/**
 * `type=tar`: the result's filesystem as one tar stream. Entries are in walk order (parents first,
 * names in byte order), with the files' uid/gid, permission bits (incl. setuid/sticky), mtimes
 * (clamped to `source-date-epoch` when given), symlinks, hardlinks, devices and fifos; sockets are
 * skipped. No user/group names are written, so the bytes depend only on the tree.
 */
export function createTarExporter(deps: TarExporterDeps = {}): Exporter {
  return {
    type: "tar",
    async export(req: ExportRequest, o?: CallOptions): Promise<ExportResponse> {
      const dest = destAttr(req.attrs, "tar", "rootfs.tar (or - for stdout)");
      const epoch = epochAttr(req.attrs);
      const step = exportStep(req.progress, "exporting to client tarball");
      const mounted = await req.ref.mount(o);
      try {
        await writeToDestination(dest, deps.stdout, (out, end) =>
          packTar(out, tarEntries(mounted.path, epoch, o), {
            end,
            ...(o?.signal ? { signal: o.signal } : {}),
          }),
        );
        step.done();
        return {};
      } catch (err) {
        step.done(err);
        throw err;
      } finally {
        await mounted.release();
      }
    },
  };
}

export async function* tarEntries(
  root: string,
  epoch: number | undefined,
  o?: CallOptions,
): AsyncGenerator<TarEntry> {
  for await (const entry of walkTree(root, o)) {
    const tarEntry = toTarEntry(entry, epoch);
    if (tarEntry) yield tarEntry;
  }
}

function toTarEntry(entry: TreeEntry, epoch: number | undefined): TarEntry | undefined {
  const { stats } = entry;
  const base = {
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    mtime: mtimeSeconds(stats, epoch),
  };
  switch (entry.kind) {
    case "directory":
      return { ...base, name: `${entry.path}/`, type: "directory" };
    case "file":
      return {
        ...base,
        name: entry.path,
        type: "file",
        size: stats.size,
        body: () => createReadStream(entry.absolute),
      };
    case "hardlink":
      return { ...base, name: entry.path, type: "link", linkname: entry.linkTarget ?? "" };
    case "symlink":
      return { ...base, name: entry.path, type: "symlink", linkname: entry.linkTarget ?? "" };
    case "character-device":
    case "block-device": {
      const { major, minor } = deviceNumbers(stats.rdev);
      return { ...base, name: entry.path, type: entry.kind, devmajor: major, devminor: minor };
    }
    case "fifo":
      return { ...base, name: entry.path, type: "fifo" };
    case "socket":
      return undefined;
  }
}
