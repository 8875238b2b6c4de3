import { cacheKeyOf, cacheRecordDigest, contentCacheKey, noopProgress, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createFakeOps, createMemoryCache, createRecorder, edge } from "./fake-ops.test-helpers.js";
import { cacheKey, canonicalJson } from "./keys.js";
import { createSolver } from "./solver.js";

function setup() {
  const ops = createFakeOps();
  const mem = createMemoryCache();
  const solver = createSolver({ resolveOp: ops.resolveOp, cache: mem.cache, parallelism: 4 });
  return { ops, mem, solver };
}

describe("cache keys", () => {
  it("hashes canonical JSON, independent of property order and undefined fields", () => {
    expect(canonicalJson({ b: 1, a: [{ y: undefined, x: "s" }] })).toBe('{"a":[{"x":"s"}],"b":1}');
  });

  it("builds keys on BuildKit's record digest: sha256(<digest>@<output>) plus linked keys", () => {
    const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000" as const;
    expect(cacheRecordDigest(digest, 0)).toBe(sha256(`${digest}@0`));
    expect(cacheKey(digest, 0, [])).toBe(cacheKeyOf(cacheRecordDigest(digest, 0), []));
    expect(cacheKey(digest, 0, [{ key: digest }])).not.toBe(
      cacheKey(digest, 0, [{ key: contentCacheKey(digest) }]),
    );
    expect(cacheKey(digest, 0, [{ key: digest, selector: "" }])).toBe(cacheKey(digest, 0, [{ key: digest }]));
    expect(cacheKey(digest, 0, [{ key: digest, selector: "s" }])).not.toBe(
      cacheKey(digest, 0, [{ key: digest }]),
    );
    expect(cacheKey(digest, 0, [])).not.toBe(cacheKey(digest, 1, []));
  });

  it("gives the same root key to equal graphs in separate solvers, and none to a volatile root", async () => {
    const first = setup();
    const second = setup();
    const build = (ops: ReturnType<typeof createFakeOps>) =>
      ops.vtx({ name: "top", inputs: [ops.vtx({ name: "base" })], selectors: ["/src"] });
    const a = await first.solver.solve(edge(build(first.ops)), { progress: noopProgress });
    const b = await second.solver.solve(edge(build(second.ops)), { progress: noopProgress });
    expect(a.key).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.key).toBe(a.key);

    const volatile = await first.solver.solve(edge(first.ops.vtx({ name: "local", volatile: true })), {
      progress: noopProgress,
    });
    expect(volatile.key).toBeUndefined();
  });

  it("changes the key when a selector or an ancestor's cache map changes", async () => {
    const keys = await Promise.all(
      [
        { selector: "/a", seed: "base" },
        { selector: "/b", seed: "base" },
        { selector: "/a", seed: "base-v2" },
      ].map(async ({ selector, seed }) => {
        const { ops, solver } = setup();
        const base = ops.vtx({ name: "base", cacheSeed: seed });
        const top = ops.vtx({ name: "top", inputs: [base], selectors: [selector] });
        return (await solver.solve(edge(top), { progress: noopProgress })).key;
      }),
    );
    expect(new Set(keys).size).toBe(3);
  });
});

describe("cache hits", () => {
  it("loads the root and never executes or loads its ancestors", async () => {
    const { ops, mem, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const mid = ops.vtx({ name: "mid", inputs: [base] });
    const top = ops.vtx({ name: "top", inputs: [mid] });
    const first = await solver.solve(edge(top), { progress: noopProgress });
    expect(mem.saves.map((s) => s.description)).toEqual(["base", "mid", "top"]);
    mem.loads.length = 0;

    const progress = createRecorder();
    const second = await solver.solve(edge(top), { progress });

    expect({ result: second.result, key: second.key }).toEqual({ result: first.result, key: first.key });
    expect(mem.loads).toEqual([first.key]);
    // The key graph still links every ancestor; only the loaded root has a result.
    const top2 = second.cacheGraph.byKey.get(second.key as never);
    expect(top2?.result).toBe(second.result);
    const midKey = top2?.keys[0]?.deps[0]?.key;
    expect(midKey && second.cacheGraph.byKey.get(midKey)?.name).toBe("mid");
    expect(midKey && second.cacheGraph.byKey.get(midKey)?.result).toBeUndefined();
    for (const v of [base, mid, top]) {
      expect(ops.calls(v).exec).toBe(1);
      expect(ops.calls(v).cacheMap).toBe(2);
    }
    expect(progress.lines()).toEqual(["cached base", "cached mid", "cached top"]);
  });

  it("links a content-hashed input as BuildKit does: a root record <content>@-1, no selector", async () => {
    const { ops, solver } = setup();
    const local = ops.vtx({ name: "local", volatile: true, exec: async () => ["hello"] });
    const base = ops.vtx({ name: "base" });
    const copy = ops.vtx({ name: "copy", inputs: [base, local], contentHashed: [false, true] });
    const { key, cacheGraph } = await solver.solve(edge(copy), { progress: noopProgress });
    const entry = cacheGraph.byKey.get(key as never);
    expect(entry?.name).toBe("copy");
    expect(cacheGraph.root).toEqual([key]);
    const [baseLink, contentLink] = entry?.keys[0]?.deps ?? [];
    expect(baseLink && cacheGraph.byKey.get(baseLink.key)?.name).toBe("base");
    expect(contentLink?.selector).toBeUndefined();
    const content = contentLink && cacheGraph.byKey.get(contentLink.key);
    expect(content?.vertex).toBeUndefined();
    expect(content?.keys).toEqual([{ key: contentLink?.key, deps: [] }]);
    expect(content?.exportResult).toBe(false);
  });

  it("re-executes only what changed downstream of a volatile source, by content key", async () => {
    const { ops, mem, solver } = setup();
    let content = "hello";
    const local = ops.vtx({ name: "local", volatile: true, exec: async () => [content] });
    const base = ops.vtx({ name: "base" });
    const copy = ops.vtx({ name: "copy", inputs: [base, local], contentHashed: [false, true] });
    const run = ops.vtx({ name: "run", inputs: [copy] });
    const solve = async () => {
      const progress = createRecorder();
      const { result } = await solver.solve(edge(run), { progress });
      return { result, lines: progress.lines() };
    };

    expect((await solve()).result).toBe("run(copy(base(),hello))");
    // The copy has no definition key (volatile input): it is saved under its content key only.
    expect(mem.keysOf(copy)).toHaveLength(1);

    // Same content: the local source is transferred again, everything else is a hit.
    const same = await solve();
    expect(same.result).toBe("run(copy(base(),hello))");
    expect(same.lines).toEqual([
      "started local",
      "completed local",
      "cached base",
      "cached copy",
      "cached run",
    ]);
    expect([local, base, copy, run].map((v) => ops.calls(v).exec)).toEqual([2, 1, 1, 1]);

    // Different content: copy and run re-execute, base is loaded from cache.
    content = "changed";
    const changed = await solve();
    expect(changed.result).toBe("run(copy(base(),changed))");
    expect([local, base, copy, run].map((v) => ops.calls(v).exec)).toEqual([3, 1, 2, 2]);
    expect(changed.lines).toEqual([
      "started local",
      "completed local",
      "cached base",
      "started copy",
      "completed copy",
      "started run",
      "completed run",
    ]);
  });

  it("hits by content key after a definition change upstream, then by definition key", async () => {
    const { ops, mem, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const copyFrom = (seed: string) =>
      ops.vtx({
        name: "copy",
        inputs: [base, ops.vtx({ name: "src", cacheSeed: seed })],
        contentHashed: [false, true],
      });
    const before = copyFrom("v1");
    await solver.solve(edge(before), { progress: noopProgress });
    expect(mem.keysOf(before)).toHaveLength(2);
    const copy = copyFrom("v2");

    // New definition, same content: the fast key misses, the content key hits.
    const progress = createRecorder();
    await solver.solve(edge(copy), { progress });
    expect(ops.calls(before).exec + ops.calls(copy).exec).toBe(1);
    // base is loaded while the content key is computed (a cache load, not a run).
    expect(progress.lines()).toEqual(["cached base", "started src", "completed src", "cached copy"]);
    expect(mem.keysOf(copy)).toHaveLength(1);

    // The loaded result was filed under the new fast key: no content hashing or source run any more.
    const hashed = ops.calls(copy).computeDigest;
    const srcRuns = ops.calls(copy.inputs[1]?.vertex ?? base).exec;
    await solver.solve(edge(copy), { progress: noopProgress });
    expect(ops.calls(copy).computeDigest).toBe(hashed);
    expect(ops.calls(copy.inputs[1]?.vertex ?? base).exec).toBe(srcRuns);
  });

  it("treats a volatile input without computeDigest as making its dependents volatile", async () => {
    const { ops, mem, solver } = setup();
    const local = ops.vtx({ name: "local", volatile: true });
    const use = ops.vtx({ name: "use", inputs: [local] });
    const first = await solver.solve(edge(use), { progress: noopProgress });
    await solver.solve(edge(use), { progress: noopProgress });
    expect(first.key).toBeUndefined();
    expect(ops.calls(use).exec).toBe(2);
    expect(mem.saves).toEqual([]);
  });

  it("noCache skips every load but still saves", async () => {
    const { ops, mem, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const top = ops.vtx({ name: "top", inputs: [base] });
    await solver.solve(edge(top), { progress: noopProgress });
    mem.loads.length = 0;
    mem.entries.clear();

    const progress = createRecorder();
    await solver.solve(edge(top), { progress, noCache: true });

    expect(mem.loads).toEqual([]);
    expect([base, top].map((v) => ops.calls(v).exec)).toEqual([2, 2]);
    expect(mem.entries.size).toBe(2);
    expect(progress.lines()).toEqual(["started base", "completed base", "started top", "completed top"]);
  });

  it("ignoreCache re-executes that vertex while its inputs still come from the cache", async () => {
    const { ops, mem, solver } = setup();
    const base = ops.vtx({ name: "base" });
    const top = ops.vtx({ name: "top", inputs: [base], ignoreCache: true });
    await solver.solve(edge(top), { progress: noopProgress });
    const progress = createRecorder();

    const second = await solver.solve(edge(top), { progress });

    expect(second.result).toBe("top(base())");
    expect([base, top].map((v) => ops.calls(v).exec)).toEqual([1, 2]);
    expect(mem.loads.filter((k) => mem.keysOf(top).includes(k))).toEqual([]);
    expect(progress.lines()).toEqual(["cached base", "started top", "completed top"]);
  });

  it("treats a failing cache load as a miss and warns", async () => {
    const ops = createFakeOps();
    const warnings = createRecorder();
    const solver = createSolver({
      resolveOp: ops.resolveOp,
      cache: {
        load: async () => {
          throw new Error("disk on fire");
        },
        save: async () => {},
      },
      parallelism: 1,
    });
    const { result } = await solver.solve(edge(ops.vtx({ name: "v" })), { progress: warnings });
    expect(result).toBe("v()");
    expect(warnings.events.filter((e) => e.type === "warning").map((e) => e.message)).toEqual([
      "cache load failed, running the step instead: disk on fire",
    ]);
  });
});
