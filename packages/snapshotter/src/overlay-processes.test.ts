import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile, realpath, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { mountPoints } from "./mount-exec.js";
import { mountedPath } from "./mounts.js";
import { createOverlaySnapshotter } from "./overlay.js";
import { isOverlaySupported } from "./overlay-probe.js";

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve("tsx/esm", {
  paths: [fileURLToPath(new URL("../../..", import.meta.url))],
});

/** Prepares and mounts a writable snapshot and a view, says "ready", then waits to be killed. */
const WORKER = `
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createOverlaySnapshotter, mountedPath } from ${JSON.stringify(entry)};
const sn = await createOverlaySnapshotter({ root: process.argv[2] });
const base = await mountedPath(await sn.prepare("base-key", undefined));
await writeFile(join(base.path, "base"), "base");
await base.release();
await sn.commit("base", "base-key");
await sn.prepare("mid-key", "base");
await sn.commit("mid", "mid-key");
const rw = await mountedPath(await sn.prepare("work", "mid"));
await writeFile(join(rw.path, "written"), "before the kill");
await mountedPath(await sn.view("look", "mid"));
console.log("ready");
setInterval(() => {}, 1000);
`;

const probe = await makeTempDir("overlay-probe");
const supported = await isOverlaySupported(probe.path);
await probe.cleanup();

describe.skipIf(!supported)("overlay snapshotter across processes", () => {
  let tmp: TempDir;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTempDir("overlay-procs");
    root = join(await realpath(tmp.path), "root");
  });
  afterEach(() => tmp.cleanup());

  const mountsUnderRoot = async () => (await mountPoints()).filter((p) => p.startsWith(root + sep));

  it("unmounts and removes the mounts of a killed process when the root is opened again", async () => {
    const script = join(tmp.path, "worker.mts");
    await writeFile(script, WORKER);
    const child = spawn(
      process.execPath,
      ["--conditions=@kiln/source", "--import", tsxLoader, script, root],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      output += text;
    });
    for (let i = 0; i < 600 && !output.includes("ready"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(output).toContain("ready");
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(await mountsUnderRoot()).toHaveLength(2); // mounts outlive their process

    const sn = await createOverlaySnapshotter({ root });
    try {
      expect(await mountsUnderRoot()).toEqual([]);
      expect(await readdir(join(root, "mnt"))).toEqual([]);
      // The killed process's snapshot mounts again (its volatile marker is from this boot).
      const again = await mountedPath(await sn.mounts("work"));
      expect(await readFile(join(again.path, "written"), "utf8")).toBe("before the kill");
      expect(await readFile(join(again.path, "base"), "utf8")).toBe("base");
      await again.release();
      expect(await mountsUnderRoot()).toEqual([]);
    } finally {
      await sn.close();
    }
  }, 60_000);
});
