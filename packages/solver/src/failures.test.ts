import { isKilnError, KilnError, noopProgress } from "@kiln/core";
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

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );

describe("failures", () => {
  it("cancels the job's siblings, waits for them, and reports the failing vertex", async () => {
    const { ops, mem, solver } = setup();
    let siblingSettled = false;
    const sibling = ops.vtx({
      name: "sibling",
      exec: async (_, o) => {
        await aborted(o.signal);
        await tick();
        siblingSettled = true;
        throw new Error("stopped");
      },
    });
    const boom = new Error("exit code 2");
    const failing = ops.vtx({
      name: "failing",
      exec: async () => {
        await until(() => ops.calls(sibling).exec === 1);
        throw boom;
      },
    });
    const root = ops.vtx({ name: "root", inputs: [sibling, failing] });
    const progress = createRecorder();

    const err = await rejection(solver.solve(edge(root), { progress }));

    expect(isKilnError(err, "INTERNAL")).toBe(true);
    expect((err as KilnError).vertex).toBe(failing.digest);
    expect((err as KilnError).cause).toBe(boom);
    expect((err as KilnError).message).toContain("exit code 2");
    expect(ops.calls(sibling).signals[0]?.aborted).toBe(true);
    expect(siblingSettled).toBe(true);
    expect(ops.calls(root).exec).toBe(0);
    expect(mem.saves).toEqual([]);
    expect(progress.lines().sort()).toEqual(
      ["started sibling", "started failing", "completed failing !", "completed sibling !"].sort(),
    );
    const completed = progress.events.filter((e) => e.type === "vertex.completed");
    expect(completed.map((e) => [e.name, e.error])).toEqual([
      ["failing", "failing: exit code 2"],
      ["sibling", "canceled"],
    ]);
  });

  it("keeps a KilnError's code, message, hint and details and adds the vertex", async () => {
    const { ops, solver } = setup();
    const original = new KilnError("FAILED_PRECONDITION", "process did not complete", {
      hint: "check the command",
      details: { exitCode: 1 },
      location: { file: "Dockerfile", line: 3, instruction: "RUN" },
    });
    const failing = ops.vtx({
      name: "failing",
      exec: async () => {
        throw original;
      },
    });

    const err = (await rejection(solver.solve(edge(failing), { progress: noopProgress }))) as KilnError;

    expect(err).toBeInstanceOf(KilnError);
    expect(err.code).toBe("FAILED_PRECONDITION");
    expect(err.message).toBe("process did not complete");
    expect(err.hint).toBe("check the command");
    expect(err.details).toEqual({ exitCode: 1 });
    expect(err.location).toEqual(original.location);
    expect(err.vertex).toBe(failing.digest);
  });

  it("does not cancel work a failing job shares with another live job", async () => {
    const { ops, solver } = setup();
    const gate = deferred();
    const shared = ops.vtx({ name: "shared", exec: afterGate(gate.promise, "s") });
    const failing = ops.vtx({
      name: "failing",
      exec: async () => {
        throw new Error("nope");
      },
    });
    const jobB = solver.solve(edge(ops.vtx({ name: "b", inputs: [shared] })), { progress: noopProgress });
    await until(() => ops.calls(shared).exec === 1);
    const jobA = solver.solve(edge(ops.vtx({ name: "a", inputs: [shared, failing] })), {
      progress: noopProgress,
    });

    const err = (await rejection(jobA)) as KilnError;
    expect(err.vertex).toBe(failing.digest);
    expect(ops.calls(shared).signals[0]?.aborted).toBe(false);
    gate.resolve();
    expect((await jobB).result).toBe("b(s)");
  });

  it("reports a cacheMap failure and an op returning too few outputs", async () => {
    const { ops, solver } = setup();
    const noOutput = ops.vtx({ name: "empty", exec: async () => [] });
    const err = (await rejection(solver.solve(edge(noOutput), { progress: noopProgress }))) as KilnError;
    expect(err.code).toBe("INTERNAL");
    expect(err.vertex).toBe(noOutput.digest);

    const broken = createSolver<string>({
      resolveOp: () => ({
        cacheMap: async () => {
          throw new KilnError("NOT_FOUND", "image not found");
        },
        exec: async () => ["never"],
      }),
      cache: createMemoryCache().cache,
    });
    const err2 = (await rejection(
      broken.solve(edge(ops.vtx({ name: "img" })), { progress: noopProgress }),
    )) as KilnError;
    expect(err2.code).toBe("NOT_FOUND");
    expect(err2.vertex).toBeDefined();
  });

  it("does not memoize a failure past the jobs that saw it", async () => {
    const { ops, solver } = setup();
    let attempts = 0;
    const flaky = ops.vtx({
      name: "flaky",
      exec: async () => {
        attempts++;
        if (attempts === 1) throw new Error("transient");
        return ["ok"];
      },
    });
    await expect(solver.solve(edge(flaky), { progress: noopProgress })).rejects.toThrow(/transient/);
    expect((await solver.solve(edge(flaky), { progress: noopProgress })).result).toBe("ok");
  });
});
