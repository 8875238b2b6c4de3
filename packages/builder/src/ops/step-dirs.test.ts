import { spawn } from "node:child_process";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeStepDir, removeStaleStepDirs } from "./step-dirs.js";

describe("per-step directories", () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir("step-dirs");
  });
  afterAll(() => tmp.cleanup());

  it("are private, and removed later only when their process is gone", async () => {
    const mine = await makeStepDir(tmp.path, "secret");
    expect((await stat(mine)).mode & 0o777).toBe(0o700);
    // A process that has exited: its pid is free (reuse within this test is not a concern).
    const child = spawn("true");
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid ?? 0)));
    for (const name of [`secret-${deadPid}-abc123`, `rw-mount-${deadPid}-def456`, "content", "secret-old"]) {
      await mkdir(join(tmp.path, name));
    }
    const removed = await removeStaleStepDirs(tmp.path);
    expect(removed.sort()).toEqual([`rw-mount-${deadPid}-def456`, `secret-${deadPid}-abc123`]);
    expect((await readdir(tmp.path)).sort()).toEqual(
      ["content", mine.split("/").at(-1), "secret-old"].sort(),
    );
  });
});
