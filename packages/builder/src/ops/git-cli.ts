import { spawn } from "node:child_process";
import { type CallOptions, KilnError, type KilnErrorCode } from "@kiln/core";
import { redactUrl } from "@kiln/llb";

export interface GitRunner {
  /** Runs `git <args>`; resolves with stdout, rejects with the (redacted) stderr. */
  run(
    args: readonly string[],
    o: CallOptions & { cwd?: string; env?: Record<string, string> },
  ): Promise<string>;
}

/**
 * The system `git`, isolated from the machine's git configuration (like BuildKit's daemon, which has
 * none) and never prompting. Extra config (auth headers) goes through `GIT_CONFIG_*` variables, so
 * secrets are not on the command line where other users could read them.
 */
export function createGitRunner(config: Readonly<Record<string, string>> = {}): GitRunner {
  const entries = Object.entries(config);
  const configEnv: Record<string, string> = { GIT_CONFIG_COUNT: String(entries.length) };
  entries.forEach(([key, value], i) => {
    configEnv[`GIT_CONFIG_KEY_${i}`] = key;
    configEnv[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return {
    run(args, o) {
      return new Promise((resolve, reject) => {
        const child = spawn("git", args, {
          cwd: o.cwd,
          env: {
            PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
            HOME: process.env.HOME ?? "/",
            ...(process.env.SSH_AUTH_SOCK ? { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK } : {}),
            GIT_TERMINAL_PROMPT: "0",
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_CONFIG_GLOBAL: "/dev/null",
            GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
            LC_ALL: "C",
            ...configEnv,
            ...o.env,
          },
          stdio: ["ignore", "pipe", "pipe"],
          ...(o.signal ? { signal: o.signal } : {}),
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", (err) => {
          if (o.signal?.aborted) {
            reject(new KilnError("CANCELED", "git canceled", { cause: o.signal.reason }));
          } else if ((err as NodeJS.ErrnoException).code === "ENOENT") {
            reject(
              new KilnError("FAILED_PRECONDITION", "git is not installed", {
                hint: "install git (apt-get install git) to use git sources",
              }),
            );
          } else reject(err);
        });
        child.on("close", (code) => {
          if (code === 0) resolve(stdout);
          else reject(gitError(args, code, stderr));
        });
      });
    },
  };
}

function gitError(args: readonly string[], code: number | null, stderr: string): KilnError {
  const text = redactUrl(stderr.trim()).split("\n").slice(-6).join("\n");
  const codeName: KilnErrorCode =
    /not found|couldn't find remote ref|does not appear to be a git repository/i.test(stderr)
      ? "NOT_FOUND"
      : /could not read|unable to access|connection|timed out|could not resolve host/i.test(stderr)
        ? "UNAVAILABLE"
        : "INTERNAL";
  return new KilnError(codeName, `git ${args[0] ?? ""} failed (exit ${code}): ${text}`, {
    details: { exitCode: code },
  });
}
