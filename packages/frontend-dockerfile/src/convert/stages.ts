import { KilnError } from "@kiln/core";
import type { Stage, Stages } from "../instructions/index.js";
import type { EnvSource, ShellLexer } from "../shell/index.js";

/** What a stage builds on: another stage, nothing, or an image (or named context) reference. */
export type StageBase =
  | { kind: "stage"; index: number }
  | { kind: "scratch" }
  | { kind: "image"; ref: string };

export interface StagePlan {
  readonly index: number;
  readonly stage: Stage;
  /** `AS` name, or `stage-N` like BuildKit's progress names. */
  readonly displayName: string;
  readonly base: StageBase;
  /** Stages this one reads (FROM, COPY --from, RUN --mount from=). */
  readonly deps: ReadonlySet<number>;
  /**
   * A named context of the stage's name replaces the whole stage (like BuildKit): its base is that
   * context and its instructions are not converted.
   */
  readonly replaced?: boolean;
}

export interface BuildPlan {
  readonly stages: readonly StagePlan[];
  /** Stages to build, dependencies first, ending with the target. */
  readonly order: readonly number[];
  readonly target: number;
}

/**
 * Resolves stage references and picks what to build: only the stages the target needs, in dependency
 * order. A reference to a stage is by `AS` name or index; anything else is an image or named context.
 */
export function planStages(
  parsed: Stages,
  lexer: ShellLexer,
  globalEnv: EnvSource,
  target?: string,
  hasNamedContext: (name: string) => boolean = () => false,
): BuildPlan {
  const byName = new Map<string, number>();
  parsed.stages.forEach((s, i) => {
    if (s.name !== undefined && !byName.has(s.name)) byName.set(s.name, i);
  });
  const stageRef = (ref: string, before: number): number | undefined => {
    const named = byName.get(ref.toLowerCase());
    if (named !== undefined) return named;
    if (/^\d+$/.test(ref)) {
      const index = Number(ref);
      return index < before ? index : undefined;
    }
    return undefined;
  };

  const stages = parsed.stages.map((stage, index): StagePlan => {
    if (stage.name !== undefined && hasNamedContext(stage.name)) {
      const base: StageBase = { kind: "image", ref: stage.name };
      return { index, stage, displayName: displayName(stage, index), base, deps: new Set(), replaced: true };
    }
    let baseName: string;
    try {
      baseName = lexer.processWord(stage.baseName, globalEnv);
    } catch (err) {
      if (!(err instanceof KilnError) || err.location) throw err;
      throw new KilnError(err.code, err.message, { cause: err, location: stage.location });
    }
    const deps = new Set<number>();
    let base: StageBase;
    const fromStage = byName.get(baseName.toLowerCase());
    if (fromStage !== undefined && fromStage !== index) {
      base = { kind: "stage", index: fromStage };
      deps.add(fromStage);
    } else if (baseName.toLowerCase() === "scratch") {
      base = { kind: "scratch" };
    } else {
      if (baseName === "") {
        throw new KilnError("INVALID_ARGUMENT", "base name (FROM) should not be blank", {
          location: stage.location,
        });
      }
      base = { kind: "image", ref: baseName };
    }
    for (const cmd of stage.commands) {
      const froms =
        cmd.kind === "COPY" && cmd.from !== undefined
          ? [cmd.from]
          : cmd.kind === "RUN"
            ? cmd.mounts.flatMap((m) => (m.from ? [m.from] : []))
            : [];
      for (const from of froms) {
        const ref = stageRef(lexer.processWord(from, globalEnv), parsed.stages.length);
        if (ref === index) {
          throw new KilnError(
            "INVALID_ARGUMENT",
            `circular dependency detected on stage: ${displayName(stage, index)}`,
            {
              location: cmd.location,
            },
          );
        }
        if (ref !== undefined) deps.add(ref);
      }
    }
    return { index, stage, displayName: displayName(stage, index), base, deps };
  });

  const targetIndex = pickTarget(parsed, byName, target);
  const order: number[] = [];
  const state = new Map<number, "visiting" | "done">();
  const visit = (i: number, path: number[]) => {
    if (state.get(i) === "done") return;
    const plan = stages[i] as StagePlan;
    if (state.get(i) === "visiting") {
      throw new KilnError("INVALID_ARGUMENT", `circular dependency detected on stage: ${plan.displayName}`, {
        location: plan.stage.location,
        hint: `stages involved: ${[...path, i].map((j) => stages[j]?.displayName).join(" -> ")}`,
      });
    }
    state.set(i, "visiting");
    for (const dep of plan.deps) visit(dep, [...path, i]);
    state.set(i, "done");
    order.push(i);
  };
  visit(targetIndex, []);
  return { stages, order, target: targetIndex };
}

/** Looks up a `COPY --from` value (already expanded) among the stages. */
export function findStage(plan: BuildPlan, ref: string): number | undefined {
  const lower = ref.toLowerCase();
  const named = plan.stages.find((s) => s.stage.name === lower);
  if (named) return named.index;
  return /^\d+$/.test(ref) && Number(ref) < plan.stages.length ? Number(ref) : undefined;
}

function pickTarget(parsed: Stages, byName: ReadonlyMap<string, number>, target: string | undefined): number {
  if (parsed.stages.length === 0) {
    throw new KilnError("INVALID_ARGUMENT", "dockerfile contains no stages to build", {
      hint: "a Dockerfile must start with FROM (after ARGs and parser directives)",
    });
  }
  if (target === undefined || target === "") return parsed.stages.length - 1;
  const index = byName.get(target.toLowerCase());
  if (index === undefined) {
    const names = [...byName.keys()];
    throw new KilnError("NOT_FOUND", `target stage "${target}" could not be found`, {
      ...(names.length ? { hint: `stages in this Dockerfile: ${names.join(", ")}` } : {}),
    });
  }
  return index;
}

function displayName(stage: Stage, index: number): string {
  return stage.name ?? `stage-${index}`;
}
