import { posix } from "node:path";
import { KilnError } from "@kiln/core";
import { type MountSpec, mkfile, scratch } from "@kiln/llb";
import type { RunCommand } from "../instructions/index.js";
import { chompHeredocContent } from "../parser/index.js";
import { commandLine } from "./metadata.js";
import { runMounts, type SecretEnv } from "./run-mounts.js";
import { addHistory, type ConvertContext, type StageState, stepName } from "./stage-state.js";

/** Where BuildKit mounts the script of a `#!` heredoc. */
const PIPES_DIR = "/dev/pipes/";

/**
 * RUN → an ExecOp on the stage's root filesystem. Build args declared in the stage are passed as
 * environment variables (not persisted in the image), unless ENV defines the same name. Proxy build
 * args go in the op's proxy settings, outside the cache key, the config and the history.
 */
export async function dispatchRun(ctx: ConvertContext, st: StageState, cmd: RunCommand): Promise<void> {
  const secretEnv: SecretEnv[] = [];
  const mounts = await runMounts(ctx, st, cmd, secretEnv);
  let args: string[];
  let title = cmd.original.replace(/^\S+/, "RUN");
  if (cmd.files.length > 0) {
    const heredoc = heredocCommand(st, cmd);
    args = heredoc.args;
    if (heredoc.mount) mounts.push(heredoc.mount);
    if (heredoc.summary !== undefined) title += ` (${heredoc.summary})`;
  } else args = commandLine(st, cmd.cmdLine, cmd.prependShell);
  const imageEnv = new Set((st.config.config?.Env ?? []).map((e) => e.split("=")[0]));
  const argEnv: Record<string, string> = {};
  for (const [k, v] of st.args) if (!imageEnv.has(k)) argEnv[k] = v;
  const name = stepName(st, title);
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
      ...(ctx.proxyEnv ? { proxyEnv: ctx.proxyEnv } : {}),
      customName: name,
    })
    .root();
  const used = Object.entries(argEnv).map(([k, v]) => `${k}=${v}`);
  const prefix = used.length ? `|${used.length} ${used.join(" ")} ` : "";
  addHistory(ctx, st, `RUN ${prefix}${args.join(" ")} # buildkit`, false);
}

/**
 * RUN with heredocs, as BuildKit runs them. A lone `RUN <<EOF` whose body starts with `#!` becomes an
 * executable file (a one-file scratch tree mounted read-only at /dev/pipes/) that the shell starts, so
 * the kernel runs it with its interpreter; any other lone heredoc runs its body as the shell script;
 * anything else (a command reading heredocs, several heredocs) hands the shell the command line with
 * the heredocs re-attached, and the shell does the redirections. `<<-` strips leading tabs first.
 */
function heredocCommand(
  st: StageState,
  cmd: RunCommand,
): { args: string[]; mount?: MountSpec; summary?: string } {
  if (!cmd.prependShell) {
    throw new KilnError("INVALID_ARGUMENT", "heredocs can only be used with the shell form of RUN", {
      location: cmd.location,
    });
  }
  const line = cmd.cmdLine?.[0] ?? "";
  const only = cmd.files.length === 1 ? cmd.files[0] : undefined;
  if (only && /^\s*<<-?\s*(["']?)[A-Za-z0-9_]+\1\s*$/.test(line)) {
    const body = only.chomp ? chompHeredocContent(only.data) : only.data;
    const summary = summarizeHeredoc(only.data);
    if (body.startsWith("#!") && st.platform.os !== "windows") {
      const script = scratch()
        .dir("/")
        .file(mkfile(only.name, 0o755, body), { customName: "[internal] preparing inline document" });
      const mount: MountSpec = {
        type: "bind",
        dest: PIPES_DIR,
        source: script,
        selector: "/",
        readonly: true,
      };
      return { args: commandLine(st, [posix.join(PIPES_DIR, only.name)], true), mount, summary };
    }
    return { args: commandLine(st, [body], true), summary };
  }
  const script = [line, ...cmd.files.map((f) => `${f.data}${f.name}`)].join("\n");
  return { args: commandLine(st, [script], true) };
}

/** The first line of a heredoc, with `...` when more follow (BuildKit's step-name suffix). */
function summarizeHeredoc(doc: string): string {
  const lines = doc.trim().replaceAll("\r\n", "\n").split("\n");
  return lines.length > 1 ? `${lines[0]}...` : (lines[0] ?? "");
}
