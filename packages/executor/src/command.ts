import { execFile } from "node:child_process";
import { KilnError, type KilnErrorCode } from "@kiln/core";

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a helper binary (mount, umount, runc list/kill/delete) to completion and returns its output.
 * A non-zero exit becomes a KilnError carrying the tool's own stderr, which is the only place the real
 * reason (EBUSY, "container does not exist", a bad mount option) is reported.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  code: KilnErrorCode = "INTERNAL",
): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ stdout, stderr });
        return;
      }
      const reason = stderr.trim() || err.message;
      reject(
        new KilnError(code, `${file} ${args.join(" ")} failed: ${reason}`, {
          cause: err,
          details: { exitCode: typeof err.code === "number" ? err.code : undefined, stderr },
        }),
      );
    });
  });
}
