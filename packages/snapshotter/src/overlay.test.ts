import { spawnSync } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "vitest";
import { makeTempDir, snapshotterSuite } from "../../testkit/src/index.js";
import { mountOverlay } from "./mount-exec.js";
import { createOverlaySnapshotter } from "./overlay.js";
import { isOverlaySupported } from "./overlay-probe.js";

/** A PID that is certainly not running: that of a child that has already exited. */
function deadPid(): number {
  return Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
}

const probeDir = await makeTempDir("overlay-probe");
const supported = await isOverlaySupported(probeDir.path);
await probeDir.cleanup();

if (!supported) {
  describe.skip("overlay snapshotter (overlayfs cannot be mounted here)", () => {
    it("needs root and a kernel/filesystem with overlay support", () => {});
  });
} else {
  snapshotterSuite((root) => createOverlaySnapshotter({ root }), {
    name: "overlay snapshotter",
    async plantCrashLeftovers(root) {
      const pid = deadPid();
      const snapshot = join(root, "snapshots", `new-${pid}-0123456789abcdef`);
      await mkdir(join(snapshot, "fs/half"), { recursive: true });
      await mkdir(join(snapshot, "work"));
      await writeFile(join(snapshot, "fs/half/file"), "partial");
      // A mount of the killed process, still in place: an overlay over its half-made snapshot.
      const lower = join(root, "snapshots", `new-${pid}-lower`);
      await mkdir(lower);
      const target = join(root, "mnt", `${pid}-stale`);
      await mkdir(target, { recursive: true });
      await mountOverlay(
        `lowerdir=${lower},upperdir=${join(snapshot, "fs")},workdir=${join(snapshot, "work")}`,
        target,
      );
      const link = join(root, "l", "dangling000");
      await mkdir(join(root, "l"), { recursive: true });
      await symlink("../snapshots/gone/fs", link);
      return [snapshot, lower, target, link];
    },
  });
}
