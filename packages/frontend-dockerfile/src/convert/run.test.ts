import type { FrontendBridge, Platform } from "@kiln/core";
import { loadDefinition, type pb } from "@kiln/llb";
import { describe, expect, it } from "vitest";
import { convertDockerfile } from "./frontend.js";

/** RUN → ExecOp details that BuildKit's frontend fixes: mounts, proxy settings, #! heredocs. */
const PLATFORM: Platform = { os: "linux", architecture: "amd64" };

const bridge: FrontendBridge = {
  async resolveImage(ref) {
    return {
      identifier: `docker-image://${ref.replace("docker-image://", "")}@sha256:${"a".repeat(64)}`,
      attrs: {},
      manifestDigest: `sha256:${"a".repeat(64)}`,
      config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {} },
    };
  },
  warn() {},
};

async function convert(dockerfile: string, attrs: Record<string, string> = {}) {
  const r = await convertDockerfile({
    attrs,
    file: { name: "Dockerfile", data: new TextEncoder().encode(dockerfile) },
    platform: PLATFORM,
    bridge,
  });
  const ops = [...loadDefinition(r.definition).ops.values()].map((o) => o.op as pb.Op);
  const execs = ops.flatMap((o) => (o.op?.case === "exec" ? [o.op.value] : []));
  const files = ops.flatMap((o) => (o.op?.case === "file" ? [o.op.value] : []));
  return { ...r, execs, files, last: execs.at(-1) as pb.ExecOp };
}

const nonRoot = (e: pb.ExecOp) => (e.mounts ?? []).filter((m) => m.dest !== "/");

describe("RUN --mount conversion", () => {
  it("a writable bind mount has no output and is not read-only; the source path is cleaned", async () => {
    const { last } = await convert("FROM base\nRUN --mount=type=bind,source=src/./a,target=/w,rw true\n");
    expect(nonRoot(last)).toEqual([expect.objectContaining({ dest: "/w", selector: "/src/a", output: -1 })]);
    expect(nonRoot(last)[0]?.readonly ?? false).toBe(false);
    const ro = await convert("FROM base\nRUN --mount=type=bind,target=/w true\n");
    // The context's root is mounted without a selector, as in BuildKit.
    expect(nonRoot(ro.last)[0]).toMatchObject({ dest: "/w", readonly: true });
    expect(nonRoot(ro.last)[0]?.selector ?? "").toBe("");
  });

  it("cache uid/gid/mode: an internal mkdir /cache with that owner and mode seeds the cache", async () => {
    const r = await convert("FROM base\nRUN --mount=type=cache,target=/c,uid=1000,gid=50,mode=0700 true\n");
    const cache = nonRoot(r.last)[0];
    expect(cache).toMatchObject({ dest: "/c", selector: "/cache", mountType: 3, cacheOpt: { id: "/c" } });
    const mkdir = r.files.flatMap((f) => f.actions ?? []).find((a) => a.action?.case === "mkdir");
    expect(mkdir?.action?.case === "mkdir" && mkdir.action.value).toMatchObject({
      path: "/cache",
      mode: 0o700,
      owner: { user: { user: { case: "byId", value: 1000 } }, group: { user: { case: "byId", value: 50 } } },
    });
    // Without options a cache starts empty (no source at all).
    const plain = await convert("FROM base\nRUN --mount=type=cache,target=/c true\n");
    expect(nonRoot(plain.last)[0]?.input).toBe(-1);
    expect(plain.files).toEqual([]);
  });

  it("ssh: empty id (the builder's `default`), default target and mode, optional unless required", async () => {
    const r = await convert(
      "FROM base\nRUN --mount=type=ssh --mount=type=ssh,id=deploy,target=/s.sock,required,uid=1,gid=2,mode=0640 true\n",
    );
    const ssh = (r.last.mounts ?? []).filter((m) => m.mountType === 2);
    expect(ssh.map((m) => [m.dest, m.sshOpt])).toEqual([
      ["/run/buildkit/ssh_agent.0", expect.objectContaining({ mode: 0o600, optional: true })],
      ["/s.sock", expect.objectContaining({ id: "deploy", uid: 1, gid: 2, mode: 0o640 })],
    ]);
    expect(ssh[0]?.sshOpt?.id ?? "").toBe("");
    expect(ssh[1]?.sshOpt?.optional ?? false).toBe(false);
    expect(r.last.meta?.env).toContain("SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0");
    await expect(convert("FROM base\nRUN --mount=type=ssh,source=x true\n")).rejects.toMatchObject({
      message: "ssh does not support source",
      location: { line: 2 },
    });
  });
});

describe("RUN proxy build args", () => {
  it("go to the ExecOp's proxy settings, not its env or the history; the last spelling in byte order wins", async () => {
    const r = await convert("FROM base\nRUN true\n", {
      "build-arg:HTTP_PROXY": "http://upper",
      "build-arg:http_proxy": "http://lower",
      "build-arg:No_Proxy": "localhost",
    });
    expect(r.last.meta?.proxyEnv).toEqual({ httpProxy: "http://lower", noProxy: "localhost" });
    expect((r.last.meta?.env ?? []).join()).not.toContain("PROXY");
    expect(r.config.history?.at(-1)?.created_by).toBe("RUN /bin/sh -c true # buildkit");
  });

  it("declared with ARG they are also ordinary build args (env and history)", async () => {
    const r = await convert("FROM base\nARG HTTP_PROXY\nRUN true\n", { "build-arg:HTTP_PROXY": "http://p" });
    expect(r.last.meta?.proxyEnv).toEqual({ httpProxy: "http://p" });
    expect(r.last.meta?.env).toContain("HTTP_PROXY=http://p");
    expect(r.config.history?.at(-1)?.created_by).toBe(
      "RUN |1 HTTP_PROXY=http://p /bin/sh -c true # buildkit",
    );
  });
});

describe("RUN #! heredocs", () => {
  it("write the body to an executable file mounted read-only at /dev/pipes/ and run it through the shell", async () => {
    const r = await convert("FROM base\nRUN <<-SCRIPT\n\t#!/usr/bin/env python3\n\tprint('hi')\n\tSCRIPT\n");
    expect(r.last.meta?.args).toEqual(["/bin/sh", "-c", "/dev/pipes/SCRIPT"]);
    const pipes = nonRoot(r.last)[0];
    expect(pipes).toMatchObject({ dest: "/dev/pipes/", selector: "/", readonly: true, output: -1 });
    const mkfile = r.files.flatMap((f) => f.actions ?? []).find((a) => a.action?.case === "mkfile");
    expect(mkfile?.action?.case === "mkfile" && mkfile.action.value).toMatchObject({
      path: "/SCRIPT",
      mode: 0o755,
      data: new TextEncoder().encode("#!/usr/bin/env python3\nprint('hi')\n"),
    });
  });

  it("a heredoc without #! still runs as the shell script", async () => {
    const r = await convert("FROM base\nRUN <<EOF\necho hi\nEOF\n");
    expect(r.last.meta?.args).toEqual(["/bin/sh", "-c", "echo hi\n"]);
    expect(nonRoot(r.last)).toEqual([]);
  });
});
