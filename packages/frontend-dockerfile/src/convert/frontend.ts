import {
  type CallOptions,
  DEFAULT_PATH_ENV,
  type Frontend,
  type FrontendRequest,
  type FrontendResult,
  type ImageConfig,
  KilnError,
  type Platform,
  parsePlatform,
  type SourceLocation,
} from "@kiln/core";
import { local, marshal, type State, scratch, source } from "@kiln/llb";
import { parseIgnoreFile } from "../dockerignore/index.js";
import { InstructionError } from "../instructions/errors.js";
import { type Command, parseInstruction, parseStages, toKilnError } from "../instructions/index.js";
import {
  type BaseImageInfo,
  checkBaseImagePlatform,
  type LintWarning,
  lintDockerfile,
} from "../lint/index.js";
import { parse } from "../parser/index.js";
import { createLexer } from "../shell/index.js";
import { createBuildArgs, platformArgs, proxyEnvFromBuildArgs } from "./args.js";
import { dispatchCopy } from "./copy.js";
import { applyDirectives } from "./directives.js";
import { dispatchMetadata } from "./metadata.js";
import { remoteMainContext, remoteNamedContext } from "./named-context.js";
import { dispatchRun } from "./run.js";
import type { ConvertContext, StageState } from "./stage-state.js";
import { planStages } from "./stages.js";

export const FRONTEND_NAME = "dockerfile.v0";

/** The built-in Dockerfile frontend (`# syntax=docker/dockerfile:1…` selects it, offline). */
export function createDockerfileFrontend(): Frontend {
  return { name: FRONTEND_NAME, solve: convertDockerfile };
}

export async function convertDockerfile(req: FrontendRequest, o: CallOptions = {}): Promise<FrontendResult> {
  const file = req.file.name;
  const parsed = parse(req.file.data, file);
  applyDirectives(parsed, req);
  const lexer = createLexer(parsed.escapeToken);
  const stages = parseStages(parsed, { file });

  const buildArgs = createBuildArgs(req.attrs);
  const globalArgs = platformArgs(req.platform);
  for (const cmd of stages.metaArgs) {
    for (const def of cmd.args) {
      const value =
        buildArgs.get(def.key) ??
        (def.value !== undefined ? lexer.processWord(def.value, globalArgs) : undefined);
      if (value !== undefined) globalArgs.set(def.key, value);
      else if (!globalArgs.has(def.key)) globalArgs.delete(def.key);
    }
  }
  const plan = planStages(
    stages,
    lexer,
    globalArgs,
    req.attrs.target,
    (name) => namedContext(req.attrs, name) !== undefined,
  );
  // SOURCE_DATE_EPOCH: the build arg, else the default of a global ARG (BuildKit reads both).
  const epoch = buildArgs.get("SOURCE_DATE_EPOCH") ?? globalArgs.get("SOURCE_DATE_EPOCH");
  if (epoch && !/^\d+$/.test(epoch)) {
    const arg = stages.metaArgs.find((cmd) => cmd.args.some((a) => a.key === "SOURCE_DATE_EPOCH"));
    throw new KilnError("INVALID_ARGUMENT", `invalid SOURCE_DATE_EPOCH: ${epoch}`, {
      hint: "SOURCE_DATE_EPOCH is a Unix timestamp in seconds",
      ...(arg && !buildArgs.get("SOURCE_DATE_EPOCH") ? { location: arg.location } : {}),
    });
  }
  // RFC 3339 like BuildKit's: whole seconds print without a fraction.
  const created = (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString().replace(".000Z", "Z");

  const ignorePatterns = req.ignoreFile ? parseIgnoreFile(req.ignoreFile) : [];
  // A URL as the main context (buildx `build <git or https URL>`) replaces the local directory.
  const keepGitDir = /^(1|true)$/i.test(buildArgs.get("BUILDKIT_CONTEXT_KEEP_GIT_DIR") ?? "");
  const context =
    (req.attrs.context ? remoteMainContext(req.attrs.context, { keepGitDir }) : undefined) ??
    local("context", {
      sharedKeyHint: "context",
      ...(ignorePatterns.length ? { excludePatterns: ignorePatterns } : {}),
      customName: "[internal] load build context",
    });

  const baseImages = new Map<number, BaseImageInfo>();
  const platformMismatches: [string, Platform, Platform, SourceLocation][] = [];
  const names = new Map<string, SourceLocation>();
  const images = new Map<string, Promise<{ state: State; config: ImageConfig }>>();
  const done = new Map<number, StageState>();
  const ctx: ConvertContext = {
    file,
    lexer,
    buildArgs,
    proxyEnv: proxyEnvFromBuildArgs(req.attrs),
    globalArgs,
    plan,
    context,
    created,
    resolveImage(ref, platform, location) {
      const key = `${ref}\0${platform.os}/${platform.architecture}/${platform.variant ?? ""}`;
      let image = images.get(key);
      if (!image) {
        image = resolveImage(req, ref, platform, location, o);
        images.set(key, image);
      }
      return image;
    },
    stageResult(index) {
      const st = done.get(index);
      if (!st) throw new KilnError("INTERNAL", `stage ${index} used before it was converted`);
      return st;
    },
    locate: (name, location) => void names.set(name, location),
    warn: (message, location) => req.bridge.warn(message, location),
  };

  for (const index of plan.order) {
    const stagePlan = plan.stages[index];
    if (!stagePlan) continue;
    const { stage } = stagePlan;
    const platform = stage.platform
      ? parsePlatform(lexer.processWord(stage.platform, globalArgs))
      : req.platform;
    const fromText = stagePlan.base.kind === "image" ? stagePlan.base.ref : stage.baseName;
    const fromName = `[${stagePlan.displayName} 1/${stage.commands.length + 1}] FROM ${fromText}`;
    names.set(fromName, stage.location);
    let state: State;
    let config: ImageConfig;
    if (stagePlan.base.kind === "stage") {
      const base = ctx.stageResult(stagePlan.base.index);
      state = base.state;
      config = structuredClone(base.config);
    } else if (stagePlan.base.kind === "scratch") {
      state = scratch().platform(platform);
      config = emptyImage(platform);
    } else {
      const image = await ctx.resolveImage(stagePlan.base.ref, platform, stage.location);
      state = image.state.withCustomName(fromName);
      config = structuredClone(image.config);
      baseImages.set(index, { env: config.config?.Env ?? [], shell: config.config?.Shell ?? undefined });
      if (config.os && config.architecture) {
        const actual = { os: config.os, architecture: config.architecture };
        platformMismatches.push([stagePlan.base.ref, platform, actual, stage.location]);
      }
    }
    // The base's ONBUILD triggers run first in this stage and are not passed on (like BuildKit).
    const triggers = stagePlan.replaced
      ? []
      : onbuildTriggers(config, fromText, stage.location, parsed.escapeToken);
    if (config.config?.OnBuild) config.config.OnBuild = null;
    const st: StageState = {
      plan: stagePlan,
      state,
      config,
      platform,
      args: new Map(),
      cmdSet: false,
      step: 1,
      total: stage.commands.length + 1,
    };
    for (const cmd of stagePlan.replaced ? [] : [...triggers, ...stage.commands]) {
      if (!triggers.includes(cmd)) st.step += 1;
      try {
        if (cmd.kind === "COPY" || cmd.kind === "ADD") await dispatchCopy(ctx, st, cmd);
        else if (cmd.kind === "RUN") await dispatchRun(ctx, st, cmd);
        else dispatchMetadata(ctx, st, cmd);
      } catch (err) {
        // Values checked only once expanded (RUN --mount fields) fail here with an InstructionError.
        if (err instanceof InstructionError) throw toKilnError(err, cmd.location, parsed.sourceLines);
        throw withLocation(err, cmd.location);
      }
    }
    done.set(index, st);
  }

  const target = ctx.stageResult(plan.target);
  const config = target.config;
  // With SOURCE_DATE_EPOCH the image's own time is the epoch too, like its history (BuildKit).
  if (epoch) config.created = created;
  const labels = Object.entries(req.attrs).filter(([k]) => k.startsWith("label:"));
  if (labels.length) {
    config.config ??= {};
    config.config.Labels ??= {};
    for (const [k, v] of labels) config.config.Labels[k.slice(6)] = v;
  }
  const lint = lintDockerfile(parsed, stages, {
    attrs: req.attrs,
    platform: req.platform,
    stagesToCheck: new Set(plan.order),
    baseImages,
    ignorePatterns,
  });
  const warnings: LintWarning[] = [...lint.warnings];
  for (const [image, expected, actual, location] of platformMismatches) {
    const w = checkBaseImagePlatform(lint, image, expected, actual, location);
    if (w) warnings.push(w);
  }
  for (const w of warnings) req.bridge.warn(`${w.rule}: ${w.detail}`, w.location);
  if (lint.error) throw lint.error;

  const unused = buildArgs.unused();
  if (unused.length) req.bridge.warn(`one or more build-args [${unused.join(" ")}] were not consumed`);

  const definition = marshal(target.state, { platform: req.platform, localUniqueId: "kiln" });
  const locations: Record<string, SourceLocation> = {};
  for (const [digest, meta] of Object.entries(definition.metadata)) {
    const name = meta.description?.["llb.customname"];
    const location = name ? names.get(name) : undefined;
    if (location) locations[digest] = location;
  }
  return { definition, config, locations };
}

/** BuildKit's config for `FROM scratch`. */
export function emptyImage(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    rootfs: { type: "layers", diff_ids: [] },
    config: { Env: [DEFAULT_PATH_ENV], WorkingDir: "/" },
  };
}

/** Named contexts first (`--build-context name=…`), then the image itself. */
async function resolveImage(
  req: FrontendRequest,
  ref: string,
  platform: Platform,
  location: SourceLocation,
  o: CallOptions,
): Promise<{ state: State; config: ImageConfig }> {
  const named = namedContext(req.attrs, ref);
  if (named?.startsWith("local:")) {
    const name = named.slice("local:".length);
    return { state: local(name, { sharedKeyHint: name }), config: emptyImage(platform) };
  }
  try {
    const remote = named === undefined ? undefined : remoteNamedContext(named, ref);
    if (remote) return { state: remote.platform(platform), config: emptyImage(platform) };
    const resolved = await req.bridge.resolveImage(named ?? `docker-image://${ref}`, platform, o);
    const { created: _created, ...config } = resolved.config;
    const state = source(resolved.identifier, resolved.attrs, { platform })
      .platform(platform)
      .withImageConfig(config);
    return { state, config: config as ImageConfig };
  } catch (err) {
    throw withLocation(err, location);
  }
}

/** `context:<name>` for the reference as written, then its normalised forms (like buildx). */
export function namedContext(attrs: Readonly<Record<string, string>>, ref: string): string | undefined {
  const candidates = [ref];
  const noTag = ref.replace(/:[^/:@]+$/, "");
  if (!ref.includes("@") && noTag === ref) candidates.push(`${ref}:latest`);
  candidates.push(noTag);
  const familiar = ref.replace(/^docker\.io\/(library\/)?/, "");
  candidates.push(familiar, familiar.replace(/:latest$/, ""));
  for (const c of candidates) {
    const v = attrs[`context:${c}`];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Adds the instruction's location to an error that has none (lexer and resolver errors). */
export function withLocation(err: unknown, location: SourceLocation): unknown {
  if (!(err instanceof KilnError) || err.location) return err;
  // A word the shell lexer could not process: point at it when it is on the instruction's line.
  const word = err.details?.word;
  const at = typeof word === "string" && word !== "" && location.text ? location.text.indexOf(word) : -1;
  const column = at >= 0 ? Array.from((location.text ?? "").slice(0, at)).length + 1 : undefined;
  return new KilnError(err.code, err.message, {
    cause: err.cause ?? err,
    location: column ? { ...location, column } : location,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(err.details ? { details: err.details } : {}),
  });
}

/** ONBUILD trigger texts of a base config, parsed as instructions located at the stage's FROM line. */
export function onbuildTriggers(
  config: ImageConfig,
  base: string,
  at: SourceLocation,
  escapeToken: string,
): Command[] {
  const triggers = config.config?.OnBuild ?? [];
  if (triggers.length === 0) return [];
  const file = `${at.file} (ONBUILD of ${base})`;
  const text = `${escapeToken === "`" ? "# escape=`\n" : ""}${triggers.join("\n")}\n`;
  const result = parse(text, file);
  return result.ast.children.map((node) => {
    const cmd = parseInstruction(node, file);
    if (cmd.kind === "FROM") {
      throw new KilnError("INVALID_ARGUMENT", "FROM is not allowed as an ONBUILD trigger", { location: at });
    }
    const location = { ...cmd.location, file: at.file, line: at.line, ...(at.text ? { text: at.text } : {}) };
    return { ...cmd, location } as Command;
  });
}
