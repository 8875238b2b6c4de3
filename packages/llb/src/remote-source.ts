import { KilnError } from "@kiln/core";
import { Caps } from "./caps.js";
import { type GitRef, gitIdentifier, parseGitRef, redactUrl } from "./remote-url.js";
import { source } from "./source.js";
import type { State } from "./state.js";
import type { OpOptions } from "./vertex.js";

export interface HttpOptions extends OpOptions {
  /** Expected content digest (`http.checksum`, `sha256:…`). */
  readonly checksum?: string;
  /** Name of the downloaded file (`http.filename`); else Content-Disposition, else the URL path. */
  readonly filename?: string;
  /** File mode (`http.perm`); the source's default is 0600. */
  readonly perm?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Secret id whose value is sent as the Authorization header (`http.authheadersecret`). */
  readonly authHeaderSecret?: string;
}

/** A file downloaded over http(s): the result is a tree with that one file. */
export function http(url: string, opts: HttpOptions = {}): State {
  if (!/^https?:\/\//.test(url)) {
    throw new KilnError("INVALID_ARGUMENT", `not an http(s) URL: ${JSON.stringify(redactUrl(url))}`);
  }
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  if (opts.checksum) {
    if (!/^sha(256:[a-f0-9]{64}|384:[a-f0-9]{96}|512:[a-f0-9]{128})$/.test(opts.checksum)) {
      throw new KilnError("INVALID_ARGUMENT", `invalid checksum ${JSON.stringify(opts.checksum)}`, {
        hint: "use a digest such as sha256:<64 hex digits>",
      });
    }
    attrs["http.checksum"] = opts.checksum;
    caps.push(Caps.sourceHttpChecksum);
  }
  if (opts.filename) attrs["http.filename"] = opts.filename;
  if (opts.perm) {
    attrs["http.perm"] = `0${opts.perm.toString(8)}`;
    caps.push(Caps.sourceHttpPerm);
  }
  if (opts.uid) {
    attrs["http.uid"] = String(opts.uid);
    caps.push(Caps.sourceHttpUidGid);
  }
  if (opts.gid) {
    attrs["http.gid"] = String(opts.gid);
    caps.push(Caps.sourceHttpUidGid);
  }
  if (opts.authHeaderSecret) {
    attrs["http.authheadersecret"] = opts.authHeaderSecret;
    caps.push(Caps.sourceHttpAuth);
  }
  caps.push(Caps.sourceHttp);
  return source(url, attrs, { ...opts, caps });
}

export interface GitOptions extends OpOptions {
  /** Branch, tag, full ref or commit; default: the remote's default branch. */
  readonly ref?: string;
  readonly subdir?: string;
  /** Keep the `.git` directory in the result (`git.keepgitdir`). */
  readonly keepGitDir?: boolean;
  /** Expected commit, full or a prefix (`git.checksum`). */
  readonly checksum?: string;
  readonly skipSubmodules?: boolean;
  readonly mtime?: "checkout" | "commit";
  readonly fetchByCommit?: boolean;
  /** Secret ids for http auth; BuildKit's defaults are GIT_AUTH_TOKEN and GIT_AUTH_HEADER. */
  readonly authTokenSecret?: string;
  readonly authHeaderSecret?: string;
}

/**
 * A git checkout. `remote` is a git URL (`https://host/repo.git`, `git@host:repo`, `git://…`), possibly
 * with a `#ref:subdir` fragment; options override the fragment. Like BuildKit, the identifier names
 * host and path only (no credentials), and `git.fullurl` carries the remote as given.
 */
export function git(remote: string, opts: GitOptions = {}): State {
  const parsed = parseRemote(remote);
  const ref = opts.ref ?? parsed.ref;
  const subdir = opts.subdir ?? parsed.subdir;
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  if (opts.keepGitDir) {
    attrs["git.keepgitdir"] = "true";
    caps.push(Caps.sourceGitKeepDir);
  }
  attrs["git.fullurl"] = parsed.remote;
  caps.push(Caps.sourceGitFullUrl);
  attrs["git.authtokensecret"] = opts.authTokenSecret ?? "GIT_AUTH_TOKEN";
  attrs["git.authheadersecret"] = opts.authHeaderSecret ?? "GIT_AUTH_HEADER";
  if (opts.authTokenSecret || opts.authHeaderSecret) caps.push(Caps.sourceGitHttpAuth);
  if (parsed.scheme === "ssh") {
    attrs["git.mountsshsock"] = "default";
    caps.push(Caps.sourceGitKnownSshHosts, Caps.sourceGitMountSshSock);
  }
  if (opts.checksum) {
    if (!/^[a-fA-F0-9]+$/.test(opts.checksum)) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `invalid checksum ${opts.checksum} for Git URL, expected hex commit hash`,
      );
    }
    attrs["git.checksum"] = opts.checksum;
    caps.push(Caps.sourceGitChecksum);
  }
  if (opts.skipSubmodules) {
    attrs["git.skipsubmodules"] = "true";
    caps.push(Caps.sourceGitSkipSubmodules);
  }
  if (opts.mtime) {
    attrs["git.mtime"] = opts.mtime;
    caps.push(Caps.sourceGitMTime);
  }
  if (opts.fetchByCommit) {
    attrs["git.fetchbycommit"] = "true";
    caps.push(Caps.sourceGitFetchByCommit);
  }
  caps.push(Caps.sourceGit);
  const id = gitIdentifier({ host: parsed.host, path: parsed.path, ref, subdir });
  return source(id, attrs, { ...opts, caps });
}

function parseRemote(remote: string): GitRef {
  // Like BuildKit, a reference without a transport (`host/repo.git`) is fetched over https.
  const parsed =
    parseGitRef(remote, { anyHttpPath: true }) ??
    (remote.includes("://") ? undefined : parseGitRef(`https://${remote}`, { anyHttpPath: true }));
  if (!parsed) {
    throw new KilnError("INVALID_ARGUMENT", `not a git URL: ${JSON.stringify(redactUrl(remote))}`, {
      hint: "use https://host/repo.git#ref:subdir, git@host:repo.git or git://host/repo",
    });
  }
  return parsed;
}
