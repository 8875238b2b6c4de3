import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Definition, sha256 } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertAcyclic,
  decodeDefinition,
  encodeDefinition,
  loadDefinition,
  readDefinitionFile,
  writeDefinitionFile,
} from "./definition.js";
import { FileAction } from "./file-action.js";
import { marshal } from "./marshal.js";
import { encodeOp } from "./pb-encode.js";
import { image, local } from "./source.js";

const opts = { platform: { os: "linux", architecture: "amd64" }, localUniqueId: "u" };
const sample = (): Definition => {
  const ctx = local("context");
  const st = image("busybox")
    .file(FileAction.copy(ctx, "/", "/app/"), { customName: "COPY . /app/" })
    .run({ args: ["make"], cwd: "/app", mounts: [{ dest: "/out" }] });
  return marshal(st.getMount("/out"), opts);
};

describe("definition files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-llb-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("encodes and decodes a marshaled definition byte for byte", () => {
    const def = sample();
    const bytes = encodeDefinition(def);
    const back = decodeDefinition(bytes);
    expect(back.def.map((b) => Buffer.from(b).toString("hex"))).toEqual(
      def.def.map((b) => Buffer.from(b).toString("hex")),
    );
    expect(back.metadata).toEqual(def.metadata);
    expect(back.source).toEqual({ infos: [], locations: {} });
    expect(Buffer.from(bytes.subarray(-2)).toString("hex")).toBe("1a00"); // the empty Source message
    expect(encodeDefinition(back)).toEqual(bytes);
  });

  it("writes and reads files", async () => {
    const def = sample();
    const path = join(dir, "def.pb");
    await writeDefinitionFile(path, def);
    expect(new Uint8Array(await readFile(path))).toEqual(encodeDefinition(def));
    const back = await readDefinitionFile(path);
    expect(encodeDefinition(back)).toEqual(encodeDefinition(def));
  });

  it("reports missing files, aborts and garbage", async () => {
    await expect(readDefinitionFile(join(dir, "missing.pb"))).rejects.toMatchObject({ code: "NOT_FOUND" });
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(readDefinitionFile(join(dir, "def.pb"), { signal: ac.signal })).rejects.toMatchObject({
      code: "CANCELED",
    });
    await expect(
      writeDefinitionFile(join(dir, "x.pb"), sample(), { signal: ac.signal }),
    ).rejects.toMatchObject({
      code: "CANCELED",
    });
    const garbage = join(dir, "garbage.pb");
    await writeFile(garbage, Buffer.from([0x0a, 0x7f, 0x01]));
    await expect(readDefinitionFile(garbage)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("loadDefinition", () => {
  it("decodes every op and finds the root", () => {
    const def = sample();
    const loaded = loadDefinition(def);
    const digests = def.def.map((b) => sha256(b));
    expect([...loaded.ops.keys()]).toEqual(digests.slice(0, -1));
    const exec = digests.at(-2) as string;
    expect(loaded.root).toEqual({ digest: exec, index: 1 }); // /out is the exec's second output
    const file = loaded.ops.get(digests[2] as never);
    expect(file?.op.op?.case).toBe("file");
    expect(file?.metadata.description).toEqual({ "llb.customname": "COPY . /app/" });
    expect(loaded.ops.get(exec as never)?.digest).toBe(exec);
  });

  const source = encodeOp({ op: { case: "source", value: { identifier: "local://x" } } });
  const terminal = (digest: string, index = 0) => encodeOp({ inputs: [{ digest, index }] });
  const cases: [string, Uint8Array[], RegExp][] = [
    ["an empty definition", [], /at least 2 ops/],
    ["a lone op", [source], /at least 2 ops/],
    ["a last op that is not terminal", [source, source], /terminal op/],
    [
      "a terminal op with two inputs",
      [source, encodeOp({ inputs: [{ digest: sha256(source) }, { digest: sha256(source) }] })],
      /exactly one input/,
    ],
    [
      "a terminal op in the middle",
      [terminal(sha256(source)), source, terminal(sha256(source))],
      /no operation/,
    ],
    ["an input that is not in the definition", [source, terminal(sha256("other"))], /missing op/],
    ["an input that is not a digest", [source, terminal("nope")], /missing op/],
    ["a negative output index", [source, terminal(sha256(source), -1)], /negative output/],
    ["bytes that are not an op", [new Uint8Array([0x0a, 0x05]), source], /not a valid pb.Op/],
  ];
  for (const [what, ops, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => loadDefinition({ def: ops, metadata: {} })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(message) }),
      );
    });
  }

  it("detects cycles", () => {
    const op = (input: string) => ({
      op: { inputs: [{ digest: input }] },
      digest: input as never,
      metadata: {},
    });
    const a = `sha256:${"a".repeat(64)}` as const;
    const b = `sha256:${"b".repeat(64)}` as const;
    const graph = new Map([
      [a, { ...op(b), digest: a }],
      [b, { ...op(a), digest: b }],
    ]);
    expect(() => assertAcyclic(graph)).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/cycle/) }),
    );
    expect(() => assertAcyclic(new Map([[a, { op: {}, digest: a, metadata: {} }]]))).not.toThrow();
  });
});
