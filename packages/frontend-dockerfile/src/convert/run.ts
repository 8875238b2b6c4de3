import { KilnError } from "@kiln/core";
import type { RunCommand } from "../instructions/index.js";
import { chompHeredocContent } from "../parser/index.js";
import { commandLine } from "./metadata.js";
import { addHistory, type ConvertContext, type StageState, stepName } from "./stage-state.js";

/**
 * RUN → an ExecOp on the stage's root filesystem. Build args declared in the stage are passed as
 * environment variables (not persisted in the image), unless ENV defines the same name.
 */
export function dispatchRun(ctx: ConvertContext, st: StageState, cmd: RunCommand): void {
  if (cmd.mounts.length > 0) {
    throw new KilnError("NOT_IMPLEMENTED", "RUN --mount is not supported yet", { location: cmd.location });
  }
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
