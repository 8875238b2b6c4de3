import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];

beforeAll(async () => {
  tmp = await makeTempDir("cli-crash");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

/** Starts a build and sends `signal` as soon as a step whose name contains `needle` has started. */
function buildAndKillDuring(
  args: string[],
  needle: string,
  signal: NodeJS.Signals = "SIGKILL",
): Promise<{ killed: boolean; code: number | null; stderr: string; ms: number }> {
  const main = fileURLToPath(new URL("./main.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    ["--conditions=@kiln/source", "--import", import.meta.resolve("tsx"), main, ...args],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  let sentAt = 0;
  return new Promise((resolve) => {
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!sentAt && events(stderr).some((e) => e.type === "vertex.started" && e.name?.includes(needle))) {
        sentAt = Date.now();
        // Give the container a moment to be really running.
        setTimeout(() => child.kill(signal), 300);
      }
    });
    child.on("close", (code, sig) =>
      resolve({ killed: sig === "SIGKILL", code, stderr, ms: sentAt ? Date.now() - sentAt : -1 }),
    );
  });
}

const leftovers = async (dir: string) => readdir(dir).catch(() => [] as string[]);

describe("crash safety", () => {
  it("Ctrl-C during a RUN stops the build at once and leaves no container, mount or bundle", async () => {
    const ctx = join(tmp.path, "ctx-int");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), "FROM busybox\nRUN sleep 60\n");
    const interruptRoot = join(tmp.path, "store-int");
    const args = ["build", "--root", interruptRoot, "--progress", "rawjson", ...contextFlags, ctx];
    const r = await buildAndKillDuring(args, "RUN sleep 60", "SIGINT");
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/ERROR: .*canceled/);
    expect(await leftovers(join(interruptRoot, "executor", "bundles"))).toEqual([]);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(interruptRoot);
  }, 60_000);

  it("kill -9 in the middle of a RUN, then the same build succeeds and reuses what was committed", async () => {
    const ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "a.txt"), "a\n");
    await writeFile(
      join(ctx, "Dockerfile"),
      "FROM busybox\nCOPY a.txt /a.txt\nRUN sleep 2 && echo done > /done\n",
    );
    const args = ["build", "--root", root, "--progress", "rawjson", ...contextFlags, ctx];

    const killed = await buildAndKillDuring(args, "RUN sleep 2");
    expect(killed.killed).toBe(true);

    const out = join(tmp.path, "out");
    const again = await kiln([...args.slice(0, -1), "-o", `type=local,dest=${out}`, ctx]);
    expect(again.code, again.stderr).toBe(0);
    const evs = events(again.stderr);
    expect(evs.some((e) => e.type === "vertex.cached" && e.name?.includes("COPY a.txt"))).toBe(true);
    expect(evs.some((e) => e.type === "vertex.started" && e.name?.includes("RUN sleep 2"))).toBe(true);
    expect(await readFile(join(out, "done"), "utf8")).toBe("done\n");

    // Nothing of the killed run is left: no container state, no bundles, no temp snapshots.
    expect(await leftovers(join(root, "executor", "bundles"))).toEqual([]);
    const snapshots = await leftovers(join(root, "snapshotter", "snapshots"));
    expect(snapshots.filter((n) => n.startsWith("new-") || n.startsWith("rm-"))).toEqual([]);
    const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
    expect(mountinfo).not.toContain(root);
  }, 120_000);
});
