import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { KilnError } from "@kiln/core";
import { processAlive } from "../ops/step-dirs.js";

const execFileAsync = promisify(execFile);

/** buildx `--ssh id=PATHS`: one agent socket, or private key files served by an agent kiln starts. */
export interface SshSource {
  readonly paths: readonly string[];
}

/** The SSH agents of one build, by id; key-file agents start on first use and stop with `close`. */
export interface SshAgents {
  has(id: string): boolean;
  /** The host socket of the agent for `id` (empty id = `default`). */
  socket(id: string): Promise<string>;
  close(): Promise<void>;
}

export const DEFAULT_SSH_ID = "default";

/**
 * Checks every `--ssh` entry up front (like buildx, before anything is built): each path exists, and
 * an entry is either one socket or key files, never a mix.
 */
export async function openSshAgents(sources: Readonly<Record<string, SshSource>>): Promise<SshAgents> {
  await removeStaleAgents();
  const kinds = new Map<string, { socket: string } | { keys: readonly string[] }>();
  for (const [id, source] of Object.entries(sources)) {
    if (source.paths.length === 0 || source.paths.some((p) => p === "")) {
      throw new KilnError("INVALID_ARGUMENT", `--ssh ${id}: invalid empty ssh agent socket`, {
        hint: "start an agent (eval $(ssh-agent); ssh-add) so SSH_AUTH_SOCK is set, or pass key files: --ssh id=~/.ssh/id_ed25519",
      });
    }
    let sockets = 0;
    for (const path of source.paths) {
      const info = await stat(path).catch((cause: unknown) => {
        throw new KilnError("NOT_FOUND", `--ssh ${id}: ${path} does not exist`, { cause });
      });
      if (info.isSocket()) sockets++;
    }
    if (sockets > 1) throw new KilnError("INVALID_ARGUMENT", `--ssh ${id}: only single socket allowed`);
    if (sockets === 1 && source.paths.length > 1) {
      throw new KilnError("INVALID_ARGUMENT", `--ssh ${id}: invalid combination of keys and sockets`);
    }
    kinds.set(id, sockets === 1 ? { socket: source.paths[0] as string } : { keys: source.paths });
  }
  const started = new Map<string, Promise<RunningAgent>>();
  return {
    has: (id) => kinds.has(id || DEFAULT_SSH_ID),
    async socket(id) {
      const key = id || DEFAULT_SSH_ID;
      const kind = kinds.get(key);
      if (!kind) throw new KilnError("NOT_FOUND", `no SSH agent with id ${key} was given`);
      if ("socket" in kind) return kind.socket;
      let agent = started.get(key);
      if (!agent) {
        agent = startKeyAgent(key, kind.keys);
        started.set(key, agent);
      }
      return (await agent).socket;
    },
    async close() {
      const agents = await Promise.allSettled(started.values());
      for (const a of agents) if (a.status === "fulfilled") await a.value.stop();
    },
  };
}

interface RunningAgent {
  readonly socket: string;
  stop(): Promise<void>;
}

/** The system `ssh-agent` in the foreground on a private socket, loaded with the key files. */
async function startKeyAgent(id: string, keys: readonly string[]): Promise<RunningAgent> {
  const dir = await mkdtemp(join(tmpdir(), `kiln-ssh-agent-${process.pid}-`));
  await chmod(dir, 0o700);
  const socket = join(dir, "agent.sock");
  let child: ChildProcess;
  try {
    child = spawn("ssh-agent", ["-D", "-a", socket], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw missingAgent(cause);
  }
  if (child.pid) await writeFile(join(dir, "agent.pid"), String(child.pid));
  const exited = new Promise<unknown>((resolve) => {
    child.once("error", resolve);
    child.once("exit", resolve);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let waited = 0; ; waited += 20) {
      if (
        await stat(socket).then(
          (s) => s.isSocket(),
          () => false,
        )
      )
        break;
      const early = await Promise.race([exited, sleep(20).then(() => undefined)]);
      if (early !== undefined || waited > 5000) throw missingAgent(early);
    }
    // ssh-add never prompts here: a key with a passphrase fails instead (as in buildx).
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      SSH_AUTH_SOCK: socket,
      SSH_ASKPASS_REQUIRE: "never",
    };
    for (const key of keys) {
      await execFileAsync("ssh-add", ["-q", key], { env, timeout: 10_000 }).catch((cause: unknown) => {
        const stderr = String((cause as { stderr?: string }).stderr ?? "").trim();
        throw new KilnError(
          "INVALID_ARGUMENT",
          `--ssh ${id}: failed to parse ${key}${stderr ? `: ${stderr}` : ""}`,
          {
            cause,
            hint: "pass an unencrypted private key file, or load the key into your agent and use --ssh default",
          },
        );
      });
    }
    return { socket, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Agents and forwarding sockets of kiln processes that were killed: their directories name the owner,
 * and an agent still running (it would keep the keys in memory) is stopped.
 */
async function removeStaleAgents(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [])) {
    const owner = Number(/^kiln-ssh-(?:agent-)?(\d+)-/.exec(name)?.[1]);
    if (!owner || processAlive(owner)) continue;
    const dir = join(tmpdir(), name);
    const agent = Number(await readFile(join(dir, "agent.pid"), "utf8").catch(() => ""));
    const cmdline = agent ? await readFile(`/proc/${agent}/cmdline`, "utf8").catch(() => "") : "";
    if (cmdline.startsWith("ssh-agent\0") && cmdline.includes(dir)) process.kill(agent, "SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

function missingAgent(cause: unknown): KilnError {
  return new KilnError("FAILED_PRECONDITION", "cannot start ssh-agent to serve the --ssh key files", {
    cause,
    hint: "install OpenSSH's client tools (apt-get install openssh-client), or forward a running agent with --ssh default",
  });
}
