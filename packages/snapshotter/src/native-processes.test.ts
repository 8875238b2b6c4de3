import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Snapshotter } from "@kiln/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, readTree, type TempDir, writeTree } from "../../testkit/src/index.js";
import { mountedPath } from "./mounts.js";
import { createNativeSnapshotter } from "./native.js";

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve("tsx/esm", {
  paths: [fileURLToPath(new URL("../../..", import.meta.url))],
});

/** A worker in its own Node process: `race <root> <barrier>` or `churn <root>`. */
const WORKER = `
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createNativeSnapshotter, mountedPath } from ${JSON.stringify(entry)};
const [mode, root, barrier] = process.argv.slice(2);
const sn = await createNativeSnapshotter({ root });
const key = "key-" + process.pid;
if (mode === "race") {
  await sn.prepare(key, undefined);
  console.log("ready");
  while (!existsSync(barrier)) await new Promise((r) => setTimeout(r, 5));
  try { await sn.commit("same", key); console.log("ok"); } catch (err) { console.log(err.code ?? String(err)); }
} else {
  console.log("ready");
  for (let i = 0; ; i++) {
    await sn.prepare(key + "-" + i, "base");
    const { path } = await mountedPath(await sn.mounts(key + "-" + i));
    await writeFile(join(path, "marker"), String(i));
    await sn.commit("n-" + i, key + "-" + i);
    if (i > 0) await sn.remove("n-" + (i - 1));
    console.log("committed " + i);
  }
}
`;

function startWorker(
  script: string,
  args: string[],
): { child: ChildProcess; lines: string[]; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    ["--conditions=@kiln/source", "--import", tsxLoader, script, ...args],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  const waitFor = (line: string) =>
    lines.includes(line)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ line, resolve }));
  child.stdout?.setEncoding("utf8").on("data", (text: string) => {
    for (const line of text.split("\n").filter(Boolean)) {
      lines.push(line);
      for (const w of waiters.filter((w) => w.line === line)) w.resolve();
    }
  });
  return { child, lines, ready: waitFor("ready"), waitFor };
}

/** Waits until no process has `path` on its command line (the killed worker's orphaned `cp`). */
async function orphansGone(path: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const users: string[] = [];
    for (const pid of (await readdir("/proc")).filter((e) => /^\d+$/.test(e))) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes(path)) users.push(pid);
    }
    if (users.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`processes still use ${path}`);
}

describe("native snapshotter across processes", () => {
  let tmp: TempDir;
  let root: string;
  let script: string;
  let sn: Snapshotter | undefined;
  beforeEach(async () => {
    tmp = await makeTempDir("native-procs");
    root = join(tmp.path, "root");
    script = join(tmp.path, "worker.mts");
    await writeFile(script, WORKER);
  });
  afterEach(async () => {
    await sn?.close();
    await tmp.cleanup();
  });

  it("lets exactly one of two processes commit the same name", async () => {
    const barrier = join(tmp.path, "go");
    const workers = [
      startWorker(script, ["race", root, barrier]),
      startWorker(script, ["race", root, barrier]),
    ];
    await Promise.all(workers.map((w) => w.ready));
    await writeFile(barrier, "");
    await Promise.all(workers.map((w) => once(w.child, "exit")));
    expect(workers.map((w) => w.lines[1]).sort()).toEqual(["ALREADY_EXISTS", "ok"]);
    sn = await createNativeSnapshotter({ root });
    expect((await sn.stat("same")).kind).toBe("committed");
  }, 60_000);

  it("leaves only whole snapshots when a process is killed mid-work, and reopening cleans up", async () => {
    sn = await createNativeSnapshotter({ root });
    await sn.prepare("k", undefined);
    const files = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`d${i % 10}/f${i}`, `${i}`]));
    await writeTree((await mountedPath(await sn.mounts("k"))).path, files);
    await sn.commit("base", "k");

    const worker = startWorker(script, ["churn", root]);
    await worker.waitFor("committed 2");
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 100)); // most likely mid-copy
    worker.child.kill("SIGKILL");
    await once(worker.child, "exit");
    await orphansGone(root); // a `cp` of the killed worker may outlive it for a moment

    const reopened = await createNativeSnapshotter({ root });
    const leftovers = (await readdir(join(root, "snapshots"))).filter((e) => /^(new|rm)-/.test(e));
    expect(leftovers).toEqual([]);
    const infos: { name: string; kind: string }[] = [];
    await reopened.walk((info) => {
      infos.push(info);
    });
    expect(infos.length).toBeGreaterThan(1);
    for (const info of infos.filter((i) => i.name !== "base")) {
      // Committed: look through a view; active (killed before commit): its own tree.
      const key = info.kind === "committed" ? `check-${info.name}` : info.name;
      if (info.kind === "committed") await reopened.view(key, info.name);
      const tree = await readTree((await mountedPath(await reopened.mounts(key))).path);
      expect(Object.keys(tree).filter((p) => p.includes("/f"))).toHaveLength(300);
      if (info.kind === "committed") expect(tree.marker).toBeDefined();
    }
    await reopened.close();
  }, 60_000);
});
