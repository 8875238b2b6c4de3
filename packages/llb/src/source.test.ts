import { describe, expect, it } from "vitest";
import { normalizeImageRef } from "./image-ref.js";
import { marshal } from "./marshal.js";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { shlexSplit } from "./shlex.js";
import { goJsonStrings, image, local, ociLayout, source } from "./source.js";
import { type State, scratch } from "./state.js";

const opts = { platform: { os: "linux", architecture: "amd64" }, localUniqueId: "u" };

function sourceOf(state: State) {
  const def = marshal(state, opts);
  const op = decodeOp(def.def[0] as Uint8Array);
  const caps = Object.values(def.metadata)[0]?.caps;
  return { op, src: (op.op as { case: "source"; value: pb.SourceOp }).value, caps };
}

describe("image references", () => {
  it.each([
    ["busybox", "docker.io/library/busybox:latest"],
    ["library/busybox:1.36", "docker.io/library/busybox:1.36"],
    ["index.docker.io/user/app", "docker.io/user/app:latest"],
    ["user/app:v1.0-rc_1", "docker.io/user/app:v1.0-rc_1"],
    ["ghcr.io/org/team/app:1", "ghcr.io/org/team/app:1"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app", "localhost:5000/app:latest"],
    ["Registry.Example.com/app", "Registry.Example.com/app:latest"],
    ["[::1]:5000/app", "[::1]:5000/app:latest"],
    [`alpine@sha256:${"a".repeat(64)}`, `docker.io/library/alpine@sha256:${"a".repeat(64)}`],
    [`alpine:3@sha256:${"b".repeat(64)}`, `docker.io/library/alpine:3@sha256:${"b".repeat(64)}`],
    ["a__b/c.d/e-f--g", "docker.io/a__b/c.d/e-f--g:latest"],
  ])("normalizes %s", (ref, want) => {
    expect(normalizeImageRef(ref)).toBe(want);
  });

  it.each([
    ["Busybox"],
    ["user/App"],
    ["a".repeat(64)],
    [""],
    ["busybox:"],
    ["bad_/name"],
    ["a/-b"],
    ["busybox:tag with space"],
    [`alpine@sha256:${"a".repeat(63)}`],
    [`alpine@md5:${"a".repeat(32)}`],
    [`${"a".repeat(256)}`],
  ])("rejects %j", (ref) => {
    expect(() => normalizeImageRef(ref)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("sources", () => {
  it("builds local sources with Go-JSON attrs and caps", () => {
    const { op, src, caps } = sourceOf(
      local("context", {
        includePatterns: ["src/<a>&b"],
        excludePatterns: ["node_modules", "*.log"],
        followPaths: ["Dockerfile"],
        sharedKeyHint: "ctx",
        differ: "metadata",
        uniqueId: "fixed",
      }),
    );
    expect(op.platform).toBeUndefined();
    expect(src).toEqual({
      identifier: "local://context",
      attrs: {
        "local.includepattern": '["src/\\u003ca\\u003e\\u0026b"]',
        "local.excludepatterns": '["node_modules","*.log"]',
        "local.followpaths": '["Dockerfile"]',
        "local.sharedkeyhint": "ctx",
        "local.differ": "metadata",
        "local.unique": "fixed",
      },
    });
    expect(Object.keys(caps ?? {}).sort()).toEqual([
      "source.local",
      "source.local.excludepatterns",
      "source.local.followpaths",
      "source.local.includepatterns",
      "source.local.sharedkeyhint",
      "source.local.unique",
    ]);
    const session = sourceOf(local("ctx", { sessionId: "s1", differ: "none", differRequired: true }));
    expect(session.src.attrs).toEqual({ "local.session": "s1", "local.differ": "none" });
    expect(session.caps).toEqual({
      "source.local": true,
      "source.local.sessionid": true,
      "source.local.differ": true,
    });
  });

  it("builds image and oci-layout sources", () => {
    const img = sourceOf(image("alpine:3.20", { resolveMode: "pull", layerLimit: 2, checksum: "sha256:c" }));
    expect(img.src).toEqual({
      identifier: "docker-image://docker.io/library/alpine:3.20",
      attrs: { "image.resolvemode": "pull", "image.layerlimit": "2", "image.checksum": "sha256:c" },
    });
    expect(img.op.platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(Object.keys(img.caps ?? {}).sort()).toEqual([
      "source.image",
      "source.image.checksum",
      "source.image.layerlimit",
      "source.image.resolvemode",
    ]);
    const oci = sourceOf(
      ociLayout("store1/app@sha256:abc", { store: "store1", layerLimit: 0, sessionId: "s" }),
    );
    expect(oci.src).toEqual({
      identifier: "oci-layout://store1/app@sha256:abc",
      attrs: { "oci.session": "s", "oci.store": "store1", "oci.layerlimit": "0" },
    });
    expect(oci.caps).toEqual({ "source.ocilayout": true });
    const git = sourceOf(source("git://github.com/moby/buildkit", { "git.keepgitdir": "true" }));
    expect(git.op.platform).toBeUndefined();
    expect(() => source("busybox")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("writes JSON arrays the way Go does", () => {
    expect(goJsonStrings([])).toBeUndefined();
    expect(goJsonStrings(['a"b', "\u2028", "é"])).toBe('["a\\"b","\\u2028","é"]');
  });
});

describe("state metadata", () => {
  it("resolves directories and keeps env order like BuildKit", () => {
    const s = scratch().dir("a").dir("../b/./c").dir("/abs/../x");
    expect(s.getDir()).toBe("/abs/../x"); // absolute values are kept as given
    expect(scratch().dir("a").dir("../b/./c").getDir()).toBe("/b/c");
    const e = scratch().addEnv("A", "1").addEnv("B", "2").addEnv("A", "3").delEnv("B").addEnv("C", "=");
    expect(e.env()).toEqual(["A=3", "C=="]);
    expect(e.getEnv("B")).toBeUndefined();
    expect(scratch().getNetwork()).toBe("sandbox");
  });

  it("seeds metadata from an image config", () => {
    const s = image("busybox").withImageConfig({
      os: "linux",
      architecture: "aarch64",
      config: { Env: ["PATH=/bin", "EMPTY", "=skip", "X=a=b"], WorkingDir: "/work" },
    });
    expect(s.env()).toEqual(["PATH=/bin", "EMPTY=", "X=a=b"]);
    expect(s.getDir()).toBe("/work");
    expect(s.getPlatform()).toEqual({ os: "linux", architecture: "arm64" });
  });
});

describe("shlexSplit", () => {
  it.each([
    ["echo hi", ["echo", "hi"]],
    ["  a\t b\n", ["a", "b"]],
    [`sh -c 'echo "$X" \\ok'`, ["sh", "-c", 'echo "$X" \\ok']],
    [`a "b \\" c" d\\ e`, ["a", 'b " c', "d e"]],
    [`x "" y`, ["x", "", "y"]],
    ["a#b # comment\nc", ["a#b", "c"]],
  ])("splits %j", (input, want) => {
    expect(shlexSplit(input)).toEqual(want);
  });

  it.each([["'open"], ['"open'], ["trailing\\"]])("rejects %j", (input) => {
    expect(() => shlexSplit(input)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
