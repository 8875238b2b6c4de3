import { hostPlatform, type Platform, type SourceLocation } from "@kiln/core";
import { parseIgnoreFile } from "../dockerignore/index.js";
import { parseStages } from "../instructions/index.js";
import { type LintWarning, lintDockerfile } from "../lint/index.js";
import { parse } from "../parser/index.js";
import { createLexer } from "../shell/index.js";
import { platformArgs } from "./args.js";
import { planStages } from "./stages.js";

/**
 * buildx's `--call` subrequests that need no build: `targets` lists the stages (with their doc
 * comments, like BuildKit's frontend.targets), `check` reports the build-check warnings only
 * (`outline` is in outline.ts).
 */
export interface TargetInfo {
  readonly name: string;
  readonly description: string | undefined;
  readonly base: string;
  readonly isDefault: boolean;
  readonly location: SourceLocation;
}

export function listTargets(file: { name: string; data: Uint8Array }): TargetInfo[] {
  const stages = parseStages(parse(file.data, file.name), { file: file.name }).stages;
  return stages.map((stage, i) => ({
    name: stage.name ?? `stage-${i}`,
    description: stage.docComment,
    base: stage.baseName,
    isDefault: i === stages.length - 1,
    location: stage.location,
  }));
}

export type CheckWarning = LintWarning;

/**
 * `--call=check`: all build-check rules over every stage (or, with a `target` attr, the stages it
 * needs), honouring `# check=…` (skip, experimental;
 * `error=true` only changes a build). Base images are not resolved, so UndefinedVar is checked only
 * in stages whose environment is fully known (from `scratch` or a stage of the same file).
 */
export function checkDockerfile(req: {
  readonly attrs: Readonly<Record<string, string>>;
  readonly file: { readonly name: string; readonly data: Uint8Array };
  readonly ignoreFile?: Uint8Array;
  readonly platform?: Platform;
}): CheckWarning[] {
  const parsed = parse(req.file.data, req.file.name);
  const stages = parseStages(parsed, { file: req.file.name });
  const platform = req.platform ?? hostPlatform();
  // Like BuildKit: no target checks every stage; a target checks the stages it needs.
  let stagesToCheck: Set<number> | undefined;
  if (req.attrs.target) {
    const lexer = createLexer(parsed.escapeToken);
    const globals = platformArgs(platform);
    for (const cmd of stages.metaArgs) {
      for (const def of cmd.args) {
        const value = req.attrs[`build-arg:${def.key}`] ?? def.value;
        if (value !== undefined) globals.set(def.key, lexer.processWord(value, globals));
      }
    }
    stagesToCheck = new Set(planStages(stages, lexer, globals, req.attrs.target).order);
  }
  const result = lintDockerfile(parsed, stages, {
    attrs: req.attrs,
    platform,
    ...(stagesToCheck ? { stagesToCheck } : {}),
    ignorePatterns: req.ignoreFile ? parseIgnoreFile(req.ignoreFile) : [],
  });
  return [...result.warnings].sort((a, b) => a.location.line - b.location.line);
}
