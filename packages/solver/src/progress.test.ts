import { noopProgress } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createFakeOps, createMemoryCache, createRecorder, edge } from "./fake-ops.test-helpers.js";
import { createSolver } from "./solver.js";

function setup() {
  const ops = createFakeOps();
  const mem = createMemoryCache();
  const solver = createSolver({ resolveOp: ops.resolveOp, cache: mem.cache, parallelism: 4 });
  return { ops, mem, solver };
}

/** Every vertex reported at most once: one `cached`, or one `started` followed by one `completed`. */
function expectReportedOnce(lines: readonly string[]): void {
  const byName = new Map<string, string[]>();
  for (const line of lines) {
    const [kind = "", name = ""] = line.split(" ");
    byName.set(name, [...(byName.get(name) ?? []), kind]);
  }
  for (const kinds of byName.values()) {
    expect([["cached"], ["started", "completed"]]).toContainEqual(kinds);
  }
}

describe("progress", () => {
  it("reports started/completed in dependency order on a cold build", async () => {
    const { ops, solver } = setup();
    const top = ops.vtx({
      name: "top",
      inputs: [ops.vtx({ name: "mid", inputs: [ops.vtx({ name: "base" })] })],
    });
    const progress = createRecorder();
    await solver.solve(edge(top), { progress });
    expect(progress.lines()).toEqual([
      "started base",
      "completed base",
      "started mid",
      "completed mid",
      "started top",
      "completed top",
    ]);
    const times = progress.events.map((e) => e.time);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("reports skipped ancestors as cached as soon as the rest of the job cannot need them", async () => {
    const { ops, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const cachedStep = ops.vtx({ name: "cached-step", inputs: [ops.vtx({ name: "deps", inputs: [base] })] });
    await solver.solve(edge(cachedStep), { progress: noopProgress });

    const progress = createRecorder();
    await solver.solve(edge(ops.vtx({ name: "new-step", inputs: [cachedStep] })), { progress });

    expect(progress.lines()).toEqual([
      "cached base",
      "cached deps",
      "cached cached-step",
      "started new-step",
      "completed new-step",
    ]);
  });

  it("never reports a vertex twice when a skipped ancestor is executed by another branch", async () => {
    const { ops, mem, solver } = setup();
    const shared = ops.vtx({ name: "shared" });
    const hit = ops.vtx({ name: "hit", inputs: [shared] });
    await solver.solve(edge(hit), { progress: noopProgress });
    mem.forget(shared);

    const progress = createRecorder();
    const root = ops.vtx({ name: "root", inputs: [hit, ops.vtx({ name: "miss", inputs: [shared] })] });
    await solver.solve(edge(root), { progress });

    const lines = progress.lines();
    expect(lines).toContain("cached hit");
    expect(lines.filter((l) => l.endsWith(" shared"))).toEqual(["started shared", "completed shared"]);
    expectReportedOnce(lines);
  });

  it("does not report volatile skipped ancestors as cached", async () => {
    const { ops, solver } = setup();
    const local = ops.vtx({ name: "local", volatile: true, exec: async () => ["files"] });
    const copy = ops.vtx({ name: "copy", inputs: [local], contentHashed: [true] });
    const root = ops.vtx({ name: "root", inputs: [copy] });
    await solver.solve(edge(root), { progress: noopProgress });

    const progress = createRecorder();
    await solver.solve(edge(root), { progress });

    expect(progress.lines()).toEqual(["started local", "completed local", "cached copy", "cached root"]);
  });

  it("forwards an op's logs tagged with its vertex to every job watching it", async () => {
    const { ops, solver } = setup();
    const v = ops.vtx({
      name: "logger",
      exec: async (_, o) => {
        o.progress.write({
          type: "vertex.log",
          vertex: "whatever",
          stream: 1,
          data: "hello\n",
          time: Date.now(),
        });
        return ["done"];
      },
    });
    const progress = createRecorder();
    await solver.solve(edge(v), { progress });
    const logs = progress.events.filter((e) => e.type === "vertex.log");
    expect(logs).toEqual([expect.objectContaining({ vertex: v.digest, data: "hello\n", stream: 1 })]);
    expect(progress.lines()).toEqual(["started logger", "completed logger"]);
  });

  it("gives each job its own events for a vertex both load from cache", async () => {
    const { ops, solver } = setup();
    const v = ops.vtx({ name: "v", inputs: [ops.vtx({ name: "base" })] });
    await solver.solve(edge(v), { progress: noopProgress });
    const [a, b] = [createRecorder(), createRecorder()];
    await Promise.all([solver.solve(edge(v), { progress: a }), solver.solve(edge(v), { progress: b })]);
    expect(a.lines()).toEqual(["cached base", "cached v"]);
    expect(b.lines()).toEqual(["cached base", "cached v"]);
  });
});
