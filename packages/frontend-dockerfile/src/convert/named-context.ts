import { KilnError } from "@kiln/core";
import { copy, git, http, isHttpUrl, parseGitRef, redactUrl, type State, scratch } from "@kiln/llb";

/**
 * A named context (`--build-context name=…`) that lives on a remote, as BuildKit loads it: a git
 * reference becomes the checkout's tree, any other http(s) URL a tree with the downloaded file named
 * `context` (not unpacked). Returns undefined for other kinds of values.
 */
export function remoteNamedContext(value: string, name: string): State | undefined {
  const isGitScheme = value.startsWith("git://") || /^[\w-]+@/.test(value) || value.startsWith("ssh://");
  if (!isGitScheme && !isHttpUrl(value)) return undefined;
  const gitRef = parseGitRef(value);
  if (gitRef) {
    return git(gitRef.remote, {
      ref: gitRef.ref,
      subdir: gitRef.subdir,
      ...(gitRef.keepGitDir ? { keepGitDir: true } : {}),
      ...(gitRef.checksum ? { checksum: gitRef.checksum } : {}),
      ...(gitRef.submodules === false ? { skipSubmodules: true } : {}),
      ...(gitRef.mtime ? { mtime: gitRef.mtime } : {}),
      ...(gitRef.fetchByCommit ? { fetchByCommit: true } : {}),
      customName: `[context ${name}] load git source ${redactUrl(value)}`,
    });
  }
  if (isGitScheme) {
    throw new KilnError("INVALID_ARGUMENT", `invalid git context ${redactUrl(value)} for ${name}`, {
      hint: "use a git URL such as https://host/repo.git#ref:subdir or git@host:repo.git",
    });
  }
  return http(value, { filename: "context", customName: `[context ${name}] ${redactUrl(value)}` });
}

/**
 * The main build context given as a URL (BuildKit's `context` attr, buildx's `kiln build <URL>`): a git
 * reference is its checkout; an http(s) URL is downloaded as a file named `context` and copied with
 * archive unpacking, so a tarball becomes its tree and any other file stays `/context` (BuildKit uses
 * that download as the context and as the Dockerfile). `.dockerignore` does not apply, as in BuildKit.
 * Returns undefined when `value` is not a URL.
 */
export function remoteMainContext(value: string, opts: { keepGitDir?: boolean } = {}): State | undefined {
  const gitRef = parseGitRef(value);
  if (gitRef) {
    return git(gitRef.remote, {
      ref: gitRef.ref,
      subdir: gitRef.subdir,
      ...(gitRef.keepGitDir || opts.keepGitDir ? { keepGitDir: true } : {}),
      ...(gitRef.checksum ? { checksum: gitRef.checksum } : {}),
      ...(gitRef.submodules === false ? { skipSubmodules: true } : {}),
      ...(gitRef.mtime ? { mtime: gitRef.mtime } : {}),
      customName: `[internal] load git source ${redactUrl(value)}`,
    });
  }
  if (!isHttpUrl(value)) return undefined;
  return scratch().file(
    copy(remoteHttpDownload(value), "/context", "/", { attemptUnpackDockerCompatibility: true }),
    { customName: "[internal] unpack remote build context" },
  );
}

/** The download of an http(s) main context: one file named `context`. */
export function remoteHttpDownload(url: string): State {
  return http(url, { filename: "context", customName: "[internal] load remote build context" });
}
