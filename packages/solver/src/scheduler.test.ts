import { isKilnError, noopProgress } from "@kiln/core";
import { describe, expect, it } from "vitest";
import {
  aborted,
  afterGate,
  createFakeOps,
  createMemoryCache,
  createRecorder,
  deferred,
  edge,
  tick,
  until,
} from "./fake-ops.test-helpers.js";
import { createSolver } from "./solver.js";

function setup(parallelism = 4) {
  const ops = createFakeOps();
  const mem = createMemoryCache();
  const solver = createSolver({ resolveOp: ops.resolveOp, cache: mem.cache, parallelism });
  return { ops, mem, solver };
}

describe("single-flight", () => {
  it("runs a vertex shared by two branches once per job", async () => {
    const { ops, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const a = ops.vtx({ name: "a", inputs: [base] });
    const b = ops.vtx({ name: "b", inputs: [base] });
    const root = ops.vtx({ name: "root", inputs: [a, b] });

    const { result } = await solver.solve(edge(root), { progress: noopProgress });

    expect(result).toBe("root(a(base()),b(base()))");
    for (const v of [base, a, b, root]) {
      expect(ops.calls(v).cacheMap).toBe(1);
      expect(ops.calls(v).exec).toBe(1);
    }
  });

  it("shares equal digests between two concurrent jobs, even across distinct vertex objects", async () => {
    const { ops, solver } = setup();
    const gate = deferred();
    const slow = { name: "slow", exec: afterGate(gate.promise, "slow-result") };
    const rootA = ops.vtx({ name: "a", inputs: [ops.vtx(slow)] });
    const rootB = ops.vtx({ name: "b", inputs: [ops.vtx(slow)] });
    const shared = rootA.inputs[0]?.vertex;
    expect(shared).not.toBe(rootB.inputs[0]?.vertex);
    expect(shared?.digest).toBe(rootB.inputs[0]?.vertex.digest);

    const progressA = createRecorder();
    const progressB = createRecorder();
    const jobA = solver.solve(edge(rootA), { progress: progressA });
    await until(() => ops.calls(rootA.inputs[0]?.vertex.digest ?? "sha256:").exec === 1);
    const jobB = solver.solve(edge(rootB), { progress: progressB });
    await tick();
    gate.resolve();

    expect((await jobA).result).toBe("a(slow-result)");
    expect((await jobB).result).toBe("b(slow-result)");
    expect(ops.calls(rootA.inputs[0]?.vertex.digest ?? "sha256:").exec).toBe(1);
    expect(ops.calls(rootA.inputs[0]?.vertex.digest ?? "sha256:").cacheMap).toBe(1);
    // Each job reports the shared step as its own.
    expect(progressA.lines()).toEqual(["started slow", "completed slow", "started a", "completed a"]);
    expect(progressB.lines()).toEqual(["started slow", "completed slow", "started b", "completed b"]);
  });

  it("starts afresh in a later job once the jobs sharing a vertex have ended", async () => {
    const { ops, mem, solver } = setup();
    const v = ops.vtx({ name: "v", volatile: true });
    await solver.solve(edge(v), { progress: noopProgress });
    await solver.solve(edge(v), { progress: noopProgress });
    expect(ops.calls(v).cacheMap).toBe(2);
    expect(ops.calls(v).exec).toBe(2);
    expect(mem.saves).toEqual([]);
  });

  it("executes a multi-output vertex once and keys each output separately", async () => {
    const { ops, mem, solver } = setup();
    const split = ops.vtx({ name: "split", exec: async () => ["left", "right"] });
    const root = ops.vtx({ name: "root", inputs: [edge(split, 1), edge(split, 0)] });

    const { result } = await solver.solve(edge(root), { progress: noopProgress });

    expect(result).toBe("root(right,left)");
    expect(ops.calls(split).exec).toBe(1);
    expect(mem.keysOf(split)).toHaveLength(2);
  });

  it("defaults parallelism to the available CPUs", async () => {
    const ops = createFakeOps();
    const solver = createSolver({ resolveOp: ops.resolveOp, cache: createMemoryCache().cache });
    expect((await solver.solve(edge(ops.vtx({ name: "v" })), { progress: noopProgress })).result).toBe("v()");
  });
});

describe("parallelism", () => {
  it("runs independent branches at the same time", async () => {
    const { ops, solver } = setup(4);
    const both = deferred();
    let running = 0;
    // Each branch waits until the other is running too: sequential execution would never get there.
    const branch = (name: string) =>
      ops.vtx({
        name,
        exec: async () => {
          running++;
          if (running === 2) both.resolve();
          await both.promise;
          return [name];
        },
      });
    const root = ops.vtx({ name: "root", inputs: [branch("left"), branch("right")] });

    const { result } = await solver.solve(edge(root), { progress: noopProgress });

    expect(result).toBe("root(left,right)");
    expect(ops.maxRunning).toBe(2);
  });

  it("never runs more execs than the parallelism bound, across jobs", async () => {
    const { ops, solver } = setup(2);
    const leaves = (job: string) =>
      Array.from({ length: 5 }, (_, i) =>
        ops.vtx({
          name: `${job}${i}`,
          exec: async () => {
            for (let t = 0; t < 3; t++) await tick();
            return [`${job}${i}`];
          },
        }),
      );
    const jobs = ["x", "y"].map((job) =>
      solver.solve(edge(ops.vtx({ name: `root-${job}`, inputs: leaves(job) })), { progress: noopProgress }),
    );

    await Promise.all(jobs);

    expect(ops.maxRunning).toBe(2);
  });

  it("rejects a parallelism that is not a positive integer", () => {
    const { ops, mem } = setup();
    expect(() => createSolver({ resolveOp: ops.resolveOp, cache: mem.cache, parallelism: 0 })).toThrow(
      /parallelism/,
    );
  });
});

describe("cancellation", () => {
  it("keeps a shared vertex running for the other job when one job is aborted", async () => {
    const { ops, solver } = setup();
    const gate = deferred();
    const shared = ops.vtx({ name: "shared", exec: afterGate(gate.promise, "s") });
    const rootA = ops.vtx({ name: "a", inputs: [shared] });
    const rootB = ops.vtx({ name: "b", inputs: [shared] });
    const abortA = new AbortController();
    const progressA = createRecorder();

    const jobA = solver.solve(edge(rootA), { progress: progressA, signal: abortA.signal });
    const jobB = solver.solve(edge(rootB), { progress: noopProgress });
    await until(() => ops.calls(shared).exec === 1);
    abortA.abort(new Error("user pressed ^C"));

    await expect(jobA).rejects.toSatisfy((err) => isKilnError(err, "CANCELED"));
    expect(ops.calls(shared).signals[0]?.aborted).toBe(false);
    expect(progressA.lines()).toEqual(["started shared", "completed shared !"]);
    gate.resolve();
    expect((await jobB).result).toBe("b(s)");
    expect(ops.calls(shared).exec).toBe(1);
    expect(ops.calls(rootA).exec).toBe(0);
  });

  it("aborts the op when the only job interested in it is aborted, and waits for it to settle", async () => {
    const { ops, solver } = setup();
    let settled = false;
    const stuck = ops.vtx({
      name: "stuck",
      exec: async (_, o) => {
        await aborted(o.signal);
        await tick();
        settled = true;
        throw new Error("interrupted");
      },
    });
    const controller = new AbortController();
    const job = solver.solve(edge(ops.vtx({ name: "root", inputs: [stuck] })), {
      progress: noopProgress,
      signal: controller.signal,
    });
    await until(() => ops.calls(stuck).exec === 1);
    controller.abort();

    const err = await job.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isKilnError(err, "CANCELED")).toBe(true);
    expect(ops.calls(stuck).signals[0]?.aborted).toBe(true);
    expect(settled).toBe(true);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const { ops, solver } = setup();
    const v = ops.vtx({ name: "v" });
    await expect(
      solver.solve(edge(v), { progress: noopProgress, signal: AbortSignal.abort() }),
    ).rejects.toSatisfy((err) => isKilnError(err, "CANCELED"));
    expect(ops.calls(v).cacheMap).toBe(0);
  });

  it("lets a canceled job leave a queued exec without waiting for a parallelism slot", async () => {
    const { ops, solver } = setup(1);
    const gate = deferred();
    const long = ops.vtx({ name: "long", exec: afterGate(gate.promise, "long") });
    const queued = ops.vtx({ name: "queued" });
    const jobLong = solver.solve(edge(long), { progress: noopProgress });
    await until(() => ops.calls(long).exec === 1);
    const controller = new AbortController();
    const jobQueued = solver.solve(edge(queued), { progress: noopProgress, signal: controller.signal });
    for (let i = 0; i < 5; i++) await tick();
    controller.abort();

    await expect(jobQueued).rejects.toSatisfy((err) => isKilnError(err, "CANCELED"));
    gate.resolve();
    await jobLong;
    await tick();
    expect(ops.calls(queued).exec).toBe(0);
  });
});
