import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { snapshotterSuite } from "../../testkit/src/index.js";
import { createNativeSnapshotter } from "./native.js";

/** A PID that is certainly not running: that of a child that has already exited. */
function deadPid(): number {
  const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(child.stdout.trim());
}

snapshotterSuite((root) => createNativeSnapshotter({ root }), {
  name: "native snapshotter",
  async plantCrashLeftovers(root) {
    const snapshots = join(root, "snapshots");
    const pid = deadPid();
    const planted = [
      join(snapshots, `new-${pid}-0123456789abcdef`),
      join(snapshots, `rm-${pid}-0123456789abcdef`),
      join(snapshots, "new-no-pid-at-all"),
    ];
    for (const dir of planted) {
      await mkdir(join(dir, "fs/half/written"), { recursive: true });
      await writeFile(join(dir, "fs/half/written/file"), "partial");
    }
    await writeFile(join(snapshots, `new-${pid}-fedcba9876543210.json`), "{ half");
    return [...planted, join(snapshots, `new-${pid}-fedcba9876543210.json`)];
  },
});
