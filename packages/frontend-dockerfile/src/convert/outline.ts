/**
 * buildx's `--call=outline` (BuildKit's `frontend.outline` subrequest): what a target can be given —
 * the build args it reads (value, and description from the `# NAME description` comment above the
 * ARG), the secrets and SSH ids its RUN --mounts use — gathered over the target and the stages it
 * depends on, in source order. With `baseImages` (see `lookupBaseImages`) a base image's ENV and
 * ONBUILD triggers count, as in BuildKit, which resolves the images first.
 */
import { formatPlatform, type Platform } from "@kiln/core";
import { type Command, parseMount, parseStages } from "../instructions/index.js";
import { parse } from "../parser/index.js";
import { createLexer, type ShellLexer } from "../shell/index.js";
import { platformArgs } from "./args.js";
import type { BaseImage } from "./base-images.js";
import { onbuildTriggers } from "./frontend.js";
import { planStages } from "./stages.js";

export interface OutlineArg {
  readonly name: string;
  readonly value: string | undefined;
  readonly description: string | undefined;
  readonly line: number;
}
export interface OutlineSecret {
  readonly name: string;
  readonly required: boolean;
  readonly line: number;
}
export interface Outline {
  readonly name: string | undefined;
  readonly description: string | undefined;
  readonly args: readonly OutlineArg[];
  readonly secrets: readonly OutlineSecret[];
  readonly ssh: readonly OutlineSecret[];
}

interface ArgInfo extends OutlineArg {
  readonly deps: ReadonlySet<string>;
}

interface StageOutline {
  readonly allArgs: Map<string, ArgInfo>;
  readonly used: Set<string>;
  readonly secrets: Map<string, OutlineSecret>;
  readonly ssh: Map<string, OutlineSecret>;
}

export function outlineDockerfile(
  file: { name: string; data: Uint8Array },
  attrs: Readonly<Record<string, string>>,
  platform: Platform,
  baseImages?: ReadonlyMap<number, BaseImage>,
): Outline {
  const parsed = parse(file.data, file.name);
  const stages = parseStages(parsed, { file: file.name });
  const lexer = createLexer(parsed.escapeToken);
  const buildArgs = new Map(
    Object.entries(attrs)
      .filter(([k]) => k.startsWith("build-arg:"))
      .map(([k, v]) => [k.slice("build-arg:".length), v]),
  );
  const globals = platformArgs(platform);
  globals.set("TARGETPLATFORM", formatPlatform(platform));
  const metaArgs = new Map<string, ArgInfo>();
  for (const cmd of stages.metaArgs) {
    for (const def of cmd.args) {
      let value = buildArgs.get(def.key);
      let deps = new Set<string>();
      if (value === undefined && def.value !== undefined) {
        const r = lexer.processWordWithMatches(def.value, globals);
        value = r.result;
        deps = new Set([...r.matched].filter((k) => k !== def.key));
      }
      if (value !== undefined) globals.set(def.key, value);
      metaArgs.set(def.key, {
        name: def.key,
        value,
        description: def.docComment,
        line: cmd.location.line,
        deps,
      });
    }
  }

  const plan = planStages(stages, lexer, globals, attrs.target);
  const outlines = new Map<number, StageOutline>();
  for (const index of plan.order) {
    const stagePlan = plan.stages[index];
    if (!stagePlan) continue;
    const used = new Set(lexer.processWordWithMatches(stagePlan.stage.baseName, globals).matched);
    // A resolved base image starts the stage with its ENV, and its ONBUILD triggers run first.
    const base = baseImages?.get(index);
    const { stage } = stagePlan;
    const triggers =
      base && !stagePlan.replaced
        ? onbuildTriggers(base.config, base.ref, stage.location, parsed.escapeToken)
        : [];
    const env = new Map<string, string>();
    for (const kv of base?.config.config?.Env ?? []) {
      const eq = kv.indexOf("=");
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    const commands = [...triggers, ...stage.commands];
    const outline = stageOutline(commands, lexer, new Map(metaArgs), used, globals, buildArgs, env);
    outlines.set(index, outline);
  }

  const args: OutlineArg[] = [];
  const secrets: OutlineSecret[] = [];
  const ssh: OutlineSecret[] = [];
  const seen = { args: new Set<string>(), secrets: new Set<string>(), ssh: new Set<string>() };
  const visit = (index: number, stagesSeen: Set<number>) => {
    if (stagesSeen.has(index)) return;
    stagesSeen.add(index);
    const o = outlines.get(index);
    if (!o) return;
    markAllUsed(o, [...o.used], new Set());
    for (const name of o.used) {
      const info = o.allArgs.get(name);
      if (info && !seen.args.has(name)) {
        seen.args.add(name);
        args.push({ name: info.name, value: info.value, description: info.description, line: info.line });
      }
    }
    for (const [id, s] of o.secrets) if (!seen.secrets.has(id) && seen.secrets.add(id)) secrets.push(s);
    for (const [id, s] of o.ssh) if (!seen.ssh.has(id) && seen.ssh.add(id)) ssh.push(s);
    for (const dep of plan.stages[index]?.deps ?? []) visit(dep, stagesSeen);
  };
  visit(plan.target, new Set());
  const byLine = (a: { line: number }, b: { line: number }) => a.line - b.line;
  const target = plan.stages[plan.target]?.stage;
  return {
    name: target?.name,
    description: target?.docComment,
    args: args.sort(byLine),
    secrets: secrets.sort(byLine),
    ssh: ssh.sort(byLine),
  };
}

function markAllUsed(o: StageOutline, names: readonly string[], visited: Set<string>): void {
  for (const name of names) {
    if (visited.has(name)) continue;
    visited.add(name);
    o.used.add(name);
    markAllUsed(o, [...(o.allArgs.get(name)?.deps ?? [])], visited);
  }
}

function stageOutline(
  commands: readonly Command[],
  lexer: ShellLexer,
  allArgs: Map<string, ArgInfo>,
  used: Set<string>,
  globals: ReadonlyMap<string, string>,
  buildArgs: ReadonlyMap<string, string>,
  env: Map<string, string>,
): StageOutline {
  const secrets = new Map<string, OutlineSecret>();
  const ssh = new Map<string, OutlineSecret>();
  const expand = (word: string) => {
    try {
      return lexer.processWord(word, env);
    } catch {
      return word;
    }
  };
  for (const cmd of commands) {
    if (cmd.kind === "ARG") {
      for (const def of cmd.args) {
        let value = buildArgs.get(def.key);
        const inherited = value === undefined && def.value === undefined && globals.has(def.key);
        if (value === undefined && def.value !== undefined) value = expand(def.value);
        value ??= globals.get(def.key);
        if (value !== undefined) env.set(def.key, value);
        // An ARG that only re-declares a global keeps the global's description.
        if (!inherited) {
          allArgs.set(def.key, {
            name: def.key,
            value,
            description: def.docComment,
            line: cmd.location.line,
            deps: new Set(),
          });
        }
        used.add(def.key);
      }
    } else if (cmd.kind === "ENV") {
      for (const kv of cmd.env) env.set(expand(kv.key), expand(kv.value));
    } else if (cmd.kind === "RUN") {
      for (const spec of cmd.mounts) {
        let mount: ReturnType<typeof parseMount>;
        try {
          mount = parseMount(spec.raw, expand);
        } catch {
          continue;
        }
        const line = cmd.location.line;
        if (mount.type === "secret") {
          const id = mount.id || mount.source || (mount.target ? basename(mount.target) : "");
          if (id && !secrets.has(id)) secrets.set(id, { name: id, required: mount.required, line });
        } else if (mount.type === "ssh") {
          const id = mount.id || "default";
          if (!ssh.has(id)) ssh.set(id, { name: id, required: mount.required, line });
        }
      }
    }
  }
  return { allArgs, used, secrets, ssh };
}

const basename = (p: string) => p.replace(/\/+$/, "").split("/").pop() ?? "";
