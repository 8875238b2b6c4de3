import { KilnError } from "@kiln/core";
import { git, http, isHttpUrl, parseGitRef, redactUrl, type State } from "@kiln/llb";
import type { AddCommand, CopyCommand } from "../instructions/index.js";

/** A COPY/ADD source that is not in a local tree: what to copy from, and which path of it. */
export interface RemoteCopySource {
  readonly state: State;
  /** Path in `state` to copy (`/` for a checkout, `/<file>` for a download). */
  readonly path: string;
  /** Unpack archives (downloads only with `ADD --unpack=true`; BuildKit never unpacks by default). */
  readonly unpack: boolean;
}

/**
 * ADD of an http(s) URL or a git repository, converted like BuildKit: a URL becomes an http source
 * whose one file is named after the URL path (`__unnamed__` when the path has none), and a git
 * reference (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://…`) becomes a git source
 * whose whole tree is copied. Returns undefined for local sources; rejects remote sources in COPY.
 */
export function remoteCopySource(
  src: string,
  cmd: CopyCommand | AddCommand,
  stepName: string,
  checksum: string | undefined,
): RemoteCopySource | undefined {
  const gitRef = parseGitRef(src);
  if (gitRef) {
    if (cmd.kind === "COPY") throw invalid("source can't be a git ref for COPY", cmd);
    const flagKeep = cmd.keepGitDir;
    if (flagKeep !== undefined && gitRef.keepGitDir !== undefined && flagKeep !== gitRef.keepGitDir) {
      throw invalid("inconsistent keep-git-dir configuration", cmd);
    }
    if (checksum && gitRef.checksum && checksum !== gitRef.checksum) {
      throw invalid(
        `checksum mismatch ${JSON.stringify(checksum)} != ${JSON.stringify(gitRef.checksum)}`,
        cmd,
      );
    }
    const commit = gitRef.checksum ?? checksum;
    const state = git(gitRef.remote, {
      ref: gitRef.ref,
      subdir: gitRef.subdir,
      keepGitDir: gitRef.keepGitDir ?? flagKeep ?? false,
      ...(commit ? { checksum: commit } : {}),
      ...(gitRef.submodules === false ? { skipSubmodules: true } : {}),
      ...(gitRef.fetchByCommit ? { fetchByCommit: true } : {}),
      customName: stepName,
    });
    return { state, path: "/", unpack: false };
  }
  if (!isHttpUrl(src)) return undefined;
  if (cmd.kind === "COPY") throw invalid("source can't be a URL for COPY", cmd);
  let filename = "__unnamed__";
  try {
    const base = decodeURIComponent(new URL(src).pathname).split("/").filter(Boolean).at(-1);
    if (base && base !== ".") filename = base;
  } catch {
    throw invalid(`invalid URL ${JSON.stringify(redactUrl(src))}`, cmd);
  }
  if (
    checksum !== undefined &&
    !/^sha(256:[a-f0-9]{64}|384:[a-f0-9]{96}|512:[a-f0-9]{128})$/.test(checksum)
  ) {
    throw new KilnError("INVALID_ARGUMENT", `invalid checksum digest format ${JSON.stringify(checksum)}`, {
      location: cmd.location,
      hint: "use --checksum=sha256:<64 hex digits>",
    });
  }
  const state = http(src, { filename, ...(checksum ? { checksum } : {}), customName: stepName });
  return { state, path: `/${filename}`, unpack: cmd.kind === "ADD" && cmd.unpack === true };
}

/** BuildKit's rules for `ADD --checksum`: one source, and only a URL or a git repository. */
export function validateChecksum(
  checksum: string | undefined,
  sources: readonly string[],
  cmd: AddCommand,
): void {
  if (checksum === undefined) return;
  if (sources.length !== 1) throw invalid("checksum can't be specified for multiple sources", cmd);
  const src = sources[0] as string;
  if (!isHttpUrl(src) && !parseGitRef(src)) throw invalid("checksum requires HTTP(S) or Git sources", cmd);
}

function invalid(message: string, cmd: CopyCommand | AddCommand): KilnError {
  return new KilnError("INVALID_ARGUMENT", message, { location: cmd.location });
}
