import { sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { FileAction, mkdir } from "./file-action.js";
import { marshal } from "./marshal.js";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { image, local } from "./source.js";
import { type State, scratch } from "./state.js";

const opts = { platform: { os: "linux", architecture: "amd64" }, localUniqueId: "u" };

function fileOp(state: State) {
  const def = marshal(state, opts);
  const digests = def.def.map((b) => sha256(b));
  const op = decodeOp(def.def.at(-2) as Uint8Array);
  const value = (op.op as { case: "file"; value: pb.FileOp }).value;
  return { op, actions: value.actions ?? [], digests, caps: def.metadata[digests.at(-2) as string]?.caps };
}

describe("file", () => {
  it("numbers inputs and chains actions per BuildKit's rules", () => {
    const base = image("busybox");
    const ctx = local("context");
    const st = base.file(
      FileAction.mkdir("/app", 0o755)
        .mkfile("/app/a.txt", 0o644, "hello")
        .copy(ctx, "src", "/app/src/")
        .rm("/app/tmp", { allowNotFound: true }),
    );
    const { op, actions, digests } = fileOp(st);
    const [busybox, context] = digests;
    expect(op.inputs).toEqual([{ digest: busybox }, { digest: context }]);
    expect(op.platform).toBeUndefined(); // file ops are not platform specific
    expect(op.constraints).toEqual({});
    // 2 inputs, so action i is referenced as 2 + i; only the last action has output 0
    expect(actions.map(({ input, secondaryInput, output }) => ({ input, secondaryInput, output }))).toEqual([
      { input: undefined, secondaryInput: -1, output: -1 },
      { input: 2, secondaryInput: -1, output: -1 },
      { input: 3, secondaryInput: 1, output: -1 },
      { input: 4, secondaryInput: -1, output: undefined },
    ]);
    expect(actions[1]?.action).toEqual({
      case: "mkfile",
      value: { path: "/app/a.txt", mode: 0o644, data: new TextEncoder().encode("hello"), timestamp: -1n },
    });
  });

  it("uses -1 for a scratch base and nests action chains bound to other states", () => {
    const other = image("alpine").dir("/work");
    const built = mkdir("out", 0o700).mkfile("out/f", 0o600, "x");
    const st = scratch().file(FileAction.mkdir("/dst", 0o755).copy(built.withState(other), "out", "/dst"));
    const { op, actions, digests } = fileOp(st);
    expect(op.inputs).toEqual([{ digest: digests[0] }]);
    expect(actions).toEqual([
      {
        input: -1,
        secondaryInput: -1,
        output: -1,
        action: { case: "mkdir", value: { path: "/dst", mode: 0o755, timestamp: -1n } },
      },
      // the nested chain runs on the alpine input (0), relative to its state's /work
      {
        secondaryInput: -1,
        output: -1,
        action: { case: "mkdir", value: { path: "/work/out", mode: 0o700, timestamp: -1n } },
      },
      {
        input: 2,
        secondaryInput: -1,
        output: -1,
        action: {
          case: "mkfile",
          value: { path: "/work/out/f", mode: 0o600, data: new Uint8Array([120]), timestamp: -1n },
        },
      },
      {
        input: 1,
        secondaryInput: 3,
        action: { case: "copy", value: { src: "/work/out", dest: "/dst", mode: -1, timestamp: -1n } },
      },
    ]);
  });

  it("resolves paths against the states' directories", () => {
    const src = local("ctx").dir("/in");
    const st = image("busybox")
      .dir("/app")
      .file(
        FileAction.copy(src, "./a/../b", "dest/")
          .copy(src, "/abs/c", "./")
          .copy(src, "d", "e/.")
          .mkdir("../up", 0o40755)
          .rm("x/")
          .symlink("target", "link"),
      );
    const { actions } = fileOp(st);
    const values = actions.map((a) => a.action?.value as Record<string, unknown>);
    expect(values.slice(0, 3).map((v) => [v.src, v.dest])).toEqual([
      ["/in/b", "/app/dest/"],
      ["/abs/c", "/app/"],
      ["/in/d", "/app/e/."],
    ]);
    expect(values[3]).toMatchObject({ path: "/up", mode: 0o755 });
    expect(values[4]).toEqual({ path: "/app/x" });
    expect(values[5]).toEqual({ oldpath: "target", newpath: "link", timestamp: -1n }); // symlinks are kept as given
  });

  it("writes every copy option and the caps they need", () => {
    const base = image("busybox");
    const when = new Date("2024-01-02T03:04:05.678Z");
    const st = base.file(
      FileAction.copy(local("ctx"), "/src", "/dst", {
        owner: "app:0",
        modeStr: "u=rwX,go=rX",
        mode: 0o755,
        followSymlink: true,
        dirCopyContents: true,
        attemptUnpackDockerCompatibility: true,
        createDestPath: true,
        allowWildcard: true,
        allowEmptyWildcard: true,
        timestamp: when,
        includePatterns: ["*.ts"],
        excludePatterns: ["*.test.ts"],
        alwaysReplaceExistingDestPaths: true,
        requiredPaths: ["package.json"],
      }),
    );
    const { actions, caps } = fileOp(st);
    expect(actions[0]?.action).toEqual({
      case: "copy",
      value: {
        src: "/src",
        dest: "/dst",
        owner: {
          user: { user: { case: "byName", value: { name: "app" } } }, // resolved against input 0
          group: { user: { case: "byId", value: 0 } },
        },
        followSymlink: true,
        dirCopyContents: true,
        attemptUnpackDockerCompatibility: true,
        createDestPath: true,
        allowWildcard: true,
        allowEmptyWildcard: true,
        timestamp: 1_704_164_645_678_000_000n,
        includePatterns: ["*.ts"],
        excludePatterns: ["*.test.ts"],
        alwaysReplaceExistingDestPaths: true,
        modeStr: "u=rwX,go=rX",
        requiredPaths: ["package.json"],
      },
    });
    expect(Object.keys(caps ?? {}).sort()).toEqual([
      "file.base",
      "file.copy.alwaysreplaceexistingdestpaths",
      "file.copy.includeexcludepatterns",
      "file.copy.modestring",
      "file.copy.requiredpaths",
    ]);
  });

  it("parses owners like BuildKit", () => {
    const owners = (owner: Parameters<typeof mkdir>[2]) => {
      const { actions } = fileOp(scratch().file(mkdir("/d", 0o755, owner)));
      const mkdirAction = actions[0]?.action as { case: "mkdir"; value: pb.FileActionMkDir };
      return mkdirAction.value.owner;
    };
    const id = (value: number) => ({ user: { case: "byId" as const, value } });
    expect(owners({ owner: "root" })).toEqual({ user: id(0) });
    expect(owners({ owner: "1000:1001" })).toEqual({ user: id(1000), group: id(1001) });
    // on scratch, names refer to input -1 (no /etc/passwd)
    expect(owners({ owner: "app:staff" })).toEqual({
      user: { user: { case: "byName", value: { name: "app", input: -1 } } },
      group: { user: { case: "byName", value: { name: "staff", input: -1 } } },
    });
    expect(owners({ owner: { user: 5, group: "root" } })).toEqual({ user: id(5), group: id(0) });
    expect(owners({ owner: "99999999999" })).toEqual({
      user: { user: { case: "byName", value: { name: "99999999999", input: -1 } } },
    });
    expect(owners({ timestamp: 5n })).toBeUndefined();
  });

  it("gives chains and states value semantics", () => {
    const a = mkdir("/a", 0o755);
    const b = a.mkdir("/b", 0o755);
    expect(a.prev).toBeUndefined();
    expect(b.prev).toBe(a);
    const base = image("busybox");
    const one = marshal(base.file(b), opts);
    const two = marshal(base.file(b), opts);
    expect(one.def).toEqual(two.def);
    expect(base.file(a).output).not.toBe(base.file(a).output);
  });
});
