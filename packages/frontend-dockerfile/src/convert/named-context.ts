import { KilnError } from "@kiln/core";
import { git, http, isHttpUrl, parseGitRef, redactUrl, type State } from "@kiln/llb";

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
