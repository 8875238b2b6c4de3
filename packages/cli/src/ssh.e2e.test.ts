import { type ChildProcess, spawn } from "node:child_process";
import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln, run } from "./e2e-helpers.test-helpers.js";

/**
 * RUN --mount=type=ssh against real agents. The step talks to the forwarded socket with the host's
 * own `ssh-add` (with its shared libraries, bind-mounted from the context, so nothing of it lands in
 * the image): what it lists is what the agent really answered through the socket.
 */
let tmp: TempDir;
let root: string;
let contextFlags: string[];
let keyFile: string;
let fingerprint: string;
let hostAgent: ChildProcess | undefined;
let hostAgentSocket: string;
/** Runs the bind-mounted ssh-add inside the step. */
let sshAdd: string;

beforeAll(async () => {
  tmp = await makeTempDir("cli-ssh");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
  keyFile = join(tmp.path, "id_ed25519");
  const keygen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test", "-f", keyFile]);
  expect(keygen.code, keygen.stderr).toBe(0);
  fingerprint = (await run("ssh-keygen", ["-l", "-f", keyFile])).stdout.split(" ")[1] ?? "";
  expect(fingerprint).toMatch(/^SHA256:/);
  // A user's agent holding the key, for --ssh default.
  hostAgentSocket = join(tmp.path, "host-agent.sock");
  hostAgent = spawn("ssh-agent", ["-D", "-a", hostAgentSocket], { stdio: "ignore" });
  for (let i = 0; i < 250 && !(await isSocket(hostAgentSocket)); i++) await sleep(20);
  const add = await runWithAgent("ssh-add", ["-q", keyFile]);
  expect(add.code, add.stderr).toBe(0);
  sshAdd = await bundleSshAdd(join(tmp.path, "sshbin"));
}, 60_000);

afterAll(async () => {
  hostAgent?.kill();
  await tmp?.cleanup();
});

async function isSocket(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isSocket(),
    () => false,
  );
}

function runWithAgent(cmd: string, args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, SSH_AUTH_SOCK: hostAgentSocket } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Copies ssh-add and the libraries ldd names into `dir`; returns the command line to run it at /opt/ssh. */
async function bundleSshAdd(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const binary = (await run("sh", ["-c", "command -v ssh-add"])).stdout.trim();
  const ldd = await run("ldd", [binary]);
  expect(ldd.code, ldd.stderr).toBe(0);
  let loader = "";
  for (const line of ldd.stdout.split("\n")) {
    const path = /(\/\S+) \(0x/.exec(line)?.[1];
    if (!path) continue;
    if (!line.includes("=>")) loader = basename(path);
    await copyFile(path, join(dir, basename(path)));
  }
  await copyFile(binary, join(dir, "ssh-add"));
  expect(loader).not.toBe("");
  return `/opt/ssh/${loader} --library-path /opt/ssh /opt/ssh/ssh-add`;
}

async function build(name: string, dockerfile: string, flags: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  await run("cp", ["-a", join(tmp.path, "sshbin"), join(dir, "sshbin")]);
  const out = join(tmp.path, `out-${name}`);
  const tar = join(tmp.path, `${name}.tar`);
  const r = await kiln(
    [
      "build",
      "--root",
      root,
      "--progress",
      "rawjson",
      ...contextFlags,
      ...flags,
      "-o",
      `type=local,dest=${out}`,
      "-o",
      `type=oci,dest=${tar}`,
      dir,
    ],
    { env },
  );
  return { ...r, out, tar };
}

const TOOLS = "--mount=type=bind,source=sshbin,target=/opt/ssh";

/** The image's layer listings and config, read with tar from the OCI archive. */
async function image(tar: string): Promise<{ layers: string; env: string[] }> {
  const read = async (path: string) => {
    const r = await run("tar", ["-xOf", tar, path]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const index = JSON.parse(await read("index.json"));
  const manifest = JSON.parse(await read(`blobs/sha256/${index.manifests[0].digest.slice(7)}`));
  const config = JSON.parse(await read(`blobs/sha256/${manifest.config.digest.slice(7)}`));
  let layers = "";
  for (const layer of manifest.layers as { digest: string }[]) {
    const r = await run("sh", ["-c", `tar -xOf ${tar} blobs/sha256/${layer.digest.slice(7)} | tar -tzv`]);
    expect(r.code, r.stderr).toBe(0);
    layers += r.stdout;
  }
  return { layers, env: config.config?.Env ?? [] };
}

describe("RUN --mount=type=ssh", () => {
  it("serves key files through an agent: the step lists the key, cannot change the agent, leaves no trace", async () => {
    const r = await build(
      "keys",
      [
        "FROM busybox",
        `RUN ${TOOLS} --mount=type=ssh ${sshAdd} -l > /listed && echo "$SSH_AUTH_SOCK" > /sock-env && stat -c '%u %g %a' "$SSH_AUTH_SOCK" > /sock-stat && (${sshAdd} -D > /dev/null 2>&1; echo $? > /delete-status) && ${sshAdd} -l > /listed-after`,
        `RUN ${TOOLS} --mount=type=ssh,id=other,target=/tmp/agent.sock,uid=100,gid=102,mode=0741 stat -c '%u %g %f' /tmp/agent.sock > /params && SSH_AUTH_SOCK=/tmp/agent.sock ${sshAdd} -l > /listed-other`,
      ].join("\n"),
      ["--ssh", `default=${keyFile}`, "--ssh", `other=${keyFile}`],
    );
    expect(r.code, r.stderr).toBe(0);
    const read = (f: string) => readFile(join(r.out, f), "utf8");
    expect(await read("listed")).toContain(fingerprint);
    expect(await read("sock-env")).toBe("/run/buildkit/ssh_agent.0\n");
    expect(await read("sock-stat")).toBe("0 0 600\n");
    // Removing keys is refused (read-only forwarding, as in BuildKit); the key is still there.
    expect(await read("delete-status")).not.toBe("0\n");
    expect(await read("listed-after")).toContain(fingerprint);
    // BuildKit's testSSHSocketParams: a socket (0xc000) with mode 0741 owned by 100:102.
    expect(await read("params")).toBe("100 102 c1e1\n");
    expect(await read("listed-other")).toContain(fingerprint);
    for (const gone of ["run", "opt", "tmp/agent.sock"]) {
      await expect(stat(join(r.out, gone)), gone).rejects.toThrow();
    }
    const { layers, env } = await image(r.tar);
    expect(layers).toContain("listed-other"); // the steps' files are there, but no socket or mount point
    expect(layers).not.toMatch(/ssh_agent|agent\.sock|run\/buildkit|opt\/ssh/);
    expect(env.join("\n")).not.toContain("SSH_AUTH_SOCK");
    // The agent kiln started for the key files and the per-step sockets are gone.
    const agents = await run("sh", ["-c", "ls -d /tmp/kiln-ssh-* 2>/dev/null | wc -l"]);
    expect(agents.stdout.trim()).toBe("0");
  }, 120_000);

  it("--ssh default forwards the agent at $SSH_AUTH_SOCK", async () => {
    const r = await build(
      "default",
      `FROM busybox\nRUN ${TOOLS} --mount=type=ssh,required ${sshAdd} -l > /listed\n`,
      ["--ssh", "default"],
      { SSH_AUTH_SOCK: hostAgentSocket },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(r.out, "listed"), "utf8")).toContain(fingerprint);
    // The user's agent still holds its key.
    expect((await runWithAgent("ssh-add", ["-l"])).stdout).toContain(fingerprint);
  }, 120_000);

  it("a required ssh id that was not given fails before any step; an optional one mounts nothing", async () => {
    const missing = await build(
      "missing",
      "FROM busybox\nRUN echo first\nRUN --mount=type=ssh,id=deploy,required=true true\n",
      ["--ssh", `default=${keyFile}`],
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no SSH key deploy forwarded from the client");
    expect(events(missing.stderr).filter((e) => e.type === "vertex.started")).toEqual([]);

    const optional = await build(
      "optional",
      'FROM busybox\nRUN --mount=type=ssh test ! -e "$SSH_AUTH_SOCK" && echo none > /result\n',
      [],
    );
    expect(optional.code, optional.stderr).toBe(0);
    expect(await readFile(join(optional.out, "result"), "utf8")).toBe("none\n");
  }, 120_000);

  it("--ssh with a missing socket or key file is an error", async () => {
    const r = await build("bad", "FROM busybox\nRUN true\n", ["--ssh", `default=${join(tmp.path, "nope")}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--ssh default:");
    expect(r.stderr).toContain("does not exist");
  }, 60_000);
});
