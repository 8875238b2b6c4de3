import { isKilnError, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { marshal } from "./marshal.js";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { image, local } from "./source.js";
import { type State, scratch } from "./state.js";

const opts = { platform: { os: "linux", architecture: "amd64" }, localUniqueId: "u" };

/** Marshals `state` and returns its last real op plus the digests of all ops. */
function lastOp(state: State, o: Parameters<typeof marshal>[1] = opts) {
  const def = marshal(state, o);
  const digests = def.def.map((b) => sha256(b));
  const op = decodeOp(def.def.at(-2) as Uint8Array);
  const meta = def.metadata[digests.at(-2) as string];
  return { op, exec: (op.op as { value: pb.ExecOp }).value, digests, meta, def };
}

describe("run", () => {
  const base = image("busybox");
  const ctx = local("context");
  const exec = base.run({
    args: ["sh", "-c", "make"],
    mounts: [
      { dest: "/out", source: ctx },
      { dest: "/ro", source: ctx, readonly: true, selector: "/sub" },
      { type: "cache", dest: "/cache", sharing: "locked" },
      { type: "tmpfs", dest: "/tmp", size: 1024 },
      { dest: "/discard", source: base, noOutput: true },
      { type: "secret", dest: "/run/secrets/tok", id: "tok" },
      { type: "ssh" },
      { dest: "/a-scratch" },
    ],
  });

  it("sorts mounts by destination and numbers outputs per BuildKit's rules", () => {
    const { op, exec: e, digests } = lastOp(exec);
    const [busybox, context] = digests;
    // inputs are deduplicated: busybox (root and /discard) and the context (/out and /ro)
    expect(op.inputs).toEqual([{ digest: busybox }, { digest: context }]);
    expect(e.mounts).toEqual([
      { dest: "/" }, // input 0, output 0: zero values are not written
      { input: -1, dest: "/a-scratch", output: 1 },
      { input: -1, dest: "/cache", output: -1, mountType: 3, cacheOpt: { id: "/cache", sharing: 2 } },
      { dest: "/discard", output: -1 },
      { input: 1, dest: "/out", output: 2 },
      { input: 1, selector: "/sub", dest: "/ro", output: -1, readonly: true },
      { input: -1, dest: "/tmp", output: -1, mountType: 4, tmpfsOpt: { size: 1024 } },
      // secrets and ssh sockets come last, input -1 and (like BuildKit) output left at 0
      { input: -1, dest: "/run/secrets/tok", mountType: 1, secretOpt: { id: "tok", mode: 0o400 } },
      { input: -1, dest: "/run/buildkit/ssh_agent.0", mountType: 2, sshOpt: { mode: 0o600 } },
    ]);
    expect(e.meta?.env).toEqual(["SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"]);
    expect(e.meta?.removeMountStubsRecursive).toBe(true);
    expect(op.platform).toEqual({ architecture: "amd64", os: "linux" });
  });

  it("exposes the outputs of writable mounts as states", () => {
    const { digests } = lastOp(exec);
    const execDigest = digests.at(-2);
    const edge = (s: State) => decodeOp(marshal(s, opts).def.at(-1) as Uint8Array).inputs?.[0];
    expect(edge(exec.root())).toEqual({ digest: execDigest });
    expect(edge(exec)).toEqual({ digest: execDigest });
    expect(edge(exec.getMount("/out"))).toEqual({ digest: execDigest, index: 2 });
    expect(edge(exec.getMount("/a-scratch"))).toEqual({ digest: execDigest, index: 1 });
    // a read-only mount's "output" is its source, unchanged
    expect(exec.getMount("/ro").output).toBe(ctx.output);
    for (const dest of ["/cache", "/tmp", "/discard", "/nope"]) {
      expect(() => exec.getMount(dest)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });

  it("records the capabilities the op uses", () => {
    const { meta } = lastOp(exec);
    expect(Object.keys(meta?.caps ?? {}).sort()).toEqual([
      "exec.meta.base",
      "exec.mount.bind",
      "exec.mount.cache",
      "exec.mount.cache.sharing",
      "exec.mount.secret",
      "exec.mount.selector",
      "exec.mount.ssh",
      "exec.mount.tmpfs",
      "exec.mount.tmpfs.size",
    ]);
  });

  it("takes meta from the state and from run options, without changing the state", () => {
    const st = base.dir("/src").addEnv("A", "1").addEnv("B", "2").addEnv("A", "3").user("app").hostname("h");
    const run = st
      .addExtraHost("db", "10.0.0.2")
      .addUlimit("nofile", 1024, -1)
      .withCgroupParent("cg")
      .network("none")
      .security("insecure")
      .run({
        args: 'echo \'a b\' "c\\"d"',
        cwd: "sub",
        env: { C: "4" },
        validExitCodes: [0, 1],
        proxyEnv: { httpProxy: "p" },
      });
    const { exec: e, meta } = lastOp(run);
    expect(e.meta).toEqual({
      args: ["echo", "a b", 'c"d'],
      env: ["B=2", "A=3", "C=4"],
      cwd: "/src/sub",
      user: "app",
      proxyEnv: { httpProxy: "p" },
      extraHosts: [{ host: "db", ip: "10.0.0.2" }],
      hostname: "h",
      ulimit: [{ name: "nofile", soft: 1024, hard: -1 }],
      cgroupParent: "cg",
      removeMountStubsRecursive: true,
      validExitCodes: [0, 1],
    });
    expect(e.network).toBe(2);
    expect(e.security).toBe(1);
    expect(meta?.caps).toMatchObject({
      "exec.validexitcode": true,
      "exec.meta.ulimit": true,
      "exec.meta.network": true,
      "exec.meta.security": true,
      "exec.meta.proxyenv": true,
    });
    // run options apply to that command only
    expect(run.getDir()).toBe("/src");
    expect(run.getEnv("C")).toBeUndefined();
    expect(run.getEnv("A")).toBe("3");
  });

  it("adds a default PATH unless the solver says it sets one", () => {
    const run = scratch().run({ args: ["true"] });
    expect(lastOp(run).exec.meta?.env).toBeUndefined();
    expect(lastOp(run, { ...opts, caps: [] }).exec.meta?.env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    const withCap = lastOp(run, { ...opts, caps: ["exec.meta.setsdefaultpath"] });
    expect(withCap.exec.meta?.env).toBeUndefined();
    expect(withCap.meta?.caps?.["exec.meta.setsdefaultpath"]).toBe(true);
  });

  it("handles scratch roots, read-only roots and secret env", () => {
    const run = scratch().run({
      args: ["x"],
      readonlyRootfs: true,
      secretEnv: [{ id: "tok", name: "TOKEN" }],
      mounts: [{ dest: "/out" }],
    });
    // the root is read-only scratch, so only the /out mount leads to the exec op
    expect(run.root().output).toBeUndefined();
    const { op, exec: e } = lastOp(run.getMount("/out"));
    expect(op.inputs).toBeUndefined();
    expect(e.mounts).toEqual([
      { input: -1, dest: "/", output: -1, readonly: true },
      { input: -1, dest: "/out" },
    ]);
    expect(e.secretenv).toEqual([{ id: "tok", name: "TOKEN" }]);
    const ro = base.run({ args: ["x"], readonlyRootfs: true });
    expect(ro.root().output).toBe(base.output);
  });

  it("rejects a run without arguments", () => {
    for (const args of [[], "", "  # only a comment"]) {
      expect(() => base.run({ args })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
    try {
      base.run({ args: "echo 'unterminated" });
      expect.unreachable();
    } catch (err) {
      expect(isKilnError(err, "INVALID_ARGUMENT")).toBe(true);
    }
  });
});
