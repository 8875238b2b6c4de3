import { type Definition, noopProgress, type OpMetadata, type SolverVertex, sha256 } from "@kiln/core";
import { encodeOp, type pb } from "@kiln/llb";
import { describe, expect, it } from "vitest";
import { createMemoryCache } from "./fake-ops.test-helpers.js";
import { createSolver } from "./solver.js";
import { opName, vertexGraph } from "./vertex-graph.js";

/** Builds a Definition from ops (inputs before dependents) plus the terminal op, like `marshal` does. */
function definition(ops: pb.Op[], root: { op: number; index?: number }, metadata: OpMetadata[] = []) {
  const bytes = ops.map(encodeOp);
  const digests = bytes.map((b) => sha256(b));
  const terminal = encodeOp({ inputs: [{ digest: digests[root.op], index: root.index ?? 0 }] });
  const def: Definition = {
    def: [...bytes, terminal],
    metadata: Object.fromEntries(metadata.flatMap((m, i) => (m ? [[digests[i] as string, m]] : []))),
  };
  return { def, digests };
}

const image: pb.Op = {
  op: { case: "source", value: { identifier: "docker-image://docker.io/library/alpine:3.20" } },
};
const input = (digest: string | undefined, index = 0): pb.Input => ({ digest, index });

describe("vertexGraph", () => {
  it("shares one vertex object per digest and keeps the decoded op as sys", () => {
    const base = encodeOp(image);
    const baseDigest = sha256(base);
    const run = (args: string[]): pb.Op => ({
      inputs: [input(baseDigest)],
      op: { case: "exec", value: { meta: { args, cwd: "/" }, mounts: [{ input: 0, dest: "/", output: 0 }] } },
    });
    const merged: pb.Op = {
      inputs: [],
      op: { case: "merge", value: { inputs: [{ input: 0 }, { input: 1 }] } },
    };
    const a = run(["sh", "-c", "echo a"]);
    const b = run(["sh", "-c", "echo b"]);
    const digestA = sha256(encodeOp(a));
    const digestB = sha256(encodeOp(b));
    merged.inputs = [input(digestA), input(digestB)];
    const { def } = definition([image, a, b, merged], { op: 3 });

    const root = vertexGraph(def);

    expect(root.index).toBe(0);
    expect(root.vertex.name).toBe("merge");
    const [left, right] = root.vertex.inputs.map((e) => e.vertex) as [SolverVertex, SolverVertex];
    expect([left.name, right.name]).toEqual(["sh -c echo a", "sh -c echo b"]);
    expect(left.inputs[0]?.vertex).toBe(right.inputs[0]?.vertex);
    expect(left.inputs[0]?.vertex.name).toBe("docker-image://docker.io/library/alpine:3.20");
    expect(left.inputs[0]?.vertex.digest).toBe(baseDigest);
    expect((left.sys as pb.Op).op?.case).toBe("exec");
  });

  it("names vertices from llb.customname, else from file actions, and carries metadata", () => {
    const baseDigest = sha256(encodeOp(image));
    const file: pb.Op = {
      inputs: [input(baseDigest)],
      op: {
        case: "file",
        value: {
          actions: [
            { input: 0, secondaryInput: -1, output: -1, action: { case: "mkdir", value: { path: "/app" } } },
            { input: 1, secondaryInput: -1, output: 0, action: { case: "rm", value: { path: "/tmp/x" } } },
          ],
        },
      },
    };
    const { def } = definition([image, file], { op: 1 }, [
      { description: { "llb.customname": "[base] FROM alpine" } },
      { ignoreCache: true },
    ]);

    const root = vertexGraph(def);

    expect(root.vertex.name).toBe("mkdir /app, rm /tmp/x");
    expect(root.vertex.metadata.ignoreCache).toBe(true);
    expect(root.vertex.inputs[0]?.vertex.name).toBe("[base] FROM alpine");
    expect(vertexGraph(def, { ignoreCache: true }).vertex.inputs[0]?.vertex.metadata.ignoreCache).toBe(true);
  });

  it("derives names for other op kinds", () => {
    expect(opName({ op: { case: "diff", value: {} } })).toBe("diff");
    expect(opName({})).toBe("unknown");
    expect(
      opName({
        op: {
          case: "file",
          value: { actions: [{ action: { case: "copy", value: { src: "/src", dest: "/dst" } } }] },
        },
      }),
    ).toBe("copy /src /dst");
  });

  it("rejects a malformed definition", () => {
    for (const def of [[], [encodeOp(image)]]) {
      expect(() => vertexGraph({ def, metadata: {} })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });

  it("solves a graph built from a Definition, sharing equal ops", async () => {
    const baseDigest = sha256(encodeOp(image));
    const touch = (path: string): pb.Op => ({
      inputs: [input(baseDigest)],
      op: {
        case: "file",
        value: { actions: [{ input: 0, output: 0, action: { case: "mkfile", value: { path } } }] },
      },
    });
    const [x, y] = [touch("/x"), touch("/y")];
    const join: pb.Op = {
      inputs: [input(sha256(encodeOp(x))), input(sha256(encodeOp(y)))],
      op: { case: "merge", value: { inputs: [{ input: 0 }, { input: 1 }] } },
    };
    const { def } = definition([image, x, y, join], { op: 3 });
    const execs = new Map<string, number>();
    const solver = createSolver<string>({
      resolveOp: (vertex) => ({
        cacheMap: async () => ({ digest: vertex.digest, deps: vertex.inputs.map(() => ({})) }),
        exec: async (inputs) => {
          execs.set(vertex.name, (execs.get(vertex.name) ?? 0) + 1);
          return [`${vertex.name}[${inputs.join("+")}]`];
        },
      }),
      cache: createMemoryCache().cache,
      parallelism: 2,
    });

    const { result } = await solver.solve(vertexGraph(def), { progress: noopProgress });

    const base = "docker-image://docker.io/library/alpine:3.20[]";
    expect(result).toBe(`merge[mkfile /x[${base}]+mkfile /y[${base}]]`);
    expect(execs.get("docker-image://docker.io/library/alpine:3.20")).toBe(1);
  });
});
