import { spawn } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { basename, delimiter, join } from "node:path";
import { KilnError } from "@kiln/core";
import { runCommand } from "./command.js";

/** An OCI runtime binary (runc, crun) with its state directory (`--root`). */
export interface Runtime {
  readonly binary: string;
  readonly stateDir: string;
}

/** Where Debian and most distributions install runc/crun, in case PATH lacks the sbin directories. */
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Finds the runtime: `runc`/`crun` (or any bare name) on PATH, or an explicit path. */
export async function findRuntime(runtime: string, stateDir: string): Promise<Runtime> {
  const candidates = runtime.includes("/")
    ? [runtime]
    : [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((d) =>
        join(d, runtime),
      );
  for (const binary of candidates) {
    if (
      await access(binary, fsConstants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return { binary, stateDir };
  }
  throw new KilnError("FAILED_PRECONDITION", `the OCI runtime ${runtime} was not found`, {
    hint: `install it (Debian: apt-get install ${basename(runtime)}) or pass the runtime's path`,
  });
}

const globalArgs = (rt: Runtime): string[] => ["--root", rt.stateDir];

export interface RunIo {
  readonly stdout?: (chunk: Uint8Array) => void;
  readonly stderr?: (chunk: Uint8Array) => void;
  readonly signal?: AbortSignal;
}

export interface RunOutcome {
  readonly exitCode: number;
  /** The run was stopped because `signal` was aborted. */
  readonly canceled: boolean;
  /** The runtime's own error (it could not start the process), from its JSON log. */
  readonly runtimeError: string | undefined;
}

/** How long `kill` may keep failing before the runtime process itself is killed. */
const KILL_ESCALATION_MS = 5000;

/**
 * `runtime run --bundle <bundle> <id>` with stdin on /dev/null and stdout/stderr streamed to the
 * callbacks. The runtime writes its own errors to `logPath` as JSON lines, which is how a failure to
 * start the process is told apart from a process that ran and failed with the same exit code.
 */
export async function runContainer(
  rt: Runtime,
  id: string,
  bundle: string,
  logPath: string,
  io: RunIo,
): Promise<RunOutcome> {
  const args = [...globalArgs(rt), `--log=${logPath}`, "--log-format=json", "run", "--bundle", bundle, id];
  const child = spawn(rt.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let finished = false;
  let canceled = false;
  let callbackError: unknown;
  // A throwing consumer must not crash the process with a container still running: the container is
  // stopped and the error reported once the runtime has exited.
  const deliver = (callback: ((chunk: Uint8Array) => void) | undefined, chunk: Buffer) => {
    if (!callback || callbackError !== undefined) return;
    try {
      callback(chunk);
    } catch (err) {
      callbackError = err;
      stop();
    }
  };
  child.stdout.on("data", (chunk: Buffer) => deliver(io.stdout, chunk));
  child.stderr.on("data", (chunk: Buffer) => deliver(io.stderr, chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", (err) =>
      reject(
        new KilnError("FAILED_PRECONDITION", `cannot start ${rt.binary}: ${err.message}`, { cause: err }),
      ),
    );
    child.once("close", (code, signal) => resolve({ code, signal }));
  });

  // The container may not exist yet when the abort arrives (the runtime is still creating it), so
  // `kill` is retried until the runtime process is gone; a runtime that never gets there is killed.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      const started = Date.now();
      while (!finished) {
        await runCommand(rt.binary, [...globalArgs(rt), "kill", id, "KILL"]).catch(() => {});
        if (Date.now() - started > KILL_ESCALATION_MS) child.kill("SIGKILL");
        if (!finished) await new Promise((r) => setTimeout(r, 50));
      }
    })();
  };
  const onAbort = () => {
    canceled = true;
    stop();
  };
  io.signal?.addEventListener("abort", onAbort, { once: true });
  if (io.signal?.aborted) onAbort();
  try {
    const { code, signal } = await exited;
    const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
    if (callbackError !== undefined && !canceled) {
      throw new KilnError("INTERNAL", "the output callback failed; the container was stopped", {
        cause: callbackError,
      });
    }
    return { exitCode, canceled, runtimeError: await readRuntimeErrors(logPath) };
  } finally {
    finished = true;
    io.signal?.removeEventListener("abort", onAbort);
  }
}

/** Error-level messages of the runtime's JSON log; `undefined` when there are none. */
async function readRuntimeErrors(logPath: string): Promise<string | undefined> {
  const text = await readFile(logPath, "utf8").catch(() => "");
  const errors: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === "error" || entry.level === "fatal") && entry.msg) errors.push(entry.msg);
    } catch {
      // A runtime that does not write JSON (or a torn last line): not a structured error.
    }
  }
  return errors.length > 0 ? errors.join("\n") : undefined;
}

/** Whether the runtime still has state for `id` (a container that was not deleted). */
export async function hasState(rt: Runtime, id: string): Promise<boolean> {
  return stat(join(rt.stateDir, id)).then(
    () => true,
    () => false,
  );
}

export async function killContainer(rt: Runtime, id: string): Promise<void> {
  await runCommand(rt.binary, [...globalArgs(rt), "kill", id, "KILL"]).catch(() => {});
}

/** `delete --force`: kills what is left of the container and removes its state; missing is fine. */
export async function deleteContainer(rt: Runtime, id: string): Promise<void> {
  try {
    await runCommand(rt.binary, [...globalArgs(rt), "delete", "--force", id]);
  } catch (err) {
    if (await hasState(rt, id)) throw err;
  }
}

export interface ContainerState {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
}

export async function listContainers(rt: Runtime): Promise<ContainerState[]> {
  const { stdout } = await runCommand(rt.binary, [...globalArgs(rt), "list", "--format", "json"]);
  const parsed = JSON.parse(stdout.trim() || "null") as ContainerState[] | null;
  return parsed ?? [];
}
