import { spawn } from "node:child_process";
import { chmod, link, mkdir, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildBusyboxLayout } from "@kiln/testkit";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the kiln CLI from its TypeScript sources in a new process. */
export function kiln(
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Uint8Array } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--conditions=@kiln/source", "--import", TSX, MAIN, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

export function run(cmd: string, args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** Progress events of a `--progress rawjson` run. */
export function events(stderr: string): { type: string; name?: string; vertex?: string }[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/** A busybox OCI layout plus the `--build-context busybox=…` flag that names it. */
export async function busybox(dir: string): Promise<string[]> {
  const layout = join(dir, "busybox");
  await buildBusyboxLayout(layout, { tag: "latest" });
  return ["--build-context", `busybox=oci-layout://${resolve(layout)}:latest`];
}

/** The fixture context: every COPY/ADD feature the Dockerfile tests use. */
export async function writeContext(dir: string, dockerfile: string): Promise<void> {
  await mkdir(join(dir, "files", "sub"), { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  await writeFile(join(dir, "files", "a.txt"), "alpha\n");
  await writeFile(join(dir, "files", "sub", "b.sh"), "#!/bin/sh\necho b\n");
  await chmod(join(dir, "files", "sub", "b.sh"), 0o755);
  await symlink("a.txt", join(dir, "files", "link"));
  await link(join(dir, "files", "a.txt"), join(dir, "files", "hard"));
  await writeFile(join(dir, "files", "ignored.txt"), "must not be copied\n");
  await writeFile(join(dir, "secret.txt"), "s3cr3t\n");
  await writeFile(join(dir, ".dockerignore"), "files/ignored.txt\n");
  await mkdir(join(dir, "arch", "x"), { recursive: true });
  await writeFile(join(dir, "arch", "x", "y.txt"), "from the archive\n");
  const tar = await run("tar", ["-czf", join(dir, "archive.tar.gz"), "-C", join(dir, "arch"), "x"]);
  if (tar.code !== 0) throw new Error(tar.stderr);
}
