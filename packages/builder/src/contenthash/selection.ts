import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { type Digest, isKilnError } from "@kiln/core";
import { pathMatch, validatePattern } from "../fileop/match.js";
import { absPath, goBase, splitComponents, splitWildcards } from "../fileop/paths.js";
import { createPatternMatcher, type MatchInfo, type PatternMatcher } from "../fileop/patterns.js";
import type { ChecksumSelector } from "./hasher.js";
import {
  entryDigest,
  type HashEnv,
  headerDigest,
  lazyChecksum,
  listChildren,
  notFound,
  statInTree,
} from "./tree-hash.js";

interface Item {
  readonly path: string;
  readonly host: string;
  readonly st: Stats;
  readonly header: boolean;
  readonly followLinks: boolean;
  included: boolean;
  incInfo?: MatchInfo;
  excInfo?: MatchInfo;
}

/**
 * Digest of a wildcard and/or include/exclude selection, BuildKit's rules: entries are visited in path
 * order below the (symlink-resolved) non-wildcard prefix; only directory *headers* and non-directory
 * entries count, never recursive directory digests (exclusions inside would make those wrong); a
 * directory header is included when the directory itself is selected or when anything below it is.
 * The result is sha256("") for an empty selection, the entry's own digest for a single entry with the
 * selector's base name, else sha256 over `relative key` (`/` as NUL) + digest per included entry.
 */
export async function selectionChecksum(env: HashEnv, sel: ChecksumSelector): Promise<Digest> {
  const endsInSep = sel.path.length > 0 && sel.path.endsWith("/");
  const raw = absPath(sel.path);
  const p = raw === "/" ? "" : raw;
  const include = sel.includePatterns?.length ? createPatternMatcher(sel.includePatterns) : undefined;
  const exclude = sel.excludePatterns?.length ? createPatternMatcher(sel.excludePatterns) : undefined;
  const wildcard = sel.wildcard ?? false;
  if (wildcard) validatePattern(p);
  const pDepth = splitComponents(p).length;

  let origPrefix = p;
  let followTrailing = false;
  if (wildcard) {
    const [prefix, rest] = splitWildcards(p);
    origPrefix = prefix === "/" ? "" : prefix;
    followTrailing = rest !== "";
  }
  // A missing prefix selects nothing; only required paths can make that an error.
  const start = await statInTree(env, origPrefix, followTrailing).catch((err: unknown) => {
    if (isKilnError(err, "NOT_FOUND")) return undefined;
    throw err;
  });
  const included: Item[] = [];
  const stack: Item[] = [];
  let lastMatched = "";
  const pruneExcluded = !include && exclude !== undefined && !exclude.exclusions;

  /** Handles one entry in walk order; returns whether to walk below it (directories only). */
  const visit = (path: string, host: string, st: Stats, header: boolean): boolean => {
    while (stack.length > 0 && !path.startsWith(`${(stack[stack.length - 1] as Item).path}/`)) stack.pop();
    const parent = stack[stack.length - 1];
    if (header && path === p && endsInSep) return true;
    const item: Item = {
      path,
      host,
      st,
      header,
      followLinks: !parent && (sel.followLinks ?? false),
      included: false,
    };
    let base = p;
    if (wildcard) {
      if (p !== "" && (lastMatched === "" || !path.startsWith(`${lastMatched}/`))) {
        if (!pathMatch(p, path))
          return header && splitComponents(path).length < pDepth && prefixMatches(p, path);
        lastMatched = path;
      }
      base = lastMatched;
    }
    const candidate = trimSlash(
      `${path}/`.startsWith(`${base}/`) ? `${path}/`.slice(base.length + 1) : `${path}/`,
    );
    const verdict = shouldInclude(candidate, include, exclude, item, parent);
    if (verdict === "include") {
      for (const s of stack) {
        if (!s.included) {
          included.push(s);
          s.included = true;
        }
      }
      included.push(item);
      item.included = true;
    }
    if (header) stack.push(item);
    return !(pruneExcluded && verdict === "excluded");
  };

  const walk = async (path: string, host: string, rel: string): Promise<void> => {
    for (const child of listChildren(env, host, rel)) {
      const childPath = `${path}/${child.name}`;
      const isDir = child.st.isDirectory();
      if (visit(childPath, child.host, child.st, isDir) && isDir)
        await walk(childPath, child.host, child.rel);
      await env.slicer.pause();
    }
  };

  if (start) {
    const isDir = start.st.isDirectory();
    if (visit(origPrefix, start.host, start.st, isDir) && isDir)
      await walk(origPrefix, start.host, start.rel);
  }

  for (const required of sel.requiredPaths ?? []) {
    if (!included.some((i) => i.path.startsWith(required))) throw notFound(required);
  }
  const digests: Digest[] = [];
  for (const item of included) {
    if (item.followLinks && item.st.isSymbolicLink()) digests.push(await lazyChecksum(env, item.path, true));
    else digests.push(item.header ? headerDigest(env, item.st) : await entryDigest(env, item.host, item.st));
  }
  if (included.length === 0) return `sha256:${createHash("sha256").digest("hex")}`;
  if (included.length === 1 && goBase(p) === goBase((included[0] as Item).path)) return digests[0] as Digest;
  const hash = createHash("sha256");
  included.forEach((item, i) => {
    const rel = item.path.startsWith(origPrefix) ? item.path.slice(origPrefix.length) : item.path;
    hash.update(rel === "" ? "\0" : rel.replaceAll("/", "\0"));
    hash.update(digests[i] as Digest);
  });
  return `sha256:${hash.digest("hex")}`;
}

function trimSlash(s: string): string {
  return s.endsWith("/") ? s.slice(0, -1) : s;
}

/** Whether a directory shallower than the pattern can still lead to a match below it. */
function prefixMatches(pattern: string, path: string): boolean {
  const depth = splitComponents(path).length;
  const prefix = `/${splitComponents(pattern).slice(0, depth).join("/")}`;
  try {
    return pathMatch(prefix, path === "" ? "/" : path);
  } catch {
    return true;
  }
}

function shouldInclude(
  candidate: string,
  include: PatternMatcher | undefined,
  exclude: PatternMatcher | undefined,
  item: Item,
  parent: Item | undefined,
): "include" | "not-included" | "excluded" {
  if (include) {
    const r = include.matches(candidate, parent?.incInfo);
    item.incInfo = r.info;
    if (!r.matched) return "not-included";
  }
  if (exclude) {
    const r = exclude.matches(candidate, parent?.excInfo);
    item.excInfo = r.info;
    if (r.matched) return "excluded";
  }
  return "include";
}
