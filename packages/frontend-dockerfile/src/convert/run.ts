import { KilnError } from "@kiln/core";
import type { RunCommand } from "../instructions/index.js";
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
  if (cmd.files.length > 0) {
    throw new KilnError("NOT_IMPLEMENTED", "RUN with heredocs is not supported yet", {
      location: cmd.location,
    });
  }
  const args = commandLine(st, cmd.cmdLine, cmd.prependShell);
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
