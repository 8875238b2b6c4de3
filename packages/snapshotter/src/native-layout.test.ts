import { createWriteStream } from "node:fs";
import { readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshotter } from "@kiln/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, readTree, type TempDir, writeTree } from "../../testkit/src/index.js";
import { writeLayerDiff } from "./diff.js";
import { mountedPath } from "./mounts.js";
import { createNativeSnapshotter } from "./native.js";
import { commitMarkerName, snapshotId, writeInfoFile } from "./native-store.js";

describe("native snapshotter layout and recovery", () => {
  let tmp: TempDir;
  let sn: Snapshotter;
  let snapshots: string;
  beforeEach(async () => {
    tmp = await makeTempDir("native");
    sn = await createNativeSnapshotter({ root: tmp.path });
    snapshots = join(tmp.path, "snapshots");
  });
  afterEach(async () => {
    await sn.close();
    await tmp.cleanup();
  });

  it("returns one rbind mount of <root>/snapshots/<sha256(key)>/fs and writes info.json", async () => {
    const mounts = await sn.prepare("k", undefined, { labels: { l: "v" } });
    const dir = join(snapshots, snapshotId("k"));
    expect(mounts).toEqual([{ type: "bind", source: join(dir, "fs"), options: ["rbind", "rw"] }]);
    const info = JSON.parse(await readFile(join(dir, "info.json"), "utf8"));
    expect(info).toMatchObject({ kind: "active", name: "k", labels: { l: "v" } });
    await sn.commit("n", "k");
    await sn.view("v", "n");
    // A view shares its committed parent's tree (read-only) instead of copying it.
    expect(await sn.mounts("v")).toEqual([
      { type: "bind", source: join(snapshots, snapshotId("n"), "fs"), options: ["rbind", "ro"] },
    ]);
    expect(await readdir(snapshots)).toEqual([snapshotId("n"), snapshotId("v")].sort());
  });

  it("copies the parent so exactly that the differ sees no change (ns mtimes, owners, links)", async () => {
    await sn.prepare("k", undefined);
    const base = (await mountedPath(await sn.mounts("k"))).path;
    await writeTree(base, {
      "a/file": { type: "file", content: "x", mode: 0o4755, uid: 3, gid: 4 },
      "a/hard": { type: "hardlink", target: "a/file" },
      "a/link": { type: "symlink", target: "file" },
      fifo: { type: "fifo" },
    });
    await sn.commit("base", "k");
    await sn.view("base-view", "base");
    await sn.prepare("child", "base");
    const lower = (await mountedPath(await sn.mounts("base-view"))).path;
    const upper = (await mountedPath(await sn.mounts("child"))).path;
    expect(await readTree(upper, { mtimes: true })).toEqual(await readTree(lower, { mtimes: true }));
    const layer = await writeLayerDiff(lower, upper, createWriteStream(join(tmp.path, "empty.tar")));
    expect(layer.size).toBe(1024);
  });

  it("finishes a commit that was interrupted after the directory rename", async () => {
    await sn.prepare("k", undefined, { labels: { keep: "me" } });
    const keyDir = join(snapshots, snapshotId("k"));
    const nameId = snapshotId("n");
    const info = JSON.parse(await readFile(join(keyDir, "info.json"), "utf8"));
    await writeInfoFile(snapshots, join(keyDir, commitMarkerName(nameId)), {
      ...info,
      kind: "committed",
      name: "n",
    });
    await rename(keyDir, join(snapshots, nameId)); // ... and then the process died
    const reopened = await createNativeSnapshotter({ root: tmp.path });
    expect(await reopened.stat("n")).toMatchObject({ kind: "committed", name: "n", labels: { keep: "me" } });
    await expect(reopened.stat("k")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await reopened.close();
  });

  it("keeps temp directories of live processes when another instance opens the root", async () => {
    const live = join(snapshots, `new-${process.pid}-00000000`);
    await writeTree(live, { "fs/x": "in progress" });
    const other = await createNativeSnapshotter({ root: tmp.path });
    expect(await readdir(snapshots)).toContain(`new-${process.pid}-00000000`);
    await other.close();
  });

  it("refuses aborted calls and calls after close", async () => {
    await sn.prepare("k", undefined);
    await writeTree((await mountedPath(await sn.mounts("k"))).path, { f: "f" });
    await sn.commit("base", "k");
    const controller = new AbortController();
    controller.abort();
    await expect(sn.prepare("k2", "base", { signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELED",
    });
    expect((await readdir(snapshots)).filter((e) => e.startsWith("new-"))).toEqual([]);
    await sn.close();
    await expect(sn.stat("base")).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});
