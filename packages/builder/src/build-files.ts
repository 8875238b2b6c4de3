import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { type CallOptions, KilnError, type Ref } from "@kiln/core";
import type { State } from "@kiln/llb";
import { loadRemoteContext } from "./remote-context.js";

/** What the frontend is given besides the attrs: the Dockerfile, its ignore file, the local dirs. */
export interface BuildFiles {
  readonly file: { readonly name: string; readonly data: Uint8Array };
  readonly ignoreFile: Uint8Array | undefined;
  /** Local sources by name (`context`, `dockerfile`); none for a remote context. */
  readonly localDirs: Map<string, string>;
  /** Frontend attrs that say where the context is (`context` for a URL). */
  readonly attrs: Record<string, string>;
}

/**
 * The Dockerfile and `.dockerignore` of a build: read from the context directory (or `-f`), or, when
 * the context is a URL, from the solved remote context (the Dockerfile path is then inside it).
 */
export async function readBuildFiles(
  req: {
    readonly contextDir: string;
    readonly contextUrl?: string;
    readonly dockerfile?: string;
    readonly buildArgs?: Readonly<Record<string, string>>;
  },
  solve: (state: State, o?: CallOptions) => Promise<Ref>,
  o: CallOptions = {},
): Promise<BuildFiles> {
  if (req.contextUrl) {
    const keepGitDir = /^(1|true)$/i.test(req.buildArgs?.BUILDKIT_CONTEXT_KEEP_GIT_DIR ?? "");
    const remote = await loadRemoteContext(
      req.contextUrl,
      { dockerfile: req.dockerfile, keepGitDir, solve },
      o,
    );
    return {
      file: { name: remote.filename, data: remote.data },
      ignoreFile: remote.ignoreFile,
      localDirs: new Map(),
      attrs: { context: req.contextUrl },
    };
  }
  const dockerfile = resolve(req.dockerfile ?? join(req.contextDir, "Dockerfile"));
  const file = await readBuildFile(dockerfile);
  const ignoreFile =
    (await readOptional(`${dockerfile}.dockerignore`)) ??
    (await readOptional(join(req.contextDir, ".dockerignore")));
  const localDirs = new Map<string, string>([
    ["context", req.contextDir],
    ["dockerfile", dirname(dockerfile)],
  ]);
  return { file, ignoreFile, localDirs, attrs: {} };
}

async function readBuildFile(path: string): Promise<{ name: string; data: Uint8Array }> {
  try {
    return { name: path, data: await readFile(path) };
  } catch (cause) {
    throw new KilnError("NOT_FOUND", `cannot read Dockerfile ${path}`, {
      cause,
      hint: "pass the right path with -f/--file, or run kiln build in the directory that holds the Dockerfile",
    });
  }
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new KilnError("PERMISSION_DENIED", `cannot read ${path}`, { cause: err });
  }
}
