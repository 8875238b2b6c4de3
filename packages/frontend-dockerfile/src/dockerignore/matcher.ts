/**
 * Docker context exclusion: the last matching pattern wins, and a pattern also applies to
 * everything under a directory it matches (patternmatcher `MatchesOrParentMatches`). A walker can
 * prune an excluded directory unless an exception might re-include something inside it.
 */
import { KilnError } from "@kiln/core";
import { trimSpace } from "../shell/chars.js";
import { cleanPath, dirPath } from "./clean-path.js";
import { compilePattern, type IgnorePattern } from "./pattern.js";

export interface IgnoreMatcher {
  /**
   * True when `relPath` (slash-separated, relative to the context root) is excluded. `isDir` does
   * not change the result: Docker patterns have no directory-only form (a trailing `/` is cleaned).
   */
  (relPath: string, isDir?: boolean): boolean;
  /**
   * For an excluded directory: false when nothing below it can be re-included, so a walker may skip
   * it entirely. When true the walker must descend and test each entry (and emit the directory
   * itself only if something below it is included). Always false without `!` exceptions.
   */
  mightIncludeUnder(dirRelPath: string): boolean;
  readonly patterns: readonly IgnorePattern[];
  /** Whether any `!` exception exists. */
  readonly hasExceptions: boolean;
}

// Characters that make an exception pattern unusable for prefix-based pruning (fsutil's rule).
const PATTERN_CHARS = /[*[\]?^\\]/;

function withoutTrailingGlob(text: string): string {
  let s = text;
  if (s.endsWith("/**")) s = s.slice(0, -3);
  if (s.endsWith("/*")) s = s.slice(0, -2);
  return s;
}

function normalize(relPath: string): string {
  return cleanPath(relPath.replace(/^\/+/, ""));
}

/** Builds a matcher from `.dockerignore` patterns (as returned by `parseIgnoreFile`). */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled: IgnorePattern[] = [];
  for (const raw of patterns) {
    let p = trimSpace(raw);
    if (p === "") continue;
    p = cleanPath(p);
    const exclusion = p.startsWith("!");
    if (exclusion) {
      if (p.length === 1) throw new KilnError("INVALID_ARGUMENT", 'illegal exclusion pattern: "!"');
      p = p.slice(1);
    }
    compiled.push(compilePattern(p, exclusion));
  }
  const exceptions = compiled.filter((p) => p.exclusion);
  const exceptionPrefixes = exceptions.map((p) => `${withoutTrailingGlob(p.text)}/`);
  const onlyPrefixExceptions = exceptions.every((p) => !PATTERN_CHARS.test(withoutTrailingGlob(p.text)));

  const excluded = (relPath: string): boolean => {
    const file = normalize(relPath);
    if (file === ".") return false;
    const parent = dirPath(file);
    const parentDirs = parent === "." ? [] : parent.split("/");
    let matched = false;
    for (const pattern of compiled) {
      // Only a pattern that can flip the current state needs testing.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.matches(file);
      for (let i = 1; !match && i <= parentDirs.length; i++)
        match = pattern.matches(parentDirs.slice(0, i).join("/"));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  };

  const mightIncludeUnder = (dirRelPath: string): boolean => {
    if (exceptions.length === 0) return false;
    if (!onlyPrefixExceptions) return true;
    const dirSlash = `${normalize(dirRelPath)}/`;
    return exceptionPrefixes.some((prefix) => prefix.startsWith(dirSlash));
  };

  return Object.assign((relPath: string, _isDir?: boolean) => excluded(relPath), {
    mightIncludeUnder,
    patterns: compiled,
    hasExceptions: exceptions.length > 0,
  });
}
