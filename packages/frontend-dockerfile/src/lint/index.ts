/**
 * Build checks (BuildKit's Dockerfile linter): `lintDockerfile` runs every rule that applies and
 * returns the warnings plus the error `# check=error=true` asks for.
 */
import { formatPlatform, KilnError, type Platform } from "@kiln/core";
import { platformArgs } from "../convert/args.js";
import type { Stages } from "../instructions/index.js";
import type { ParseResult } from "../parser/index.js";
import { createLexer } from "../shell/index.js";
import {
  checkDefaultArgsInFrom,
  checkFromArgs,
  checkParse,
  checkStages,
  evalMetaArgs,
} from "./from-checks.js";
import { createLinter, type LintConfig, type LintWarning, parseCheckOptions } from "./linter.js";
import { RULES } from "./rules.js";
import { type BaseImageInfo, checkStage, envFromList, SCRATCH_ENV, type StageEnv } from "./stage-checks.js";

export { type LintConfig, type LintWarning, parseCheckOptions } from "./linter.js";
export { type LintRule, RULES, type RuleName } from "./rules.js";
export type { BaseImageInfo } from "./stage-checks.js";

export interface LintOptions {
  /** Frontend attrs: `build-arg:*` values and `BUILDKIT_DOCKERFILE_CHECK`. */
  readonly attrs: Readonly<Record<string, string>>;
  readonly platform: Platform;
  /** Stages whose instructions are dispatched (the build's); all of them when undefined (`--check`). */
  readonly stagesToCheck?: ReadonlySet<number>;
  /** Resolved base images by stage index (builds know them; `--check` does not resolve images). */
  readonly baseImages?: ReadonlyMap<number, BaseImageInfo>;
  readonly ignorePatterns?: readonly string[];
}

export interface LintResult {
  readonly warnings: readonly LintWarning[];
  /** Set when `error=true` and some rule fired. */
  readonly error: KilnError | undefined;
  readonly config: LintConfig;
}

export function lintDockerfile(parsed: ParseResult, stages: Stages, o: LintOptions): LintResult {
  const config = checkConfig(parsed, o.attrs);
  const comments = new Map(parsed.ast.children.map((n) => [n.startLine, n.prevComment]));
  const lint = createLinter(config, (line) => comments.get(line) ?? []);
  const lexer = createLexer(parsed.escapeToken);
  const buildArgs = new Map(
    Object.entries(o.attrs)
      .filter(([k]) => k.startsWith("build-arg:"))
      .map(([k, v]) => [k.slice("build-arg:".length), v]),
  );
  const platformEnv = platformArgs(o.platform);

  checkParse(parsed, lint);
  checkStages(stages.stages, lint);
  checkDefaultArgsInFrom(stages.stages, stages.metaArgs, lexer, platformEnv, lint);
  const globals = evalMetaArgs(stages.metaArgs, lexer, platformEnv, buildArgs);
  checkFromArgs(stages.stages, lexer, globals, lint);

  const results = new Map<number, StageEnv>();
  const byName = new Map<string, number>();
  stages.stages.forEach((stage, index) => {
    let base: StageEnv = { env: new Map(), envKnown: false, shellSet: false };
    let baseName: string;
    try {
      baseName = lexer.processWord(stage.baseName, globals.env).toLowerCase();
    } catch {
      baseName = stage.baseName.toLowerCase();
    }
    const fromStage = byName.get(baseName);
    const image = o.baseImages?.get(index);
    if (fromStage !== undefined) base = results.get(fromStage) ?? base;
    else if (baseName === "scratch") base = { env: new Map(SCRATCH_ENV), envKnown: true, shellSet: false };
    else if (image) {
      base = {
        env: envFromList(image.env ?? []),
        envKnown: image.env !== undefined,
        shellSet: (image.shell?.length ?? 0) > 0,
      };
    }
    if (stage.name !== undefined && !byName.has(stage.name)) byName.set(stage.name, index);
    if (o.stagesToCheck && !o.stagesToCheck.has(index)) return;
    results.set(
      index,
      checkStage(stage, {
        lexer,
        lint,
        base,
        globals: globals.env,
        buildArgs,
        ignorePatterns: o.ignorePatterns ?? [],
      }),
    );
  });
  return { warnings: lint.warnings, error: lint.error(), config };
}

/**
 * The file's check configuration: the `BUILDKIT_DOCKERFILE_CHECK` build arg, else the `# check=`
 * directive. A malformed value is an error pointing at the directive.
 */
export function checkConfig(parsed: ParseResult, attrs: Readonly<Record<string, string>>): LintConfig {
  const fromArg = attrs["build-arg:BUILDKIT_DOCKERFILE_CHECK"];
  const directive = parsed.directives.find((d) => d.name === "check");
  try {
    return parseCheckOptions(fromArg ?? directive?.value ?? "");
  } catch (err) {
    if (fromArg !== undefined || !directive || !(err instanceof KilnError)) throw err;
    const text = parsed.sourceLines[directive.line - 1];
    throw new KilnError(err.code, err.message, {
      location: { file: parsed.file, line: directive.line, ...(text !== undefined ? { text } : {}) },
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
}

/** InvalidBaseImagePlatform, checked by the build once the image is resolved. */
export function checkBaseImagePlatform(
  result: LintResult,
  image: string,
  expected: Platform,
  actual: Platform,
  location: LintWarning["location"],
): LintWarning | undefined {
  if (expected.os === actual.os && expected.architecture === actual.architecture) return undefined;
  const lint = createLinter(result.config);
  lint.run(RULES.InvalidBaseImagePlatform, location, [
    image,
    formatPlatform(expected),
    formatPlatform(actual),
  ]);
  return lint.warnings[0];
}
