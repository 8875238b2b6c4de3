import { hostPlatform, type Platform, type SourceLocation } from "@kiln/core";
import { parseIgnoreFile } from "../dockerignore/index.js";
import { parseStages } from "../instructions/index.js";
import {
  type BaseImageInfo,
  checkBaseImagePlatform,
  type LintWarning,
  lintDockerfile,
} from "../lint/index.js";
import { parse } from "../parser/index.js";
import { createLexer } from "../shell/index.js";
import { platformArgs } from "./args.js";
import type { BaseImage } from "./base-images.js";
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
 * `error=true` only changes a build). With `baseImages` (see `lookupBaseImages`) the checks see the
 * base images' ENV and SHELL, as in a build; without, UndefinedVar is checked only in stages whose
 * environment is fully known (from `scratch` or a stage of the same file).
 */
export function checkDockerfile(req: {
  readonly attrs: Readonly<Record<string, string>>;
  readonly file: { readonly name: string; readonly data: Uint8Array };
  readonly ignoreFile?: Uint8Array;
  readonly platform?: Platform;
  /** Base images by stage index (`lookupBaseImages`): their ENV and SHELL, and platform checks. */
  readonly baseImages?: ReadonlyMap<number, BaseImage>;
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
  const baseImages = new Map<number, BaseImageInfo>();
  for (const [index, image] of req.baseImages ?? []) {
    baseImages.set(index, {
      env: image.config.config?.Env ?? [],
      shell: image.config.config?.Shell ?? undefined,
    });
  }
  const result = lintDockerfile(parsed, stages, {
    attrs: req.attrs,
    platform,
    ...(stagesToCheck ? { stagesToCheck } : {}),
    baseImages,
    ignorePatterns: req.ignoreFile ? parseIgnoreFile(req.ignoreFile) : [],
  });
  const warnings = [...result.warnings];
  for (const [index, image] of req.baseImages ?? []) {
    const { os, architecture } = image.config;
    const stage = stages.stages[index];
    if (!os || !architecture || !stage) continue;
    const w = checkBaseImagePlatform(result, image.ref, image.platform, { os, architecture }, stage.location);
    if (w) warnings.push(w);
  }
  return warnings.sort((a, b) => a.location.line - b.location.line);
}
