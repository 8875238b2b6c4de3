import { lstat, mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CallOptions, KilnError, type Op, type Ref, sha256 } from "@kiln/core";
import { redactUrl } from "@kiln/llb";
import { withDirLock } from "./dir-lock.js";
import { gitAuthConfig } from "./git-auth.js";
import { createGitRunner, type GitRunner } from "./git-cli.js";
import { resetMtimes } from "./git-mtime.js";
import type { OpEnvironment } from "./types.js";

interface GitSpec {
  readonly remote: string;
  readonly ref: string;
  readonly subdir: string;
  readonly keepGitDir: boolean;
  readonly checksum: string;
  readonly skipSubmodules: boolean;
  readonly mtime: string;
}

interface Resolved {
  /** What `ref` named on the remote (`refs/heads/main`), or the commit itself. */
  readonly usedRef: string;
  /** The object the ref points at (a commit, or an annotated tag). */
  readonly sha: string;
  /** The commit behind an annotated tag, when there is one. */
  readonly commit: string;
}

const IS_COMMIT = /^([a-f0-9]{40}|[a-f0-9]{64})$/;

/**
 * `git://host/path#ref:subdir` sources, checked out with the system git like BuildKit's git source:
 * the cache key is the commit the ref resolves to now (`git ls-remote`), so a moved branch is seen and
 * an unchanged one is a cache hit without fetching. Fetches go into one bare repository per remote
 * under the store (`sources/git/`), shallow; the result is the tree at that commit, with `.git` only
 * when `git.keepgitdir` is set.
 */
export function gitSource(
  rest: string,
  attrs: Readonly<Record<string, string>>,
  env: OpEnvironment,
): Op<Ref> {
  const spec = parseSpec(rest, attrs);
  const shown = redactUrl(spec.remote);
  let resolved: Resolved | undefined;
  let gitPromise: Promise<GitRunner> | undefined;
  const git = () => {
    gitPromise ??= gitAuthConfig(spec.remote, attrs, env).then(createGitRunner);
    return gitPromise;
  };

  const cacheKey = (r: Resolved) => {
    let key = r.commit && !spec.keepGitDir ? r.commit : r.sha;
    if (spec.keepGitDir) key += `.git${r.usedRef ? `#${r.usedRef}` : ""}`;
    if (spec.subdir) key += `:${spec.subdir}`;
    if (spec.skipSubmodules) key += "(skip-submodules)";
    if (spec.mtime && spec.mtime !== "checkout") key += `(mtime=${spec.mtime})`;
    return sha256(`buildkit.source.v0:git:${key}`);
  };

  async function resolve(o: CallOptions): Promise<Resolved> {
    if (IS_COMMIT.test(spec.ref)) {
      if (spec.checksum && !spec.ref.startsWith(spec.checksum)) throw checksumError(spec, shown, spec.ref);
      return { usedRef: spec.ref, sha: spec.ref, commit: "" };
    }
    const runner = await git();
    let ref = spec.ref;
    if (!ref) {
      const head = await runner.run(["ls-remote", "--symref", "--", spec.remote, "HEAD"], o);
      ref = /^ref: (\S+)\tHEAD$/m.exec(head)?.[1] ?? "";
      if (!ref) throw new KilnError("NOT_FOUND", `cannot find the default branch of ${shown}`);
    }
    const out = await runner.run(["ls-remote", "--", spec.remote, ref, `${ref}^{}`], o);
    const bare = ref.replace(/^refs\//, "");
    const heads = `refs/heads/${ref.replace(/^refs\/heads\//, "")}`;
    const tags = `refs/tags/${ref.replace(/^refs\/tags\//, "")}`;
    let exact = "";
    let head = "";
    let tag = "";
    let peeled = "";
    for (const line of out.split("\n")) {
      const [sha = "", name = ""] = line.split("\t");
      if (name === `refs/${bare}`) exact = sha;
      else if (name === heads) head = sha;
      else if (name === tags) tag = sha;
      else if (name === `${tags}^{}`) peeled = sha;
    }
    // Like git checkout: an exact ref, then a branch, then a tag.
    let usedRef = exact ? `refs/${bare}` : head ? heads : tag ? tags : "";
    const sha = exact || head || tag;
    if (!sha) {
      throw new KilnError("NOT_FOUND", `repository ${shown} does not contain ref ${ref}`, {
        hint: "check the branch, tag or commit after # in the git URL",
      });
    }
    if (exact || head) peeled = "";
    if (spec.checksum && !sha.startsWith(spec.checksum) && !peeled.startsWith(spec.checksum)) {
      throw checksumError(spec, shown, peeled ? `${sha} or ${peeled}` : sha);
    }
    usedRef ||= ref;
    return { usedRef, sha, commit: peeled };
  }

  return {
    async cacheMap(o) {
      resolved ??= await resolve(o);
      return { digest: cacheKey(resolved), deps: [] };
    },
    async exec(_inputs, o) {
      resolved ??= await resolve(o);
      const r = resolved;
      const runner = await git();
      const bareDir = join(env.storeRoot, "sources", "git", `${sha256(spec.remote).slice(7, 39)}.git`);
      // One fetch at a time per bare cache, also across kiln processes sharing the store.
      await withDirLock(bareDir, () => fetchInto(runner, bareDir, spec, r, o), o);
      const ref = await env.refs.build(
        undefined,
        `git snapshot for ${shown}#${spec.ref}`,
        (dir) => checkout(runner, bareDir, dir, spec, r, shown, o),
        o,
      );
      return [ref];
    },
  };
}

// --- Internal helpers ---

function parseSpec(rest: string, attrs: Readonly<Record<string, string>>): GitSpec {
  const hash = rest.indexOf("#");
  const location = hash < 0 ? rest : rest.slice(0, hash);
  const fragment = hash < 0 ? "" : rest.slice(hash + 1);
  const colon = fragment.indexOf(":");
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = (colon < 0 ? "" : fragment.slice(colon + 1)).split("/").filter((p) => p && p !== ".");
  if (subdir.includes("..")) {
    throw new KilnError("INVALID_ARGUMENT", `invalid git subdir ${JSON.stringify(subdir.join("/"))}`);
  }
  if (ref.startsWith("-")) throw new KilnError("INVALID_ARGUMENT", `invalid git ref ${JSON.stringify(ref)}`);
  const full = attrs["git.fullurl"];
  const remote = full
    ? /^[a-z0-9]+:\/\/|^[\w-]+@[\w.-]+:/i.test(full)
      ? full
      : `https://${full}`
    : `https://${location}`;
  return {
    remote,
    ref,
    subdir: subdir.join("/"),
    keepGitDir: attrs["git.keepgitdir"] === "true",
    checksum: (attrs["git.checksum"] ?? "").toLowerCase(),
    skipSubmodules: attrs["git.skipsubmodules"] === "true",
    mtime: attrs["git.mtime"] ?? "",
  };
}

/** SHA-256 repositories (64-hex object ids) need a local repository of the same object format. */
function objectFormat(r: Resolved): string[] {
  return r.sha.length === 64 ? ["--object-format=sha256"] : [];
}

function checksumError(spec: GitSpec, shown: string, got: string): KilnError {
  return new KilnError("DATA_LOSS", `expected checksum to match ${spec.checksum}, got ${got} (${shown})`, {
    hint: "the ref now points at another commit than --checksum names; fix the checksum or the ref",
    details: { expected: spec.checksum, actual: got },
  });
}

/** Makes sure the bare cache has the resolved object, fetching only the ref (shallow) when missing. */
async function fetchInto(runner: GitRunner, bareDir: string, spec: GitSpec, r: Resolved, o: CallOptions) {
  const has = async (obj: string) =>
    runner.run(["--git-dir", bareDir, "cat-file", "-e", `${obj}^{commit}`], o).then(
      () => true,
      () => false,
    );
  if (!(await stat(join(bareDir, "HEAD")).catch(() => undefined))) {
    await mkdir(bareDir, { recursive: true });
    await runner.run(
      ["-c", "init.defaultBranch=master", "init", "--bare", "-q", ...objectFormat(r), bareDir],
      o,
    );
  }
  if (!(await has(r.sha))) {
    const refspec = IS_COMMIT.test(r.usedRef) ? r.usedRef : `+${r.usedRef}:${r.usedRef}`;
    await runner.run(
      ["--git-dir", bareDir, "fetch", "-q", "--depth=1", "--no-tags", "--", spec.remote, refspec],
      o,
    );
    // The ref moved between ls-remote and fetch: ask for the commit itself.
    if (!(await has(r.sha))) {
      await runner.run(
        ["--git-dir", bareDir, "fetch", "-q", "--depth=1", "--no-tags", "--", spec.remote, r.sha],
        o,
      );
    }
  }
  if (!IS_COMMIT.test(r.usedRef)) {
    await runner.run(["--git-dir", bareDir, "update-ref", "--no-deref", r.usedRef, r.sha], o);
  }
}

async function checkout(
  runner: GitRunner,
  bareDir: string,
  dir: string,
  spec: GitSpec,
  r: Resolved,
  shown: string,
  o: CallOptions,
): Promise<void> {
  const commit = r.commit || r.sha;
  if (spec.keepGitDir && !spec.subdir) {
    // A real clone of one ref (depth 1), with the remote named but without its credentials.
    const g = (...args: string[]) => runner.run(["-C", dir, ...args], o);
    await g("-c", "init.defaultBranch=master", "init", "-q", ...objectFormat(r));
    const pull = IS_COMMIT.test(r.usedRef) ? r.usedRef : `${r.usedRef}:${r.usedRef}`;
    await g("fetch", "-q", "-u", "--depth=1", "--no-tags", `file://${bareDir}`, pull);
    await g("checkout", "-q", "FETCH_HEAD");
    await g("remote", "add", "origin", redactUrl(spec.remote));
    await g("reflog", "expire", "--all", "--expire=now");
    await rm(join(dir, ".git", "FETCH_HEAD"), { force: true });
    if (!spec.skipSubmodules) await updateSubmodules(runner, ["-C", dir], dir, o);
  } else {
    const work = spec.subdir ? await mkdtemp(join(dir, ".checkout-")) : dir;
    // A private index keeps the shared bare repository untouched (parallel checkouts are safe).
    const indexDir = await mkdtemp(join(tmpdir(), "kiln-git-index-"));
    const env = { GIT_INDEX_FILE: join(indexDir, "index") };
    const base = ["--git-dir", bareDir, "--work-tree", work];
    try {
      await runner.run([...base, "checkout", "-q", "--no-overlay", commit, "--", "."], { ...o, env });
      if (!spec.skipSubmodules && (await hasSubmodules(work))) {
        // Submodules are cloned into the shared bare cache (modules/): one writer at a time. Their
        // `.git` files point there, so they are removed: the result has no git metadata at all.
        await withDirLock(bareDir, () => updateSubmodules(runner, base, work, { ...o, env }), o);
        await removeGitLinks(work);
      }
    } finally {
      await rm(indexDir, { recursive: true, force: true });
    }
    if (spec.subdir) await hoistSubdir(dir, work, spec.subdir, shown);
  }
  if (spec.mtime === "commit") {
    const seconds = Number(
      (await runner.run(["--git-dir", bareDir, "log", "-1", "--format=%ct", commit], o)).trim(),
    );
    await resetMtimes(dir, new Date(seconds * 1000));
  }
}

const hasSubmodules = async (work: string) =>
  (await lstat(join(work, ".gitmodules")).catch(() => undefined)) !== undefined;

/** Removes the `.git` files git leaves in submodule directories (below the top level). */
async function removeGitLinks(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const sub = join(dir, entry.name);
    await rm(join(sub, ".git"), { force: true, recursive: true });
    await removeGitLinks(sub);
  }
}

async function updateSubmodules(
  runner: GitRunner,
  base: string[],
  work: string,
  o: CallOptions & { env?: Record<string, string> },
) {
  if (!(await hasSubmodules(work))) return;
  await runner.run(
    [
      ...base,
      "-c",
      "protocol.file.allow=always",
      "submodule",
      "update",
      "--init",
      "--recursive",
      "--depth=1",
    ],
    { ...o, cwd: work },
  );
}

/** Moves `work/subdir/*` to `dir/` and drops the rest; every part of `subdir` must be a directory. */
async function hoistSubdir(dir: string, work: string, subdir: string, shown: string): Promise<void> {
  let current = work;
  for (const part of subdir.split("/")) {
    current = join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new KilnError("NOT_FOUND", `subdir ${JSON.stringify(subdir)} is not a directory in ${shown}`, {
        hint: "check the path after : in the git URL fragment",
      });
    }
  }
  for (const name of await readdir(current)) await rename(join(current, name), join(dir, name));
  await rm(work, { recursive: true, force: true });
}
