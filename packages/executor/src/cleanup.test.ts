import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { cleanupStale } from "./cleanup.js";
import { busyboxTree, copyTree, leftovers, NOTHING_LEFT } from "./rootfs.test-helpers.js";

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve("tsx/esm", {
  paths: [fileURLToPath(new URL("../../..", import.meta.url))],
});

/** A kiln process that starts a long container on an overlay rootfs and reports when it runs. */
const WORKER = `
import { createRuncExecutor } from ${JSON.stringify(entry)};
const [root, lower, upper, work, marker] = process.argv.slice(2);
const executor = createRuncExecutor({ root });
await executor.run({
  rootfs: [{ type: "overlay", source: "overlay", options: ["lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work] }],
  mounts: [],
  process: { args: ["sh", "-c", "echo started; exec sleep " + marker], env: [], cwd: "/" },
  stdout: () => console.log("running"),
});
`;

async function processesWith(cmdline: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((e) => /^\d+$/.test(e))) {
    if ((await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")) === cmdline) found.push(pid);
  }
  return found;
}

describe("cleanupStale (real runc, SIGKILLed kiln process)", () => {
  let fixture: TempDir & { tree: string };
  let work: TempDir;
  beforeAll(async () => {
    fixture = await busyboxTree();
    work = await makeTempDir("executor-cleanup");
  });
  afterAll(async () => {
    await work.cleanup();
    await fixture.cleanup();
  });

  it("removes the container, its mounts and its bundle; leaves live owners alone", async () => {
    const root = join(work.path, "state");
    const [lower, upper, workdir] = ["lower", "upper", "work"].map((d) => join(work.path, d)) as [
      string,
      string,
      string,
    ];
    await copyTree(fixture.tree, lower);
    await mkdir(upper);
    await mkdir(workdir);
    const marker = `${process.pid % 1000}.${Date.now() % 1000}`;
    const script = join(work.path, "worker.mts");
    await writeFile(script, WORKER);
    const child = spawn(
      process.execPath,
      ["--conditions=@kiln/source", "--import", tsxLoader, script, root, lower, upper, workdir, marker],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("running") && resolve());
      child.once("exit", (code) => reject(new Error(`worker exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const left = await leftovers(root);
    expect(left.bundles).toHaveLength(1);
    expect(left.bundles[0]).toMatch(new RegExp(`^kiln-${child.pid}-[0-9a-f]+$`));
    expect(left.state).toEqual(left.bundles);
    expect(left.mounts).toEqual([join(root, "bundles", left.bundles[0] as string, "rootfs")]);
    expect(await processesWith(`sleep\0${marker}\0`)).toHaveLength(1);

    // A bundle of a live process (this one) must survive.
    const mine = join(root, "bundles", `kiln-${process.pid}-abc123`);
    await mkdir(mine);
    const removed = await cleanupStale({ root });
    expect(removed).toEqual({ containers: left.bundles, mounts: left.mounts, bundles: left.bundles });
    expect(await readdir(join(root, "bundles"))).toEqual([`kiln-${process.pid}-abc123`]);
    await rm(mine, { recursive: true });
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
    expect(await processesWith(`sleep\0${marker}\0`)).toEqual([]);
    // The killed run's writes stay in the upperdir for the snapshotter to discard; lower is untouched.
    expect((await readdir(lower)).sort()).toEqual(["bin", "etc", "tmp"]);
  });
});
