/**
 * Checks BuildKit runs while dispatching a stage's instructions (so only for the stages a build
 * needs, or all of them for `--check`): they need the stage's environment, which this walk
 * models — the base's env (a known image config, `scratch`'s PATH, or an earlier stage's result),
 * then ARG and ENV as they come.
 */
import { DEFAULT_PATH_ENV, type SourceLocation } from "@kiln/core";
import { cleanPath } from "../dockerignore/clean-path.js";
import { createIgnoreMatcher } from "../dockerignore/index.js";
import type { Command, Stage } from "../instructions/index.js";
import { splitCsvRecord } from "../instructions/mount.js";
import { suggest } from "../instructions/suggest.js";
import type { ShellLexer } from "../shell/index.js";
import type { Linter } from "./linter.js";
import { RULES } from "./rules.js";

/** What is known of a stage's base image; `undefined` env means "not resolved" (no UndefinedVar). */
export interface BaseImageInfo {
  readonly env: readonly string[] | undefined;
  readonly shell: readonly string[] | undefined;
}

/** What a stage passes to a stage built on it (BuildKit copies these with the dispatch state). */
export interface StageEnv {
  /** Variables set so far (the base's, when known, plus the stage's own). */
  readonly env: Map<string, string>;
  /** False when the base image's env is unknown: any other variable may come from it. */
  readonly envKnown: boolean;
  readonly shellSet: boolean;
  readonly workdirSet?: boolean;
  /** ARG names declared (with or without a value). */
  readonly declared?: ReadonlySet<string>;
}

// Args BuildKit reads itself and never puts in the environment.
const NON_ENV_ARGS = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);

const SECRET_WORDS = "apikey|auth|credential|credentials|key|password|pword|passwd|secret|token";
const SECRET_KEY = new RegExp(`(?:_|^)(?:${SECRET_WORDS})(?:_|$)`, "i");
const ALLOWED_KEY = /(?:_|^)(?:public|file|version)(?:_|$)/i;

export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of list) {
    const eq = e.indexOf("=");
    env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
  }
  return env;
}

export interface StageCheckOptions {
  readonly lexer: ShellLexer;
  readonly lint: Linter;
  readonly base: StageEnv;
  readonly globals: ReadonlyMap<string, string>;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly ignorePatterns: readonly string[];
}

export function checkStage(stage: Stage, o: StageCheckOptions): StageEnv {
  const { lexer, lint } = o;
  const env = new Map(o.base.env);
  const envKnown = o.base.envKnown;
  const declared = new Set<string>(o.base.declared);
  let shellSet = o.base.shellSet;
  let workdirSet = o.base.workdirSet ?? false;
  const once = new Map<string, SourceLocation>();
  const ignore = ignoreMatcher(o.ignorePatterns);

  /**
   * Expands a word, reporting variables that are neither set nor declared by an ARG. Undefined when
   * the result depends on a variable the unknown base image may set.
   */
  const expand = (word: string | undefined, cmd: Command): string | undefined => {
    if (word === undefined || word === "") return "";
    let r: ReturnType<ShellLexer["processWordWithMatches"]>;
    try {
      r = lexer.processWordWithMatches(word, (name) => env.get(name));
    } catch {
      return word;
    }
    if (!envKnown) return r.unmatched.size > 0 ? undefined : r.result;
    for (const name of r.unmatched) {
      if (declared.has(name) || NON_ENV_ARGS.has(name)) continue;
      lint.run(RULES.UndefinedVar, cmd.location, [name, suggest(name, [...env.keys()], true) ?? ""]);
    }
    return r.result;
  };
  const secretKey = (instruction: string, key: string, cmd: Command) => {
    if (SECRET_KEY.test(key) && !ALLOWED_KEY.test(key)) {
      lint.run(RULES.SecretsUsedInArgOrEnv, cmd.location, [instruction, key]);
    }
  };

  for (const cmd of stage.commands) {
    const name = cmd.location.instruction;
    switch (cmd.kind) {
      case "ARG":
        for (const def of cmd.args) {
          secretKey("ARG", def.key, cmd);
          let value = o.buildArgs.get(def.key);
          if (value === undefined && def.value !== undefined) value = expand(def.value, cmd) ?? "";
          value ??= o.globals.get(def.key);
          declared.add(def.key);
          if (value !== undefined && !NON_ENV_ARGS.has(def.key)) env.set(def.key, value);
        }
        break;
      case "ENV":
        // All pairs expand against the env from before the instruction, like BuildKit.
        for (const [key, value] of cmd.env.map((kv) => {
          if (kv.noDelim) lint.run(RULES.LegacyKeyValueFormat, cmd.location, [name]);
          secretKey("ENV", kv.key, cmd);
          return [expand(kv.key, cmd) ?? kv.key, expand(kv.value, cmd) ?? ""] as const;
        })) {
          env.set(key, value);
        }
        break;
      case "LABEL":
        for (const kv of cmd.labels) {
          expand(kv.key, cmd);
          expand(kv.value, cmd);
          if (kv.noDelim) lint.run(RULES.LegacyKeyValueFormat, cmd.location, [name]);
        }
        break;
      case "WORKDIR": {
        const path = expand(cmd.path, cmd);
        if (!workdirSet && path !== undefined && !path.startsWith("/")) {
          lint.run(RULES.WorkdirRelativePath, cmd.location, [path]);
        }
        workdirSet = true;
        break;
      }
      case "USER":
        expand(cmd.user, cmd);
        break;
      case "VOLUME":
        for (const v of cmd.volumes) expand(v, cmd);
        break;
      case "STOPSIGNAL":
        expand(cmd.signal, cmd);
        break;
      case "SHELL":
        shellSet = true;
        break;
      case "RUN":
        for (const mount of cmd.mounts) {
          let fields: string[];
          try {
            fields = splitCsvRecord(mount.raw);
          } catch {
            continue;
          }
          for (const field of fields) {
            const eq = field.indexOf("=");
            if (eq >= 0 && field.slice(0, eq).toLowerCase() !== "from") expand(field.slice(eq + 1), cmd);
          }
        }
        break;
      case "CMD":
      case "ENTRYPOINT":
      case "HEALTHCHECK": {
        const previous = once.get(cmd.kind);
        if (previous) lint.run(RULES.MultipleInstructionsDisallowed, previous, [name]);
        once.set(cmd.kind, cmd.location);
        if (cmd.kind !== "HEALTHCHECK" && cmd.prependShell && !shellSet) {
          lint.run(RULES.JSONArgsRecommended, cmd.location, [name]);
        }
        break;
      }
      case "EXPOSE":
        for (const raw of cmd.ports) {
          const port = expand(raw, cmd) ?? raw;
          const parts = port.split(":");
          const container = parts[parts.length - 1] as string;
          const proto = container.includes("/") ? container.slice(container.indexOf("/") + 1) : "";
          if (proto !== proto.toLowerCase()) lint.run(RULES.ExposeProtoCasing, cmd.location, [port]);
          if (parts.length > 1 && parts.slice(0, -1).some((p) => p !== "")) {
            lint.run(RULES.ExposeInvalidFormat, cmd.location, [port]);
          }
        }
        break;
      case "COPY":
      case "ADD": {
        expand(cmd.chown, cmd);
        expand(cmd.chmod, cmd);
        if (cmd.kind === "ADD") expand(cmd.checksum, cmd);
        const sources = cmd.sourcePaths.flatMap((s) => expand(s, cmd) ?? []);
        expand(cmd.destPath, cmd);
        if (!ignore || (cmd.kind === "COPY" && cmd.from !== undefined)) break;
        for (const src of sources) {
          if (cmd.kind === "ADD" && /^(https?:\/\/|git@|[\w.+-]+:\/\/)/.test(src)) continue;
          const clean = cleanPath(src);
          if ((clean === "." || clean === "/") && !ignore.rootIgnored) continue;
          if (ignore.matcher(clean.replace(/^\/+/, "") || ".")) {
            lint.run(RULES.CopyIgnoredFile, cmd.location, [cmd.kind === "ADD" ? "Add" : "Copy", clean]);
          }
        }
        break;
      }
      default:
        break;
    }
  }
  return { env, envKnown, shellSet, workdirSet, declared };
}

/** BuildKit skips CopyIgnoredFile when the ignore file has exceptions: they are too hard to judge. */
function ignoreMatcher(patterns: readonly string[]) {
  if (patterns.length === 0) return undefined;
  let matcher: ReturnType<typeof createIgnoreMatcher>;
  try {
    matcher = createIgnoreMatcher(patterns);
  } catch {
    return undefined; // a bad pattern is reported where the context is read, not by a check
  }
  if (matcher.hasExceptions) return undefined;
  const rootIgnored = patterns.some((p) => ["*", "**", "**/*"].includes(p.trim()));
  return { matcher, rootIgnored };
}

/** The env a `FROM scratch` stage starts with. */
export const SCRATCH_ENV: ReadonlyMap<string, string> = envFromList([DEFAULT_PATH_ENV]);
