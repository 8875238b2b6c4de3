import { createWriteStream } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { KilnError, throwIfAborted } from "@kiln/core";
import { makeSpecial, mkdirAll, S_IFBLK, S_IFCHR, S_IFIFO } from "./fs-util.js";
import type { Owner } from "./owner.js";
import { goClean } from "./paths.js";
import { isAbsent, resolvePath } from "./resolve.js";
import { readTar, type TarHeader } from "./tar-reader.js";

export interface ExtractOptions {
  /** Forced owner of every entry (ADD --chown); otherwise the archive's uid/gid. */
  readonly owner?: Owner;
  readonly signal?: AbortSignal;
}

/**
 * Extracts an uncompressed tar stream into `dest` (a host directory) with Docker's ADD semantics:
 * entries keep their mode, owner and times, an existing entry is replaced unless both are directories,
 * missing parents are created 0755. Hostile archives are refused with INVALID_ARGUMENT: names or
 * hardlink targets that climb out with `..`, and parents whose relative symlinks climb above `dest`.
 * Absolute symlinks are stored verbatim and, when written through, resolve inside `dest` as in a
 * chroot. Whiteout files are ordinary files here (an archive is not a layer).
 */
export async function extractTar(stream: Readable, dest: string, o: ExtractOptions = {}): Promise<void> {
  const dirTimes: Array<{ host: string; header: TarHeader }> = [];
  for await (const { header, body } of readTar(stream)) {
    throwIfAborted(o.signal);
    const name = localName(header.name, "entry");
    if (name === undefined) continue;
    const host = await entryHost(dest, name);
    const existing = await lstat(host).catch((err) => {
      if (isAbsent(err)) return undefined;
      throw err;
    });
    if (existing && !(existing.isDirectory() && header.type === "5"))
      await rm(host, { recursive: true, force: true });
    await mkdirAll(dirname(host), 0o755, o.owner);
    await createEntry(dest, host, header, body, existing?.isDirectory() === true);
    const owner = o.owner ?? { uid: header.uid, gid: header.gid };
    await lchown(host, owner.uid, owner.gid);
    if (header.type === "1") continue;
    if (header.type !== "2") await chmod(host, header.mode);
    if (header.type === "5") dirTimes.push({ host, header });
    else await lutimes(host, header.atime ?? header.mtime, header.mtime);
  }
  // Directory times last: creating their children moved them.
  for (const { host, header } of dirTimes.reverse())
    await lutimes(host, header.atime ?? header.mtime, header.mtime);
}

/** The cleaned root-relative name, undefined for the root itself; refuses names that escape. */
function localName(raw: string, what: string): string | undefined {
  const name = goClean(raw.replace(/^\/+/, ""));
  if (name === ".") return undefined;
  if (name === ".." || name.startsWith("../")) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `refusing archive ${what} ${JSON.stringify(raw)}: it escapes the destination`,
      {
        hint: "the archive is malformed or hostile; extraction stopped",
      },
    );
  }
  return name;
}

/** Host path of an entry: parents resolved inside `dest` like in a chroot, the name itself not followed. */
async function entryHost(dest: string, name: string): Promise<string> {
  const parent = await resolvePath(dest, dirname(name), { refuseEscape: true });
  return join(parent.host, basename(name));
}

async function createEntry(
  dest: string,
  host: string,
  h: TarHeader,
  body: AsyncIterable<Buffer>,
  existingDir: boolean,
): Promise<void> {
  switch (h.type) {
    case "5":
      if (!existingDir) await mkdir(host, h.mode & 0o777);
      return;
    case "0":
      await pipeline(body, createWriteStream(host, { mode: h.mode & 0o777 }));
      return;
    case "1": {
      const target = localName(h.linkname, "hardlink target");
      if (target === undefined)
        throw new KilnError("INVALID_ARGUMENT", `invalid hardlink target ${JSON.stringify(h.linkname)}`);
      await link(await entryHost(dest, target), host);
      return;
    }
    case "2":
      await symlink(h.linkname, host);
      return;
    case "3":
    case "4":
    case "6": {
      const type = h.type === "3" ? S_IFCHR : h.type === "4" ? S_IFBLK : S_IFIFO;
      await makeSpecial(host, type, h.devmajor, h.devminor);
      return;
    }
    default:
      throw new KilnError(
        "INVALID_ARGUMENT",
        `unsupported tar entry type ${JSON.stringify(h.type)} for ${JSON.stringify(h.name)}`,
      );
  }
}
