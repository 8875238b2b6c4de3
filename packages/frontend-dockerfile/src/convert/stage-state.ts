import type { ImageConfig, Platform, SourceLocation } from "@kiln/core";
import type { State } from "@kiln/llb";
import type { ShellLexer } from "../shell/index.js";
import type { BuildArgs, ProxyEnv } from "./args.js";
import type { BuildPlan, StagePlan } from "./stages.js";

/** The state of one stage while its instructions are converted. */
export interface StageState {
  readonly plan: StagePlan;
  state: State;
  config: ImageConfig;
  readonly platform: Platform;
  /** ARGs declared in this stage, with their values. */
  readonly args: Map<string, string>;
  /** Whether CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** 1-based position of the instruction being converted (FROM is 1). */
  step: number;
  readonly total: number;
}

/** What instruction handlers share for one conversion. */
export interface ConvertContext {
  readonly file: string;
  readonly lexer: ShellLexer;
  readonly buildArgs: BuildArgs;
  /** Proxy build args, passed to every RUN outside its cache key. */
  readonly proxyEnv: ProxyEnv | undefined;
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly plan: BuildPlan;
  /** The build context as an LLB state (with .dockerignore excludes). */
  readonly context: State;
  /** History timestamp: SOURCE_DATE_EPOCH when given, else now. */
  readonly created: string;
  /** Resolves `COPY --from=<image or named context>` and FROM images. */
  resolveImage(
    ref: string,
    platform: Platform,
    location: SourceLocation,
  ): Promise<{ state: State; config: ImageConfig }>;
  /** Converted stages by index (dependencies are converted first). */
  stageResult(index: number): StageState;
  /** Records the instruction behind a vertex name, for error messages. */
  locate(name: string, location: SourceLocation): void;
  warn(message: string, location?: SourceLocation): void;
}

/** Variables visible to an instruction: the stage's ARGs, overridden by its ENV. */
export function expansionEnv(st: StageState): Map<string, string> {
  const env = new Map(st.args);
  for (const entry of st.config.config?.Env ?? []) {
    const eq = entry.indexOf("=");
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? "" : entry.slice(eq + 1));
  }
  return env;
}

/** BuildKit's progress name of a step: `[name i/n] INSTRUCTION args`. */
export function stepName(st: StageState, text: string): string {
  return `[${st.plan.displayName} ${st.step}/${st.total}] ${text}`;
}

export function addHistory(
  ctx: ConvertContext,
  st: StageState,
  createdBy: string,
  emptyLayer: boolean,
): void {
  st.config.history ??= [];
  st.config.history.push({
    created: ctx.created,
    created_by: createdBy,
    comment: "buildkit.dockerfile.v0",
    ...(emptyLayer ? { empty_layer: true } : {}),
  });
}

/** Sets `KEY=value` in an Env list, replacing an existing entry for the key. */
export function setEnv(env: string[], key: string, value: string): string[] {
  const out = env.filter((e) => e !== key && !e.startsWith(`${key}=`));
  const index = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (index >= 0) out.splice(index, 0, `${key}=${value}`);
  else out.push(`${key}=${value}`);
  return out;
}
