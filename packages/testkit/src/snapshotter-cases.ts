import { chown, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { SnapshotInfo } from "@kiln/core";
import { mountedPath } from "@kiln/snapshotter";
import { expect } from "vitest";
import type { CaseContext } from "./snapshotter-harness.js";
import { writeTree } from "./tree.js";

/** The cases of snapshotterSuite; each gets a fresh root (see runCase). */

const code = (c: string) => expect.objectContaining({ code: c });
const file = (content: string) => expect.objectContaining({ type: "file", content });

export async function basic({ sn, write, read, path }: CaseContext): Promise<void> {
  const mounts = await sn.prepare("k1", undefined, { labels: { purpose: "base" } });
  expect(mounts.length).toBeGreaterThan(0);
  await write("k1", { foo: "foo\n", "a/b": "b", "a/c/d": "d" });
  await sn.commit("base", "k1");
  await expect(sn.stat("k1")).rejects.toEqual(code("NOT_FOUND"));
  expect(await sn.stat("base")).toMatchObject({
    kind: "committed",
    name: "base",
    labels: { purpose: "base" },
  });

  await sn.prepare("k2", "base");
  expect(await read("k2")).toMatchObject({ foo: file("foo\n"), "a/b": file("b"), "a/c/d": file("d") });
  await write("k2", { bar: "bar" });
  await sn.commit("top", "k2");

  const viewMounts = await sn.view("v", "top");
  expect(viewMounts.some((m) => m.options.includes("ro"))).toBe(true);
  expect(await read("v")).toMatchObject({ foo: file("foo\n"), bar: file("bar") });
  expect(await sn.stat("v")).toMatchObject({ kind: "view", name: "v", parent: "top" });
  expect(await path("v")).toBeTruthy();
}

export async function contractErrors({ sn, layer }: CaseContext): Promise<void> {
  await layer("base", undefined, { x: "x" });
  await sn.prepare("k", "base");
  await expect(sn.prepare("k", "base")).rejects.toEqual(code("ALREADY_EXISTS"));
  await expect(sn.prepare("base", undefined)).rejects.toEqual(code("ALREADY_EXISTS"));
  await expect(sn.prepare("k2", "missing")).rejects.toEqual(code("NOT_FOUND"));
  await expect(sn.prepare("k3", "k")).rejects.toEqual(code("INVALID_ARGUMENT"));
  await expect(sn.commit("base", "k")).rejects.toEqual(code("ALREADY_EXISTS"));
  expect(await sn.stat("k")).toMatchObject({ kind: "active" }); // a failed commit leaves the key
  await expect(sn.commit("n", "missing")).rejects.toEqual(code("NOT_FOUND"));
  await expect(sn.commit("n", "base")).rejects.toEqual(code("FAILED_PRECONDITION"));
  await expect(sn.stat("missing")).rejects.toEqual(code("NOT_FOUND"));
  await expect(sn.mounts("missing")).rejects.toEqual(code("NOT_FOUND"));
  await expect(sn.remove("missing")).rejects.toEqual(code("NOT_FOUND"));
}

export async function statActive({ sn, layer }: CaseContext): Promise<void> {
  await layer("base", undefined, { x: "x" });
  const before = Date.now();
  await sn.prepare("active", "base", { labels: { a: "1" } });
  const info = await sn.stat("active");
  expect(info).toMatchObject({ kind: "active", name: "active", parent: "base", labels: { a: "1" } });
  expect(info.created).toBeInstanceOf(Date);
  expect(info.created.getTime()).toBeGreaterThanOrEqual(before - 1000);
  expect(info.updated.getTime()).toBeGreaterThanOrEqual(info.created.getTime());
  expect((await sn.stat("base")).parent).toBeUndefined();
}

export async function remove({ sn, layer }: CaseContext): Promise<void> {
  await layer("base", undefined, { x: "x" });
  await layer("child", "base", { y: "y" });
  await sn.prepare("active", "child");
  await expect(sn.remove("base")).rejects.toEqual(code("FAILED_PRECONDITION"));
  await expect(sn.remove("child")).rejects.toEqual(code("FAILED_PRECONDITION"));
  await sn.remove("active");
  await sn.remove("child");
  await sn.remove("base");
  await expect(sn.remove("base")).rejects.toEqual(code("NOT_FOUND"));
  const left: string[] = [];
  await sn.walk((info) => {
    left.push(info.name);
  });
  expect(left).toEqual([]);
}

export async function walk({ sn, layer }: CaseContext): Promise<void> {
  await layer("base", undefined, { x: "x" });
  await layer("child", "base", { y: "y" });
  await sn.prepare("active", "child");
  await sn.view("view", "base");
  const seen: SnapshotInfo[] = [];
  await sn.walk((info) => {
    seen.push(info);
  });
  const summary = seen.map((i) => `${i.name}:${i.kind}:${i.parent ?? ""}`).sort();
  expect(summary).toEqual([
    "active:active:child",
    "base:committed:",
    "child:committed:base",
    "view:view:base",
  ]);
}

export async function layerFileUpdate({ sn, layer, write, read }: CaseContext): Promise<void> {
  await layer("base", undefined, { foo: "1", "dir/keep": "keep" });
  await sn.prepare("k", "base");
  await write("k", { foo: "2", bar: "new" });
  await sn.view("base-view", "base");
  expect(await read("base-view")).toMatchObject({ foo: file("1") });
  expect(await read("base-view")).not.toHaveProperty("bar");
  await sn.commit("top", "k");
  await sn.view("top-view", "top");
  expect(await read("top-view")).toMatchObject({
    foo: file("2"),
    bar: file("new"),
    "dir/keep": file("keep"),
  });
}

export async function removeDirInLowerLayer({
  sn,
  layer,
  path,
  read,
  releaseAll,
}: CaseContext): Promise<void> {
  await layer("base", undefined, { "a/b/c": "c", "a/d": "d", other: "o" });
  await sn.prepare("k", "base");
  await rm(join(await path("k"), "a"), { recursive: true });
  await releaseAll();
  await sn.commit("top", "k");
  await sn.view("top-view", "top");
  expect(Object.keys(await read("top-view"))).toEqual(["other"]);
  await sn.view("base-view", "base");
  expect(Object.keys(await read("base-view"))).toEqual(["a", "a/b", "a/b/c", "a/d", "other"]);
}

export async function chownPreserved({ sn, path, read, releaseAll }: CaseContext): Promise<void> {
  await sn.prepare("k", undefined);
  const dir = await path("k");
  await writeTree(dir, { "owned/file": { type: "file", content: "f", uid: 1000, gid: 1001 } });
  await chown(join(dir, "owned"), 2000, 2002);
  await releaseAll();
  await sn.commit("base", "k");
  await sn.prepare("child", "base");
  await sn.view("v", "base");
  for (const key of ["child", "v"]) {
    const tree = await read(key);
    expect(tree["owned/file"]).toMatchObject({ uid: 1000, gid: 1001 });
    expect(tree.owned).toMatchObject({ uid: 2000, gid: 2002 });
  }
}

export async function viewReadOnly({ sn, layer, read }: CaseContext): Promise<void> {
  await layer("base", undefined, { x: "x" });
  await layer("second", "base", { y: "y" });
  // One layer and two layers: a snapshotter may mount them differently (bind vs overlay).
  for (const [key, parent] of [
    ["v2", "second"],
    ["v", "base"],
  ] as const) {
    const mounts = await sn.view(key, parent);
    expect(await sn.mounts(key)).toEqual(mounts);
    expect(mounts.every((m) => m.options.includes("ro") && !m.options.includes("rw"))).toBe(true);
    const mounted = await mountedPath(mounts);
    await mounted.release();
    expect(mounted.readOnly).toBe(true);
  }
  expect(await read("v2")).toMatchObject({ x: file("x"), y: file("y") });
  await expect(sn.commit("n", "v")).rejects.toEqual(code("FAILED_PRECONDITION"));
  const active = await sn.prepare("k", "base");
  expect(active.some((m) => m.options.includes("ro"))).toBe(false);
}

export async function closeTwice({ sn }: CaseContext): Promise<void> {
  await sn.close();
  await sn.close();
}

export async function usage({ sn, layer, write }: CaseContext): Promise<void> {
  await layer("base", undefined, { small: "x" });
  await sn.prepare("k", "base");
  await write("k", { big: { type: "file", content: Buffer.alloc(1 << 20, 1) } });
  const u = await sn.usage("k");
  expect(u.size).toBeGreaterThanOrEqual(1 << 20);
  expect(u.inodes).toBeGreaterThanOrEqual(2);
}

export async function chain128({ sn, layer, read }: CaseContext): Promise<void> {
  let parent: string | undefined;
  for (let i = 0; i < 128; i++) {
    await layer(`layer-${i}`, parent, { [`files/f${String(i).padStart(3, "0")}`]: `${i}` });
    parent = `layer-${i}`;
  }
  await sn.view("top", parent);
  const tree = await read("top");
  expect(Object.keys(tree).filter((p) => p.startsWith("files/"))).toHaveLength(128);
  expect(tree["files/f127"]).toEqual(file("127"));
  expect((await sn.stat("layer-127")).parent).toBe("layer-126");
}

export async function crashLeftovers(ctx: CaseContext): Promise<void> {
  const { sn, layer, root, options } = ctx;
  await layer("base", undefined, { x: "x" });
  await sn.close();
  const planted = (await options.plantCrashLeftovers?.(root)) ?? [];
  const reopened = await ctx.open();
  for (const p of planted) await expect(stat(p)).rejects.toEqual(code("ENOENT"));
  const names: string[] = [];
  await reopened.walk((info) => {
    names.push(info.name);
  });
  expect(names).toEqual(["base"]);
  await reopened.prepare("k", "base");
  expect(await ctx.read("k", reopened)).toMatchObject({ x: file("x") });
}

export async function concurrentInstances(ctx: CaseContext): Promise<void> {
  const a = ctx.sn;
  const b = await ctx.open();
  await Promise.all([a.prepare("ka", undefined), b.prepare("kb", undefined)]);
  await Promise.all([ctx.write("ka", { a: "a" }, a), ctx.write("kb", { b: "b" }, b)]);
  await Promise.all([a.commit("na", "ka"), b.commit("nb", "kb")]);
  for (const sn of [a, b]) {
    const names: string[] = [];
    await sn.walk((info) => {
      names.push(info.name);
    });
    expect(names.sort()).toEqual(["na", "nb"]);
  }

  // Same key from both: exactly one prepare wins.
  const prepared = await Promise.allSettled([a.prepare("same-key", "na"), b.prepare("same-key", "nb")]);
  expect(prepared.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  expect(prepared.filter((r) => r.status === "rejected").map((r) => r.reason)).toEqual([
    code("ALREADY_EXISTS"),
  ]);

  // Same name from both: exactly one commit wins, the loser gets ALREADY_EXISTS.
  await Promise.all([a.prepare("x1", "na"), b.prepare("x2", "nb")]);
  const committed = await Promise.allSettled([a.commit("same", "x1"), b.commit("same", "x2")]);
  const winners = committed.filter((r) => r.status === "fulfilled");
  expect(winners).toHaveLength(1);
  const losers = committed.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
  expect(losers).toEqual([code("ALREADY_EXISTS")]);
  const info = await b.stat("same");
  expect(info.kind).toBe("committed");
  expect(["na", "nb"]).toContain(info.parent);
}
