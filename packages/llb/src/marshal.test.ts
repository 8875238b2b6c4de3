import { type Definition, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { FileAction } from "./file-action.js";
import { marshal } from "./marshal.js";
import { diff, merge } from "./merge-diff.js";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { image, local, ociLayout } from "./source.js";
import { type State, scratch } from "./state.js";

const amd64 = { os: "linux", architecture: "amd64" };
const opts = { platform: amd64, localUniqueId: "uid" };
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const ascii = (s: string): string => Buffer.from(s).toString("hex");
const ops = (def: Definition): pb.Op[] => def.def.map((b) => decodeOp(b));
const digestOf = (def: Definition, i: number): string => sha256(def.def.at(i) as Uint8Array);

describe("marshal", () => {
  it("marshals a local source to golden bytes, with a terminal op and caps", () => {
    const def = marshal(local("context"), opts);
    expect(def.def).toHaveLength(2);
    expect(def.source).toEqual({ infos: [], locations: {} });
    const entry = `0a0c${ascii("local.unique")}1203${ascii("uid")}`; // 19 bytes
    const sourceOp = `0a0f${ascii("local://context")}1213${entry}`; // 17 + 21 = 38 bytes
    expect(hex(def.def[0] as Uint8Array)).toBe(`1a26${sourceOp}5a00`); // no platform, empty constraints
    const source = digestOf(def, 0);
    expect(hex(def.def[1] as Uint8Array)).toBe(`0a490a47${ascii(source)}`);
    expect(def.metadata).toEqual({
      [source]: { caps: { "source.local": true, "source.local.unique": true } },
      [digestOf(def, 1)]: { caps: { constraints: true, platform: true } },
    });
  });

  it("is deterministic and depends on every op field", () => {
    const build = () => {
      const ctx = local("context", { includePatterns: ["src", "<x>"], excludePatterns: ["*.md"] });
      return image("alpine:3.20")
        .file(copyAction(ctx))
        .run({ args: "echo hi", mounts: [{ dest: "/ctx", source: ctx, readonly: true }] })
        .root();
    };
    const a = marshal(build(), opts);
    const b = marshal(build(), opts);
    expect(a.def.map(hex)).toEqual(b.def.map(hex));
    expect(a.metadata).toEqual(b.metadata);
    const c = marshal(build(), { ...opts, localUniqueId: "other" });
    expect(c.def.map(hex)).not.toEqual(a.def.map(hex));
    const d = marshal(build(), { ...opts, platform: { os: "linux", architecture: "arm64" } });
    expect(d.def.map(hex)).not.toEqual(a.def.map(hex));
  });

  it("orders ops inputs-first and writes each op once", () => {
    const base = image("busybox");
    const m = merge([base, base.file(mkdirAction()), base]);
    const def = marshal(m, opts);
    const decoded = ops(def);
    const digests = def.def.map((b) => sha256(b));
    expect(new Set(digests).size).toBe(digests.length);
    decoded.forEach((op, i) => {
      for (const input of op.inputs ?? []) expect(digests.indexOf(input.digest as never)).toBeLessThan(i);
    });
    expect(decoded.map((o) => o.op?.case)).toEqual(["source", "file", "merge", undefined]);
    const mergeOp = decoded[2] as pb.Op;
    // every merge input has its own edge, duplicates included
    expect(mergeOp.inputs?.map((i) => i.digest)).toEqual([digests[0], digests[1], digests[0]]);
    expect(mergeOp.op).toEqual({ case: "merge", value: { inputs: [{}, { input: 1 }, { input: 2 }] } });
    expect(mergeOp.platform).toBeUndefined();
    expect(def.metadata[digests[2] as string]?.caps).toEqual({ mergeop: true });
  });

  it("keeps the platform only on platform-specific sources", () => {
    const arm = { os: "linux", architecture: "arm", variant: "v7" };
    const def = marshal(
      merge([image("busybox", { platform: arm }), local("ctx"), ociLayout("store/app@sha256:x")]),
      opts,
    );
    const [img, loc, oci] = ops(def);
    expect(img?.platform).toEqual({ architecture: "arm", os: "linux", variant: "v7" });
    expect(img?.op).toEqual({
      case: "source",
      value: { identifier: "docker-image://docker.io/library/busybox:latest" },
    });
    expect(loc?.platform).toBeUndefined();
    expect(oci?.platform).toEqual({ architecture: "amd64", os: "linux" });
    // the state of an image pulled for a platform carries it to later ops
    expect(image("busybox", { platform: arm }).getPlatform()).toEqual(arm);
  });

  it("returns an empty definition for scratch", () => {
    expect(marshal(scratch())).toEqual({ def: [], metadata: {} });
  });

  it("adds metadata without changing digests and records meta caps on the terminal op", () => {
    const plain = marshal(image("busybox"), opts);
    const named = marshal(image("busybox").withCustomName("base image").ignoreCache(), opts);
    expect(named.def.map(hex)).toEqual(plain.def.map(hex));
    const src = digestOf(named, 0);
    expect(named.metadata[src]).toEqual({
      ignoreCache: true,
      description: { "llb.customname": "base image" },
      caps: { "source.image": true },
    });
    expect(named.metadata[digestOf(named, 1)]?.caps).toEqual({
      constraints: true,
      platform: true,
      "meta.ignorecache": true,
      "meta.description": true,
    });
    const withOpts = marshal(
      image("busybox", { exportCache: false, progressGroup: { id: "g", name: "G" } }),
      opts,
    );
    expect(withOpts.metadata[digestOf(withOpts, 0)]).toMatchObject({
      exportCache: false,
      progressGroup: { id: "g", name: "G", weak: false },
    });
    expect(withOpts.metadata[digestOf(withOpts, 1)]?.caps?.["meta.exportcache"]).toBe(true);
  });

  it("writes diff inputs, with -1 for a scratch upper", () => {
    const a = image("busybox");
    const b = a.file(mkdirAction());
    const [, , d] = ops(marshal(diff(a, b), opts));
    expect(d?.op).toEqual({ case: "diff", value: { lower: {}, upper: { input: 1 } } });
    const [, toScratch] = ops(marshal(diff(a, scratch()), opts));
    expect(toScratch?.op).toEqual({ case: "diff", value: { lower: {}, upper: { input: -1 } } });
    expect(toScratch?.inputs).toHaveLength(1);
    expect(diff(scratch(), b)).toBe(b);
    expect(merge([scratch(), b])).toBe(b);
    expect(merge([scratch()]).output).toBeUndefined();
  });
});

function copyAction(from: State) {
  return FileAction.copy(from, "src", "/app/", { createDestPath: true });
}

function mkdirAction() {
  return FileAction.mkdir("/data", 0o755);
}

describe("README example", () => {
  it("marshals", () => {
    const ctx = local("context", { excludePatterns: ["node_modules"] });
    const app = image("node:20-alpine")
      .dir("/app")
      .file(FileAction.copy(ctx, "package.json", "./", { owner: "node:node" }), {
        customName: "COPY package.json",
      })
      .run({ args: "npm ci", mounts: [{ type: "cache", dest: "/root/.npm" }] })
      .root();
    const def = marshal(app, opts);
    const [node, context, copy, run] = ops(def);
    expect(node?.op).toEqual({
      case: "source",
      value: { identifier: "docker-image://docker.io/library/node:20-alpine" },
    });
    expect(context?.op?.case).toBe("source");
    const fileOp = copy?.op as { case: "file"; value: pb.FileOp };
    const action = fileOp.value.actions?.[0];
    expect(action?.action).toMatchObject({ case: "copy", value: { src: "/package.json", dest: "/app/" } });
    const execOp = run?.op as { case: "exec"; value: pb.ExecOp };
    expect(execOp.value.meta).toMatchObject({ args: ["npm", "ci"], cwd: "/app" });
  });
});
