import { posix } from "node:path";
import { KilnError, type SourceLocation } from "@kiln/core";
import { type MountSpec, mkdir, type State, scratch } from "@kiln/llb";
import { parseMount, type RunCommand, type RunMount } from "../instructions/index.js";
import { type ConvertContext, expansionEnv, type StageState } from "./stage-state.js";
import { findStage } from "./stages.js";

export interface SecretEnv {
  id: string;
  name: string;
  optional?: boolean;
}

/**
 * RUN --mount values → LLB mounts, as BuildKit's frontend builds them: bind (read-only, or writable
 * with its writes discarded), cache (seeded from `from`, owner/mode applied when it is created),
 * tmpfs, secret and ssh.
 */
export async function runMounts(
  ctx: ConvertContext,
  st: StageState,
  cmd: RunCommand,
  secretEnv: SecretEnv[],
): Promise<MountSpec[]> {
  const env = expansionEnv(st);
  const expand = (v: string) => ctx.lexer.processWord(v, env);
  const workdir = st.config.config?.WorkingDir || "/";
  const out: MountSpec[] = [];
  for (const spec of cmd.mounts) {
    const m = parseMount(spec.raw, expand);
    if (m.type === "secret") {
      out.push(...secretMount(m, workdir, secretEnv, cmd.location));
      continue;
    }
    if (m.type === "ssh") {
      out.push(sshMount(m, workdir, cmd.location));
      continue;
    }
    if (!m.target)
      throw new KilnError("INVALID_ARGUMENT", "mount target (target=) is required", {
        location: cmd.location,
      });
    const dest = posix.resolve(workdir, m.target);
    if (dest === "/")
      throw new KilnError("INVALID_ARGUMENT", `invalid mount target ${JSON.stringify(m.target)}`, {
        location: cmd.location,
      });
    // BuildKit mounts the source's root without a selector, and a sub-path with one.
    const sourcePath = posix.join("/", m.source ?? "");
    const selector = sourcePath !== "/" ? sourcePath : undefined;
    if (m.type === "tmpfs") {
      out.push({ type: "tmpfs", dest, ...(m.sizeLimit ? { size: m.sizeLimit } : {}) });
    } else if (m.type === "cache") {
      let from = m.from === undefined ? undefined : await fromState(ctx, st, m.from, cmd.location);
      let cacheSelector = selector;
      if (!selector && (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined)) {
        // The cache starts as a copy of this directory, so its owner and mode apply when it is created.
        from = (from ?? scratch()).file(
          mkdir("/cache", m.mode ?? 0o755, { owner: { user: m.uid ?? 0, group: m.gid ?? 0 } }),
          { customName: "[internal] setting cache mount permissions" },
        );
        cacheSelector = "/cache";
      }
      out.push({
        type: "cache",
        dest,
        cacheId: m.id ?? dest,
        sharing: m.sharing ?? "shared",
        ...(from ? { source: from } : {}),
        ...(cacheSelector ? { selector: cacheSelector } : {}),
        ...(m.readOnly ? { readonly: true } : {}),
      });
    } else {
      const from = m.from === undefined ? ctx.context : await fromState(ctx, st, m.from, cmd.location);
      out.push({
        type: "bind",
        dest,
        source: from,
        ...(selector ? { selector } : {}),
        // A writable bind mount gets a throw-away copy: the step's writes never reach an output.
        ...(m.readOnly ? { readonly: true } : { noOutput: true }),
      });
    }
  }
  return out;
}

/** `from=`: a stage name or index, else an image (or named context). */
async function fromState(
  ctx: ConvertContext,
  st: StageState,
  from: string,
  location: SourceLocation,
): Promise<State> {
  const index = findStage(ctx.plan, from);
  return index !== undefined
    ? ctx.stageResult(index).state
    : (await ctx.resolveImage(from, st.platform, location)).state;
}

/** id: source > id > basename(target); file at target, default /run/secrets/<id>, unless only env= is given. */
function secretMount(
  m: RunMount,
  workdir: string,
  secretEnv: SecretEnv[],
  location: SourceLocation,
): MountSpec[] {
  const id = m.source ?? m.id ?? (m.target ? posix.basename(m.target) : undefined);
  if (!id) {
    throw new KilnError("INVALID_ARGUMENT", "secret mount needs an id (id=) or a target", { location });
  }
  if (m.env) secretEnv.push({ id, name: m.env, ...(m.required ? {} : { optional: true }) });
  if (m.env && !m.target) return [];
  return [
    {
      type: "secret",
      dest: m.target ? posix.resolve(workdir, m.target) : `/run/secrets/${id}`,
      id,
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.gid !== undefined ? { gid: m.gid } : {}),
      ...(m.mode !== undefined ? { mode: m.mode } : {}),
      ...(m.required ? {} : { optional: true }),
    },
  ];
}

/**
 * An SSH agent socket. The id stays empty when not given (the builder reads that as `default`, like
 * BuildKit); the target defaults to `/run/buildkit/ssh_agent.<n>` and mode to 0600 in the LLB.
 */
function sshMount(m: RunMount, workdir: string, location: SourceLocation): MountSpec {
  if (m.source !== undefined) {
    throw new KilnError("INVALID_ARGUMENT", "ssh does not support source", { location });
  }
  const owned = m.uid !== undefined || m.gid !== undefined || m.mode !== undefined;
  return {
    type: "ssh",
    ...(m.id ? { id: m.id } : {}),
    ...(m.target ? { dest: posix.resolve(workdir, m.target) } : {}),
    ...(owned ? { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 } : {}),
    ...(m.required ? {} : { optional: true }),
  };
}
