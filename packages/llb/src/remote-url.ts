import { posix } from "node:path";
import { KilnError } from "@kiln/core";

/**
 * Remote source references as BuildKit's Dockerfile frontend reads them: git URLs with the
 * `#ref:subdir` fragment and `?tag=…&subdir=…` query, and plain http(s) URLs.
 */
export interface GitRef {
  /** The remote without fragment and query (what `git fetch` is given; may carry credentials). */
  readonly remote: string;
  readonly scheme: "http" | "https" | "ssh" | "git";
  /** Host (with port) and path: the part of the LLB identifier after `git://`. */
  readonly host: string;
  readonly path: string;
  /** Branch, tag, full ref or commit; empty for the remote's default branch. */
  readonly ref: string;
  /** Directory inside the repository, cleaned, without leading slash; empty for the root. */
  readonly subdir: string;
  /** Expected commit (prefix), from `?checksum=` / `?commit=`. */
  readonly checksum?: string;
  readonly keepGitDir?: boolean;
  readonly submodules?: boolean;
  readonly mtime?: "checkout" | "commit";
  readonly fetchByCommit?: boolean;
  /** Plain-text transport (http://, git://). */
  readonly unencrypted: boolean;
}

const SUPPORTED_SCHEMES = new Set(["http", "https", "ssh", "git"]);
const SCP_STYLE = /^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$/;

export const isHttpUrl = (text: string): boolean => /^https?:\/\//.test(text);

/**
 * Parses a git reference: `https://host/repo.git#ref:subdir`, `git://host/repo`, `ssh://…`,
 * `git@host:owner/repo.git`. Returns undefined when `text` is not a git reference (a local path, an
 * http URL whose path does not end in `.git`, unless `anyHttpPath`); throws INVALID_ARGUMENT for a git reference with a bad
 * query.
 */
export function parseGitRef(text: string, opts: { anyHttpPath?: boolean } = {}): GitRef | undefined {
  if (text.startsWith("./") || text.startsWith("../")) return undefined;
  const proto = /^([a-zA-Z0-9]+):\/\//.exec(text)?.[1]?.toLowerCase();
  let parts: { scheme: GitRef["scheme"]; host: string; path: string; query: string; fragment: string };
  let remote: string;
  if (proto !== undefined) {
    if (!SUPPORTED_SCHEMES.has(proto)) return undefined;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    const scheme = proto as GitRef["scheme"];
    const http = scheme === "http" || scheme === "https";
    if (http && !opts.anyHttpPath && !url.pathname.endsWith(".git")) return undefined;
    parts = {
      scheme,
      host: url.host,
      path: decodeURIComponent(url.pathname),
      query: url.search.slice(1),
      fragment: decodeURIComponent(url.hash.slice(1)),
    };
    url.hash = "";
    url.search = "";
    remote = url.toString();
  } else {
    const m = SCP_STYLE.exec(text);
    if (!m) return undefined;
    const [, user = "", host = "", path = "", query = "", fragment = ""] = m;
    parts = { scheme: "ssh", host, path, query, fragment };
    remote = `${user}@${host}:${path}`;
  }
  const cut = parts.fragment.indexOf(":");
  const fragmentRef = cut < 0 ? parts.fragment : parts.fragment.slice(0, cut);
  const fragmentSubdir = cut < 0 ? "" : cleanSubdir(parts.fragment.slice(cut + 1));
  const ref: Mutable<GitRef> = {
    remote,
    scheme: parts.scheme,
    host: parts.host,
    path: parts.path,
    ref: fragmentRef,
    subdir: fragmentSubdir,
    unencrypted: parts.scheme === "http" || parts.scheme === "git",
  };
  applyQuery(ref, parts.query, text);
  return ref;
}

/** The LLB identifier BuildKit gives a git source: `git://host/path[#ref[:subdir]]`, no credentials. */
export function gitIdentifier(ref: Pick<GitRef, "host" | "path" | "ref" | "subdir">): string {
  let id = `git://${ref.host}${posix.join("/", ref.path)}`;
  if (ref.ref || ref.subdir) id += `#${ref.ref}${ref.subdir ? `:${ref.subdir}` : ""}`;
  return id;
}

/**
 * Hides credentials in a URL (or in text holding URLs): `https://user:pass@host` and
 * `https://token@host` both become `https://xxxxx@host`, so tokens given as user names never leak
 * into names, history, logs or errors.
 */
export function redactUrl(text: string): string {
  return text.replace(/([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@\s]+@/g, "$1xxxxx@");
}

// --- Internal helpers ---

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function cleanSubdir(subdir: string): string {
  return posix.join("/", subdir).replace(/^\/+/, "");
}

function applyQuery(ref: Mutable<GitRef>, query: string, text: string): void {
  if (!query) return;
  const params = new URLSearchParams(query);
  const bad = (message: string) =>
    new KilnError("INVALID_ARGUMENT", `invalid git reference ${JSON.stringify(redactUrl(text))}: ${message}`);
  const flag = (key: string, v: string) => {
    if (v === "") return true;
    if (/^(1|t|true)$/i.test(v)) return true;
    if (/^(0|f|false)$/i.test(v)) return false;
    throw bad(`invalid ${key} value ${JSON.stringify(v)}`);
  };
  let tag = "";
  let branch = "";
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length > 1) throw bad(`query ${JSON.stringify(key)} has multiple values`);
    const v = values[0] ?? "";
    const valueless = key === "submodules" || key === "keep-git-dir" || key === "fetch-by-commit";
    if (v === "" && !valueless) throw bad(`query ${JSON.stringify(key)} has no value`);
    switch (key) {
      case "ref":
        if (ref.ref && ref.ref !== v) throw bad(`ref conflicts: ${ref.ref} vs ${v}`);
        ref.ref = v;
        break;
      case "tag":
        tag = v;
        break;
      case "branch":
        branch = v;
        break;
      case "subdir": {
        const sub = cleanSubdir(v);
        if (ref.subdir && ref.subdir !== sub) throw bad(`subdir conflicts: ${ref.subdir} vs ${sub}`);
        ref.subdir = sub;
        break;
      }
      case "checksum":
      case "commit":
        ref.checksum = v;
        break;
      case "keep-git-dir":
        ref.keepGitDir = flag(key, v);
        break;
      case "submodules":
        ref.submodules = flag(key, v);
        break;
      case "fetch-by-commit":
        ref.fetchByCommit = flag(key, v);
        break;
      case "mtime":
        if (v !== "checkout" && v !== "commit") throw bad(`invalid mtime value ${JSON.stringify(v)}`);
        ref.mtime = v;
        break;
      default:
        throw bad(`unexpected query ${JSON.stringify(key)}`);
    }
  }
  if (tag) {
    const full = tag.startsWith("refs/tags/") ? tag : `refs/tags/${tag}`;
    if (ref.ref && ref.ref !== full) throw bad(`ref conflicts: ${ref.ref} vs ${full}`);
    ref.ref = full;
  }
  if (branch) {
    if (tag) throw bad("branch conflicts with tag");
    const full = branch.startsWith("refs/heads/") ? branch : `refs/heads/${branch}`;
    if (ref.ref && ref.ref !== full) throw bad(`ref conflicts: ${ref.ref} vs ${full}`);
    ref.ref = full;
  }
}
