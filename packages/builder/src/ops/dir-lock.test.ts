import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDirLock } from "./dir-lock.js";

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir("dir-lock");
});
afterAll(() => tmp?.cleanup());

describe("withDirLock", () => {
  it("runs holders one at a time", async () => {
    const path = join(tmp.path, "repo");
    let inside = 0;
    let most = 0;
    const hold = () =>
      withDirLock(path, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 20));
        inside--;
      });
    await Promise.all([hold(), hold(), hold()]);
    expect(most).toBe(1);
  });

  it("takes over a lock whose owner process is gone", async () => {
    const path = join(tmp.path, "stale");
    // A pid that surely exited: a child that already ran to completion.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    await mkdir(`${path}.lock`, { recursive: true });
    await writeFile(join(`${path}.lock`, "owner"), String(dead));
    await expect(withDirLock(path, async () => "taken")).resolves.toBe("taken");
  });

  it("waits for a live owner and stops waiting when canceled", async () => {
    const path = join(tmp.path, "live");
    await mkdir(`${path}.lock`, { recursive: true });
    await writeFile(join(`${path}.lock`, "owner"), String(process.pid));
    const controller = new AbortController();
    const waiting = withDirLock(path, async () => "never", { signal: controller.signal });
    setTimeout(() => controller.abort(), 150);
    await expect(waiting).rejects.toMatchObject({ code: "CANCELED" });
  });
});
