import { BinaryWriter } from "@bufbuild/protobuf/wire";
import type * as pb from "./pb.js";
import { encodeFileOp } from "./pb-encode-file.js";
import {
  messageMapValue,
  putBool,
  putInt32,
  putInt64,
  putMap,
  putMessage,
  putPackedInt32,
  putPackedInt64,
  putRepeatedMessage,
  putRepeatedString,
  putString,
  putUint32,
  stringMapValue,
} from "./wire.js";

/** Serializes an Op exactly as Go's `proto.MarshalOptions{Deterministic: true}` does. */
export function encodeOp(op: pb.Op): Uint8Array {
  const w = new BinaryWriter();
  writeOp(op, w);
  return w.finish();
}

export function writeOp(op: pb.Op, w: BinaryWriter): void {
  putRepeatedMessage(w, 1, op.inputs, writeInput);
  const kind = op.op;
  switch (kind?.case) {
    case "exec":
      putMessage(w, 2, kind.value, writeExecOp);
      break;
    case "source":
      putMessage(w, 3, kind.value, writeSourceOp);
      break;
    case "file":
      putMessage(w, 4, kind.value, encodeFileOp);
      break;
    case "build":
      putMessage(w, 5, kind.value, writeBuildOp);
      break;
    case "merge":
      putMessage(w, 6, kind.value, writeMergeOp);
      break;
    case "diff":
      putMessage(w, 7, kind.value, writeDiffOp);
      break;
    case "passthrough":
      putMessage(w, 8, kind.value, writePassthroughOp);
      break;
  }
  putMessage(w, 10, op.platform, writePlatform);
  putMessage(w, 11, op.constraints, (c, w) => putRepeatedString(w, 1, c.filter));
}

export function writeInput(m: pb.Input, w: BinaryWriter): void {
  putString(w, 1, m.digest);
  putInt64(w, 2, m.index);
}

export function writePlatform(m: pb.Platform, w: BinaryWriter): void {
  putString(w, 1, m.architecture);
  putString(w, 2, m.os);
  putString(w, 3, m.variant);
  putString(w, 4, m.osVersion);
  putRepeatedString(w, 5, m.osFeatures);
}

function writeExecOp(m: pb.ExecOp, w: BinaryWriter): void {
  putMessage(w, 1, m.meta, writeMeta);
  putRepeatedMessage(w, 2, m.mounts, writeMount);
  putInt32(w, 3, m.network);
  putInt32(w, 4, m.security);
  putRepeatedMessage(w, 5, m.secretenv, (s, w) => {
    putString(w, 1, s.id);
    putString(w, 2, s.name);
    putBool(w, 3, s.optional);
  });
  putRepeatedMessage(w, 6, m.cdiDevices, (d, w) => {
    putString(w, 1, d.name);
    putBool(w, 2, d.optional);
  });
}

function writeMeta(m: pb.Meta, w: BinaryWriter): void {
  putRepeatedString(w, 1, m.args);
  putRepeatedString(w, 2, m.env);
  putString(w, 3, m.cwd);
  putString(w, 4, m.user);
  putMessage(w, 5, m.proxyEnv, (p, w) => {
    putString(w, 1, p.httpProxy);
    putString(w, 2, p.httpsProxy);
    putString(w, 3, p.ftpProxy);
    putString(w, 4, p.noProxy);
    putString(w, 5, p.allProxy);
  });
  putRepeatedMessage(w, 6, m.extraHosts, (h, w) => {
    putString(w, 1, h.host);
    putString(w, 2, h.ip);
  });
  putString(w, 7, m.hostname);
  putRepeatedMessage(w, 9, m.ulimit, (u, w) => {
    putString(w, 1, u.name);
    putInt64(w, 2, u.soft);
    putInt64(w, 3, u.hard);
  });
  putString(w, 10, m.cgroupParent);
  putBool(w, 11, m.removeMountStubsRecursive);
  putPackedInt32(w, 12, m.validExitCodes);
}

function writeMount(m: pb.Mount, w: BinaryWriter): void {
  putInt64(w, 1, m.input);
  putString(w, 2, m.selector);
  putString(w, 3, m.dest);
  putInt64(w, 4, m.output);
  putBool(w, 5, m.readonly);
  putInt32(w, 6, m.mountType);
  putMessage(w, 19, m.tmpfsOpt, (t, w) => putInt64(w, 1, t.size));
  putMessage(w, 20, m.cacheOpt, (c, w) => {
    putString(w, 1, c.id);
    putInt32(w, 2, c.sharing);
  });
  putMessage(w, 21, m.secretOpt, writeSecretOpt);
  putMessage(w, 22, m.sshOpt, writeSecretOpt);
  putString(w, 23, m.resultId);
  putInt32(w, 24, m.contentCache);
}

/** SecretOpt and SSHOpt share their layout. */
function writeSecretOpt(m: pb.SecretOpt, w: BinaryWriter): void {
  putString(w, 1, m.id);
  putUint32(w, 2, m.uid);
  putUint32(w, 3, m.gid);
  putUint32(w, 4, m.mode);
  putBool(w, 5, m.optional);
}

function writeSourceOp(m: pb.SourceOp, w: BinaryWriter): void {
  putString(w, 1, m.identifier);
  putMap(w, 2, m.attrs, stringMapValue);
}

function writeBuildOp(m: pb.BuildOp, w: BinaryWriter): void {
  putInt64(w, 1, m.builder);
  putMap(
    w,
    2,
    m.inputs,
    messageMapValue<pb.BuildInput>((b, w) => putInt64(w, 1, b.input)),
  );
  putMap(w, 4, m.attrs, stringMapValue);
}

function writeMergeOp(m: pb.MergeOp, w: BinaryWriter): void {
  putRepeatedMessage(w, 1, m.inputs, (i, w) => putInt64(w, 1, i.input));
}

function writeDiffOp(m: pb.DiffOp, w: BinaryWriter): void {
  putMessage(w, 1, m.lower, (i, w) => putInt64(w, 1, i.input));
  putMessage(w, 2, m.upper, (i, w) => putInt64(w, 1, i.input));
}

function writePassthroughOp(m: pb.PassthroughOp, w: BinaryWriter): void {
  putString(w, 1, m.id);
  putPackedInt64(w, 2, m.outputs);
}
