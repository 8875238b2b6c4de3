import { describe, expect, it } from "vitest";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { encodeOp } from "./pb-encode.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const ascii = (s: string): string => Buffer.from(s).toString("hex");
/** Hex parts of an expected encoding, one wire element per argument. */
const cat = (...parts: string[]): string => parts.join("");
const MINUS_ONE = "ffffffffffffffffff01"; // -1 as a 10-byte two's complement varint

describe("encodeOp golden bytes (hand-computed from the protobuf wire format)", () => {
  it("encodes a source op", () => {
    const op: pb.Op = { op: { case: "source", value: { identifier: "local://context" } } };
    // Op.source: tag (3 << 3 | 2) = 0x1a, length 17; SourceOp.identifier: tag 0x0a, length 15
    expect(hex(encodeOp(op))).toBe(cat("1a11", "0a0f", ascii("local://context")));
  });

  it("writes negative int64 as 10 bytes and omits zero values", () => {
    expect(hex(encodeOp({ inputs: [{ digest: "sha256:ab", index: -1 }] }))).toBe(
      cat("0a16", "0a09", ascii("sha256:ab"), "10", MINUS_ONE),
    );
    expect(hex(encodeOp({ inputs: [{ digest: "", index: 0 }] }))).toBe("0a00");
    const mount: pb.ExecOp = { mounts: [{ input: 0, output: 0, readonly: false, dest: "/", mountType: 0 }] };
    // Op.exec (0x12) > ExecOp.mounts (0x12) > Mount.dest (0x1a) only
    expect(hex(encodeOp({ op: { case: "exec", value: mount } }))).toBe(cat("1205", "1203", "1a012f"));
  });

  it("writes set-but-empty messages", () => {
    // Op.inputs[0] {digest "d"}, then Op.constraints (11 << 3 | 2 = 0x5a) with length 0
    expect(hex(encodeOp({ inputs: [{ digest: "d" }], constraints: {} }))).toBe(cat("0a03", "0a0164", "5a00"));
    const action: pb.FileAction = {
      input: 0,
      secondaryInput: -1,
      output: 0,
      action: { case: "rm", value: {} },
    };
    const rm: pb.Op = { op: { case: "file", value: { actions: [action] } } };
    // Op.file (0x22) > FileOp.actions (0x12) > secondaryInput (0x10) -1, rm (7 << 3 | 2 = 0x3a) empty
    expect(hex(encodeOp(rm))).toBe(cat("220f", "120d", "10", MINUS_ONE, "3a00"));
  });

  it("sorts map entries by key and always writes key and value", () => {
    const op: pb.Op = {
      op: { case: "source", value: { identifier: "x", attrs: { b: "2", a: "1", "": "" } } },
    };
    expect(hex(encodeOp(op))).toBe(
      cat(
        "1a19",
        "0a0178", // identifier "x"
        "1204",
        "0a00",
        "1200", // entry "" = "" (key and value written although empty)
        "1206",
        "0a0161",
        "120131", // entry a = 1
        "1206",
        "0a0162",
        "120132", // entry b = 2
      ),
    );
  });

  it("writes uid 0 in a oneof, negative int32 mode and timestamp -1", () => {
    const mkdir: pb.FileActionMkDir = {
      path: "/a",
      mode: 0o755,
      owner: { user: { user: { case: "byId", value: 0 } } },
      timestamp: -1n,
    };
    const copy: pb.FileActionCopy = { src: "/s", dest: "/d", mode: -1 };
    const actions: pb.FileAction[] = [
      { action: { case: "mkdir", value: mkdir } },
      { input: 1, output: -1, action: { case: "copy", value: copy } },
    ];
    expect(hex(encodeOp({ op: { case: "file", value: { actions } } }))).toBe(
      cat(
        "2240", // Op.file, 64 bytes
        "121a",
        "3218", // action 0 (26 bytes): mkdir (24 bytes)
        "0a022f61", // path "/a"
        "10ed03", // mode 0o755 = 493
        "2204",
        "0a02",
        "1000", // owner > user > byID 0 (a set oneof member is written even when zero)
        "28",
        MINUS_ONE, // timestamp -1
        "1222", // action 1 (34 bytes)
        "0801", // input 1
        "18",
        MINUS_ONE, // output -1
        "2213",
        "0a022f73",
        "12022f64", // copy (19 bytes): src "/s", dest "/d"
        "20",
        MINUS_ONE, // int32 mode -1 is sign-extended to 10 bytes too
      ),
    );
  });

  it("packs repeated int32 (validExitCodes)", () => {
    const op: pb.Op = { op: { case: "exec", value: { meta: { validExitCodes: [0, 1, -1] } } } };
    // Op.exec > ExecOp.meta > Meta.validExitCodes (12 << 3 | 2 = 0x62), 12 bytes: 0, 1, -1
    expect(hex(encodeOp(op))).toBe(cat("1210", "0a0e", "620c", "00", "01", MINUS_ONE));
  });
});

describe("decodeOp", () => {
  const samples: Record<string, pb.Op> = {
    source: {
      op: {
        case: "source",
        value: { identifier: "docker-image://docker.io/library/busybox:latest", attrs: { a: "" } },
      },
      platform: { architecture: "arm", os: "linux", variant: "v7", osVersion: "1", osFeatures: ["f", ""] },
      constraints: { filter: ["x==y"] },
    },
    exec: {
      inputs: [{ digest: "sha256:1" }, { digest: "sha256:2", index: 3 }],
      op: {
        case: "exec",
        value: {
          meta: {
            args: ["sh", "-c", ""],
            env: ["A=1"],
            cwd: "/w",
            user: "u",
            proxyEnv: { httpProxy: "h", httpsProxy: "s", ftpProxy: "f", noProxy: "n", allProxy: "a" },
            extraHosts: [{ host: "h", ip: "1.2.3.4" }],
            hostname: "hn",
            ulimit: [{ name: "nofile", soft: 1024, hard: -1 }],
            cgroupParent: "cg",
            removeMountStubsRecursive: true,
            validExitCodes: [0, 2, -3],
          },
          mounts: [
            { dest: "/" },
            { input: 1, selector: "/sub", dest: "/b", output: -1, readonly: true, contentCache: 2 },
            { input: -1, dest: "/c", output: -1, mountType: 3, cacheOpt: { id: "c", sharing: 2 } },
            { input: -1, dest: "/t", output: -1, mountType: 4, tmpfsOpt: {} },
            {
              input: -1,
              dest: "/s",
              mountType: 1,
              secretOpt: { id: "s", uid: 1, gid: 2, mode: 0o400, optional: true },
            },
            { input: -1, dest: "/ssh", mountType: 2, sshOpt: { id: "default", mode: 0o600 }, resultId: "r" },
          ],
          network: 2,
          security: 1,
          secretenv: [{ id: "tok", name: "TOKEN", optional: true }],
          cdiDevices: [{ name: "vendor.com/gpu=0", optional: true }],
        },
      },
      platform: { architecture: "amd64", os: "linux" },
      constraints: {},
    },
    file: {
      inputs: [{ digest: "sha256:1" }],
      op: {
        case: "file",
        value: {
          actions: [
            {
              secondaryInput: -1,
              output: -1,
              action: {
                case: "copy",
                value: {
                  src: "/a",
                  dest: "/b/",
                  owner: {
                    user: { user: { case: "byName", value: { name: "app" } } },
                    group: { user: { case: "byId", value: 0 } },
                  },
                  mode: -1,
                  followSymlink: true,
                  dirCopyContents: true,
                  attemptUnpackDockerCompatibility: true,
                  createDestPath: true,
                  allowWildcard: true,
                  allowEmptyWildcard: true,
                  timestamp: 1_700_000_000_123_456_789n,
                  includePatterns: ["*.go"],
                  excludePatterns: ["vendor"],
                  alwaysReplaceExistingDestPaths: true,
                  modeStr: "u=rwX",
                  requiredPaths: ["go.mod"],
                },
              },
            },
            {
              input: 1,
              secondaryInput: -1,
              output: -1,
              action: {
                case: "mkfile",
                value: { path: "/f", mode: 0o644, data: new Uint8Array([0, 1]), timestamp: -1n },
              },
            },
            {
              input: 2,
              secondaryInput: -1,
              output: -1,
              action: { case: "mkdir", value: { path: "/d", makeParents: true } },
            },
            {
              input: 3,
              secondaryInput: -1,
              output: -1,
              action: { case: "rm", value: { path: "/x*", allowNotFound: true, allowWildcard: true } },
            },
            {
              input: 4,
              secondaryInput: -1,
              action: { case: "symlink", value: { oldpath: "/a", newpath: "/l", timestamp: 5n } },
            },
          ],
        },
      },
      constraints: {},
    },
    merge: {
      inputs: [{ digest: "a" }, { digest: "b" }],
      op: { case: "merge", value: { inputs: [{}, { input: 1 }] } },
    },
    diff: { inputs: [{ digest: "a" }], op: { case: "diff", value: { lower: {}, upper: { input: -1 } } } },
    build: {
      op: {
        case: "build",
        value: { builder: -1, inputs: { a: { input: 1 }, b: {} }, attrs: { "llbbuild.filename": "f" } },
      },
    },
    passthrough: { op: { case: "passthrough", value: { id: "p", outputs: [0, 2] } } },
    terminal: { inputs: [{ digest: "sha256:x", index: 1 }] },
  };

  for (const [kind, op] of Object.entries(samples)) {
    it(`round-trips a ${kind} op byte for byte`, () => {
      const bytes = encodeOp(op);
      const decoded = decodeOp(bytes);
      expect(decoded).toEqual(op);
      expect(hex(encodeOp(decoded))).toBe(hex(bytes));
    });
  }

  it("skips unknown fields and fields with an unexpected wire type", () => {
    const known = encodeOp({ inputs: [{ digest: "d" }] });
    // field 99 varint 7, field 100 LEN "zz", then field 2 (exec) with wire type varint (unexpected)
    const extra = Buffer.from("980607" + "a2060" + "27a7a" + "1005", "hex");
    expect(decodeOp(new Uint8Array([...known, ...extra]))).toEqual({ inputs: [{ digest: "d" }] });
  });

  it("accepts unpacked repeated int32", () => {
    // ExecOp.meta.validExitCodes written as two separate varint fields (12 << 3 | 0 = 0x60)
    const bytes = Buffer.from("1206" + "0a04" + "6001" + "6002", "hex");
    expect(decodeOp(bytes)).toEqual({ op: { case: "exec", value: { meta: { validExitCodes: [1, 2] } } } });
  });

  it("rejects truncated input", () => {
    const bytes = encodeOp({ op: { case: "source", value: { identifier: "local://x" } } });
    expect(() => decodeOp(bytes.subarray(0, bytes.length - 2))).toThrow();
  });
});
