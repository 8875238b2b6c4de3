import { posix } from "node:path";
import { KilnError } from "@kiln/core";
import type { MountSpec } from "@kiln/llb";
import { parseMount, type RunCommand } from "../instructions/index.js";
import { chompHeredocContent } from "../parser/index.js";
import { commandLine } from "./metadata.js";
import { addHistory, type ConvertContext, expansionEnv, type StageState, stepName } from "./stage-state.js";
import { findStage } from "./stages.js";

/**
 * RUN → an ExecOp on the stage's root filesystem. Build args declared in the stage are passed as
 * environment variables (not persisted in the image), unless ENV defines the same name.
 */
export async function dispatchRun(ctx: ConvertContext, st: StageState, cmd: RunCommand): Promise<void> {
  const secretEnv: { id: string; name: string; optional?: boolean }[] = [];
  const mounts = await runMounts(ctx, st, cmd, secretEnv);
  const args =
    cmd.files.length > 0 ? heredocCommand(st, cmd) : commandLine(st, cmd.cmdLine, cmd.prependShell);
  const imageEnv = new Set((st.config.config?.Env ?? []).map((e) => e.split("=")[0]));
  const argEnv: Record<string, string> = {};
  for (const [k, v] of st.args) if (!imageEnv.has(k)) argEnv[k] = v;
  const name = stepName(st, cmd.original.replace(/^\S+/, "RUN"));
  ctx.locate(name, cmd.location);
  const user = st.config.config?.User;
  st.state = st.state
    .run({
      args,
      env: argEnv,
      cwd: st.config.config?.WorkingDir || "/",
      ...(user ? { user } : {}),
      ...(cmd.network !== "default" ? { network: cmd.network } : {}),
      ...(cmd.security === "insecure" ? { security: "insecure" as const } : {}),
      ...(mounts.length ? { mounts } : {}),
      ...(secretEnv.length ? { secretEnv } : {}),
      customName: name,
    })
    .root();
  const used = Object.entries(argEnv).map(([k, v]) => `${k}=${v}`);
  const prefix = used.length ? `|${used.length} ${used.join(" ")} ` : "";
  addHistory(ctx, st, `RUN ${prefix}${args.join(" ")} # buildkit`, false);
}

/**
 * RUN with heredocs, as BuildKit runs them: a lone `RUN <<EOF` runs its body as the shell script;
 * anything else (a command reading heredocs, several heredocs) hands the shell the command line with
 * the heredocs re-attached, and the shell does the redirections. `<<-` strips leading tabs first.
 */
function heredocCommand(st: StageState, cmd: RunCommand): string[] {
  if (!cmd.prependShell) {
    throw new KilnError("INVALID_ARGUMENT", "heredocs can only be used with the shell form of RUN", {
      location: cmd.location,
    });
  }
  const line = cmd.cmdLine?.[0] ?? "";
  const only = cmd.files.length === 1 ? cmd.files[0] : undefined;
  if (only && /^\s*<<-?\s*(["']?)[A-Za-z0-9_]+\1\s*$/.test(line)) {
    const body = only.chomp ? chompHeredocContent(only.data) : only.data;
    if (body.startsWith("#!")) {
      throw new KilnError(
        "NOT_IMPLEMENTED",
        "RUN heredocs with a #! interpreter line are not supported yet",
        {
          location: cmd.location,
          hint: "call the interpreter explicitly, e.g. RUN python3 <<EOF",
        },
      );
    }
    return commandLine(st, [body], true);
  }
  const script = [line, ...cmd.files.map((f) => `${f.data}${f.name}`)].join("\n");
  return commandLine(st, [script], true);
}

/** RUN --mount values → LLB mounts: bind (read-only from the context, a stage or an image), cache, tmpfs. */
async function runMounts(
  ctx: ConvertContext,
  st: StageState,
  cmd: RunCommand,
  secretEnv: { id: string; name: string; optional?: boolean }[],
): Promise<MountSpec[]> {
  const env = expansionEnv(st);
  const expand = (v: string) => ctx.lexer.processWord(v, env);
  const workdir = st.config.config?.WorkingDir || "/";
  const out: MountSpec[] = [];
  for (const spec of cmd.mounts) {
    const m = parseMount(spec.raw, expand);
    if (m.type === "ssh") {
      throw new KilnError("NOT_IMPLEMENTED", "RUN --mount=type=ssh is not supported yet", {
        location: cmd.location,
      });
    }
    if (m.type === "secret") {
      // id: source > id > basename(target); file at target, default /run/secrets/<id>, unless only env= is given.
      const id = m.source ?? m.id ?? (m.target ? posix.basename(m.target) : undefined);
      if (!id) {
        throw new KilnError("INVALID_ARGUMENT", "secret mount needs an id (id=) or a target", {
          location: cmd.location,
        });
      }
      if (m.env) secretEnv.push({ id, name: m.env, ...(m.required ? {} : { optional: true }) });
      if (!m.env || m.target) {
        out.push({
          type: "secret",
          dest: m.target ? posix.resolve(workdir, m.target) : `/run/secrets/${id}`,
          id,
          ...(m.uid !== undefined ? { uid: m.uid } : {}),
          ...(m.gid !== undefined ? { gid: m.gid } : {}),
          ...(m.mode !== undefined ? { mode: m.mode } : {}),
          ...(m.required ? {} : { optional: true }),
        });
      }
      continue;
    }
    if (!m.target)
      throw new KilnError("INVALID_ARGUMENT", "mount target (target=) is required", {
        location: cmd.location,
      });
    const dest = posix.resolve(workdir, m.target);
    if (dest === "/")
      throw new KilnError("INVALID_ARGUMENT", "a mount cannot cover /", { location: cmd.location });
    const source = async () => {
      if (m.from === undefined) return m.type === "bind" ? ctx.context : undefined;
      const index = findStage(ctx.plan, m.from);
      return index !== undefined
        ? ctx.stageResult(index).state
        : (await ctx.resolveImage(m.from, st.platform, cmd.location)).state;
    };
    if (m.type === "tmpfs") {
      out.push({ type: "tmpfs", dest, ...(m.sizeLimit ? { size: m.sizeLimit } : {}) });
    } else if (m.type === "cache") {
      if (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined) {
        throw new KilnError("NOT_IMPLEMENTED", "cache mounts with uid/gid/mode are not supported yet", {
          location: cmd.location,
        });
      }
      const from = await source();
      out.push({
        type: "cache",
        dest,
        cacheId: m.id ?? dest,
        sharing: m.sharing ?? "shared",
        ...(from ? { source: from, selector: m.source ?? "/" } : {}),
        ...(m.readOnly ? { readonly: true } : {}),
      });
    } else {
      if (!m.readOnly) {
        throw new KilnError("NOT_IMPLEMENTED", "writable (rw) bind mounts are not supported yet", {
          location: cmd.location,
        });
      }
      const from = await source();
      out.push({
        type: "bind",
        dest,
        readonly: true,
        selector: m.source ?? "/",
        ...(from ? { source: from } : {}),
      });
    }
  }
  return out;
}
