import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type CallOptions, KilnError, type Ref } from "@kiln/core";
import { remoteHttpDownload, remoteMainContext } from "@kiln/frontend-dockerfile";
import { isHttpUrl, parseGitRef, redactUrl, type State } from "@kiln/llb";
import { resolveInRoot } from "@kiln/snapshotter";
import { tarArchiveCompression } from "./fileop/archive.js";

/** Whether `value` names a remote main context (a git reference or an http(s) URL), as buildx decides. */
export function isRemoteContext(value: string): boolean {
  return isHttpUrl(value) || parseGitRef(value) !== undefined || value.startsWith("git://");
}

export interface RemoteContextFiles {
  /** The Dockerfile's name inside the context (`filename` attr) and its bytes. */
  readonly filename: string;
  readonly data: Uint8Array;
  readonly ignoreFile: Uint8Array | undefined;
}

/**
 * Reads the Dockerfile (and `.dockerignore`, for the build checks) of a remote main context, as
 * BuildKit's dockerui does: the context is solved first (so its download or checkout is cached and
 * shared with the build), and for an http(s) URL the download is inspected — an archive is the context,
 * anything else is the Dockerfile itself. `dockerfile` is relative to the context's root.
 */
export async function loadRemoteContext(
  url: string,
  opts: {
    readonly dockerfile: string | undefined;
    readonly keepGitDir: boolean;
    readonly solve: (state: State, o?: CallOptions) => Promise<Ref>;
  },
  o: CallOptions = {},
): Promise<RemoteContextFiles> {
  let filename = opts.dockerfile ?? "Dockerfile";
  if (isHttpUrl(url) && !parseGitRef(url)) {
    const download = await opts.solve(remoteHttpDownload(url), o);
    const isArchive = await withMount(download, o, async (root) => {
      return (await tarArchiveCompression(join(root, "context"))) !== undefined;
    });
    // BuildKit: a download that is not an archive is the Dockerfile, whatever -f says.
    if (!isArchive) filename = "context";
  }
  const state = remoteMainContext(url, { keepGitDir: opts.keepGitDir });
  if (!state) throw new KilnError("INVALID_ARGUMENT", `not a git or http(s) URL: ${redactUrl(url)}`);
  const context = await opts.solve(state, o);
  return withMount(context, o, async (root) => {
    const data = await readInContext(root, filename);
    if (!data) {
      throw new KilnError(
        "NOT_FOUND",
        `cannot read Dockerfile ${filename} in the context ${redactUrl(url)}`,
        {
          hint: "with a remote context, -f/--file is a path inside that context",
        },
      );
    }
    const ignoreFile =
      (await readInContext(root, `${filename}.dockerignore`)) ?? (await readInContext(root, ".dockerignore"));
    return { filename, data, ignoreFile };
  });
}

async function withMount<T>(ref: Ref, o: CallOptions, fn: (root: string) => Promise<T>): Promise<T> {
  const mounted = await ref.mount(o);
  try {
    return await fn(mounted.path);
  } finally {
    await mounted.release();
  }
}

/** A file of the context tree, resolved inside it (symlinks cannot leave it); undefined when missing. */
async function readInContext(root: string, path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
    throw err;
  }
}
