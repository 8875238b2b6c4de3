import type { FrontendBridge, ImageConfig, Platform } from "@kiln/core";
import { loadDefinition, type pb } from "@kiln/llb";
import { describe, expect, it } from "vitest";
import { convertDockerfile } from "./frontend.js";

const PLATFORM: Platform = { os: "linux", architecture: "amd64" };
const BASE_CONFIG: ImageConfig = {
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [] },
  config: { Env: ["PATH=/bin", "FROM_BASE=1"], Cmd: ["sh"] },
  history: [{ created_by: "base layer" }],
};

/** The frontend's input boundary: a bridge that knows one image and records what was asked. */
function bridge() {
  const resolved: string[] = [];
  const warnings: string[] = [];
  const b: FrontendBridge = {
    async resolveImage(ref) {
      resolved.push(ref);
      if (!ref.includes("known")) throw new Error(`unknown image ${ref}`);
      return {
        identifier: `docker-image://${ref.replace("docker-image://", "")}@sha256:${"a".repeat(64)}`,
        attrs: {},
        manifestDigest: `sha256:${"a".repeat(64)}`,
        config: BASE_CONFIG,
      };
    },
    warn: (message) => void warnings.push(message),
  };
  return { bridge: b, resolved, warnings };
}

async function convert(dockerfile: string, attrs: Record<string, string> = {}) {
  const b = bridge();
  const result = await convertDockerfile({
    attrs,
    file: { name: "Dockerfile", data: new TextEncoder().encode(dockerfile) },
    platform: PLATFORM,
    bridge: b.bridge,
  });
  return { ...result, ...b };
}

const labels = (config: ImageConfig) => config.config?.Labels ?? {};

describe("ARG scoping", () => {
  it("global ARGs expand in FROM; --build-arg overrides their default", async () => {
    const df = "ARG IMG=known-a\nFROM $IMG\n";
    expect((await convert(df)).resolved).toEqual(["docker-image://known-a"]);
    expect((await convert(df, { "build-arg:IMG": "known-b" })).resolved).toEqual(["docker-image://known-b"]);
  });

  it("a global ARG is visible in a stage only when declared again, taking the global value", async () => {
    const r1 = await convert("ARG V=1\nFROM scratch\nLABEL v=$V\n");
    expect(labels(r1.config)).toEqual({ v: "" });
    const r2 = await convert("ARG V=1\nFROM scratch\nARG V\nLABEL v=$V\n");
    expect(labels(r2.config)).toEqual({ v: "1" });
    const r3 = await convert("ARG V=1\nFROM scratch\nARG V\nLABEL v=$V\n", { "build-arg:V": "cli" });
    expect(labels(r3.config)).toEqual({ v: "cli" });
  });

  it("stage ARG defaults expand with earlier values; ENV wins over ARG of the same name", async () => {
    const r = await convert("FROM scratch\nARG A=x\nARG B=${A}y\nENV A=env\nLABEL a=$A b=$B\n");
    expect(labels(r.config)).toEqual({ a: "env", b: "xy" });
  });

  it("values in one ENV use the environment from before the instruction", async () => {
    const r = await convert("FROM scratch\nENV a=1\nENV a=2 b=$a\n");
    expect(r.config.config?.Env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "a=2",
      "b=1",
    ]);
  });

  it("platform ARGs exist in the global scope and can be declared in a stage", async () => {
    const r = await convert(
      "FROM scratch\nARG TARGETARCH\nARG TARGETPLATFORM\nLABEL arch=$TARGETARCH p=$TARGETPLATFORM\n",
    );
    expect(labels(r.config)).toEqual({ arch: "amd64", p: "linux/amd64" });
  });

  it("warns about build args nothing consumed", async () => {
    const r = await convert("FROM scratch\nARG USED\n", { "build-arg:USED": "1", "build-arg:UNUSED": "2" });
    expect(r.warnings.join("\n")).toContain("[UNUSED]");
  });
});

describe("stages and targets", () => {
  const df = [
    "FROM known-base AS base",
    "ENV STAGE=base",
    "FROM unknown-image AS unused",
    "FROM base AS final",
    "LABEL stage=final",
    "FROM scratch AS other",
  ].join("\n");

  it("builds only the stages the target needs", async () => {
    const r = await convert(df, { target: "final" });
    expect(r.resolved).toEqual(["docker-image://known-base"]);
    expect(r.config.config?.Env).toContain("STAGE=base");
    expect(r.config.config?.Env).toContain("FROM_BASE=1");
    expect(labels(r.config)).toEqual({ stage: "final" });
    expect(r.config.history?.at(0)?.created_by).toBe("base layer");
  });

  it("the default target is the last stage; an unknown target is NOT_FOUND", async () => {
    expect((await convert(df)).resolved).toEqual([]);
    await expect(convert(df, { target: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("ENTRYPOINT resets an inherited CMD but keeps one set in the same stage", async () => {
    const inherited = await convert('FROM known-x\nENTRYPOINT ["run"]\n');
    expect(inherited.config.config?.Cmd).toBeNull();
    const own = await convert('FROM known-x\nCMD ["a"]\nENTRYPOINT ["run"]\n');
    expect(own.config.config?.Cmd).toEqual(["a"]);
  });

  it("COPY reads the context through a local source that excludes .dockerignore patterns", async () => {
    const b = bridge();
    const r = await convertDockerfile({
      attrs: {},
      file: { name: "Dockerfile", data: new TextEncoder().encode("FROM scratch\nCOPY . /src/\n") },
      ignoreFile: new TextEncoder().encode("# comment\nnode_modules\n!node_modules/keep\n"),
      platform: PLATFORM,
      bridge: b.bridge,
    });
    const ops = [...loadDefinition(r.definition).ops.values()].map((o) => o.op as pb.Op);
    const source = ops.find((o) => o.op?.case === "source");
    expect(source?.op?.case === "source" && source.op.value.identifier).toBe("local://context");
    const attrs = source?.op?.case === "source" ? source.op.value.attrs : {};
    expect(JSON.parse(attrs?.["local.excludepatterns"] ?? "[]")).toEqual([
      "node_modules",
      "!node_modules/keep",
    ]);
    const file = ops.find((o) => o.op?.case === "file");
    const action = file?.op?.case === "file" ? file.op.value.actions?.[0]?.action : undefined;
    expect(action?.case === "copy" && action.value).toMatchObject({
      src: "/",
      dest: "/src/",
      dirCopyContents: true,
    });
  });

  it("RUN --mount values checked after expansion fail as located KilnErrors", async () => {
    await expect(convert("FROM scratch\nRUN --mount=mode=0777,target=/x true\n")).rejects.toMatchObject({
      name: "KilnError",
      code: "INVALID_ARGUMENT",
      message: 'mode not allowed for "bind" type mounts',
      location: { file: "Dockerfile", line: 2, column: 1, instruction: "RUN" },
    });
  });

  it("errors from variable expansion name the instruction", async () => {
    await expect(convert("FROM scratch\nLABEL a=${b:?unset}\n")).rejects.toMatchObject({
      message: expect.stringContaining("failed to process"),
      location: { line: 2, column: 9, text: "LABEL a=${b:?unset}", instruction: "LABEL" },
    });
  });
});

describe("directives", () => {
  it("Docker's dockerfile syntax selects the built-in frontend silently; others are reported", async () => {
    expect((await convert("# syntax=docker/dockerfile:1.7\nFROM scratch\n")).warnings).toEqual([]);
    expect((await convert("# syntax=example.com/custom:1\nFROM scratch\n")).warnings.join()).toContain(
      "example.com/custom:1",
    );
  });

  it("check=error=true turns build-check warnings into an error; skip silences a rule", async () => {
    const df = "FROM scratch\nLABEL a=1 \\\n\n  b=2\n";
    expect((await convert(df)).warnings.join()).toContain("NoEmptyContinuation");
    await expect(convert(`# check=error=true\n${df}`)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    expect((await convert(`# check=skip=NoEmptyContinuation;error=true\n${df}`)).warnings).toEqual([]);
  });
});
