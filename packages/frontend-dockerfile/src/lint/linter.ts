/**
 * The check configuration (`# check=skip=…;error=…;experimental=…`, or the build arg
 * `BUILDKIT_DOCKERFILE_CHECK`) and the warning sink that applies it. A `# check=` comment right
 * above an instruction adds to the configuration for that instruction only, as in BuildKit.
 */
import { KilnError, type SourceLocation } from "@kiln/core";
import type { LintRule } from "./rules.js";

export interface LintConfig {
  readonly skipAll: boolean;
  readonly skip: ReadonlySet<string>;
  readonly experimentalAll: boolean;
  readonly experimental: ReadonlySet<string>;
  /** `error=true`: warnings fail the build. */
  readonly error: boolean;
}

export interface LintWarning {
  readonly rule: string;
  readonly description: string;
  readonly url: string | undefined;
  /** The formatted message, e.g. `Stage name 'Build' should be lowercase`. */
  readonly detail: string;
  readonly location: SourceLocation;
}

const EMPTY: LintConfig = {
  skipAll: false,
  skip: new Set(),
  experimentalAll: false,
  experimental: new Set(),
  error: false,
};

const splitList = (v: string) =>
  v
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r !== "");

/** BuildKit's `ParseLintOptions`: unknown keys and non-boolean `error` values are errors. */
export function parseCheckOptions(value: string): LintConfig {
  const text = value.trim();
  if (text === "") return EMPTY;
  let { skipAll, experimentalAll, error } = EMPTY;
  let skip = new Set<string>();
  let experimental = new Set<string>();
  for (const part of text.split(";").slice(0, 3)) {
    const eq = part.indexOf("=");
    if (eq < 0) throw checkError(`invalid check option ${JSON.stringify(part)}`);
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    if (key === "skip") {
      if (raw === "all") skipAll = true;
      else skip = new Set(splitList(raw));
    } else if (key === "experimental") {
      if (raw === "all") experimentalAll = true;
      else experimental = new Set(splitList(raw));
    } else if (key === "error") {
      const b = parseBool(raw);
      if (b === undefined) throw checkError(`failed to parse check option ${JSON.stringify(part)}`);
      error = b;
    } else {
      throw checkError(`invalid check option ${JSON.stringify(key)}`);
    }
  }
  return { skipAll, skip, experimentalAll, experimental, error };
}

function parseBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

function checkError(message: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `failed to parse check options: ${message}`, {
    hint: "the check directive is `# check=skip=<rules>|all;error=<bool>;experimental=<rules>|all`",
  });
}

/** Merges a `# check=` comment above one instruction into the file's configuration. */
export function mergeCommentConfig(base: LintConfig, comments: readonly string[]): LintConfig {
  for (const comment of comments) {
    const m = /^check\s*=\s*(.*)$/i.exec(comment.trim());
    if (!m) continue;
    let extra: LintConfig;
    try {
      extra = parseCheckOptions((m[1] ?? "").split(" ")[0] ?? "");
    } catch {
      return base;
    }
    return {
      skipAll: base.skipAll || extra.skipAll,
      skip: new Set([...base.skip, ...extra.skip]),
      experimentalAll: base.experimentalAll || extra.experimentalAll,
      experimental: new Set([...base.experimental, ...extra.experimental]),
      error: base.error,
    };
  }
  return base;
}

export interface Linter {
  /** Reports `rule` unless skipped (or experimental and not enabled) for the instruction's comments. */
  run<A extends unknown[]>(rule: LintRule<A>, location: SourceLocation, args: A): void;
  readonly warnings: readonly LintWarning[];
  /** The error `error=true` asks for, when any rule fired. */
  error(): KilnError | undefined;
}

export function createLinter(
  config: LintConfig,
  commentsAt: (line: number) => readonly string[] = () => [],
): Linter {
  const warnings: LintWarning[] = [];
  return {
    warnings,
    run(rule, location, args) {
      const cfg = mergeCommentConfig(config, commentsAt(location.line));
      if (rule.experimental) {
        if (!cfg.experimentalAll && !cfg.experimental.has(rule.name)) return;
      } else if (cfg.skipAll || cfg.skip.has(rule.name)) return;
      warnings.push({
        rule: rule.name,
        description: rule.description,
        url: rule.url,
        detail: rule.format(...args),
        location,
      });
    },
    error() {
      if (!config.error || warnings.length === 0) return undefined;
      const first = warnings[0] as LintWarning;
      return new KilnError(
        "FAILED_PRECONDITION",
        `lint violation found for rules: ${[...new Set(warnings.map((w) => w.rule))].join(", ")}`,
        {
          location: first.location,
          hint: "fix the warnings above, or relax the check directive (# check=error=false)",
        },
      );
    },
  };
}
