import { BinaryReader } from "@bufbuild/protobuf/wire";
import type * as pb from "./pb.js";
import { readFileOp } from "./pb-decode-file.js";
import {
  append,
  isLen,
  isVarint,
  readInt64,
  readMapEntry,
  readMessage,
  readRepeatedInt,
  readSub,
} from "./wire.js";

/** Parses an Op; unknown fields are skipped, truncated input throws a RangeError. */
export function decodeOp(bytes: Uint8Array): pb.Op {
  const r = new BinaryReader(bytes);
  return readOp(r, bytes.length);
}

function readOp(r: BinaryReader, len: number): pb.Op {
  return readMessage<pb.Op>(r, len, {}, (m, no, wt) => {
    if (!isLen(wt)) return false;
    switch (no) {
      case 1:
        m.inputs = append(m.inputs, readSub(r, readInput));
        return true;
      case 2:
        m.op = { case: "exec", value: readSub(r, readExecOp) };
        return true;
      case 3:
        m.op = { case: "source", value: readSub(r, readSourceOp) };
        return true;
      case 4:
        m.op = { case: "file", value: readSub(r, readFileOp) };
        return true;
      case 5:
        m.op = { case: "build", value: readSub(r, readBuildOp) };
        return true;
      case 6:
        m.op = { case: "merge", value: readSub(r, readMergeOp) };
        return true;
      case 7:
        m.op = { case: "diff", value: readSub(r, readDiffOp) };
        return true;
      case 8:
        m.op = { case: "passthrough", value: readSub(r, readPassthroughOp) };
        return true;
      case 10:
        m.platform = readSub(r, readPlatform);
        return true;
      case 11:
        m.constraints = readMessage<pb.WorkerConstraints>(r, r.uint32(), {}, (c, no, wt) => {
          if (no !== 1 || !isLen(wt)) return false;
          c.filter = append(c.filter, r.string());
          return true;
        });
        return true;
    }
    return false;
  });
}

function readInput(r: BinaryReader, len: number): pb.Input {
  return readMessage<pb.Input>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.digest = r.string();
    else if (no === 2 && isVarint(wt)) m.index = readInt64(r);
    else return false;
    return true;
  });
}

function readPlatform(r: BinaryReader, len: number): pb.Platform {
  return readMessage<pb.Platform>(r, len, {}, (m, no, wt) => {
    if (!isLen(wt)) return false;
    if (no === 1) m.architecture = r.string();
    else if (no === 2) m.os = r.string();
    else if (no === 3) m.variant = r.string();
    else if (no === 4) m.osVersion = r.string();
    else if (no === 5) m.osFeatures = append(m.osFeatures, r.string());
    else return false;
    return true;
  });
}

function readExecOp(r: BinaryReader, len: number): pb.ExecOp {
  return readMessage<pb.ExecOp>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.meta = readSub(r, readMeta);
    else if (no === 2 && isLen(wt)) m.mounts = append(m.mounts, readSub(r, readMount));
    else if (no === 3 && isVarint(wt)) m.network = r.int32();
    else if (no === 4 && isVarint(wt)) m.security = r.int32();
    else if (no === 5 && isLen(wt)) {
      const s = readMessage<pb.SecretEnv>(r, r.uint32(), {}, (s, no, wt) => {
        if (no === 1 && isLen(wt)) s.id = r.string();
        else if (no === 2 && isLen(wt)) s.name = r.string();
        else if (no === 3 && isVarint(wt)) s.optional = r.bool();
        else return false;
        return true;
      });
      m.secretenv = append(m.secretenv, s);
    } else if (no === 6 && isLen(wt)) {
      const d = readMessage<pb.CDIDevice>(r, r.uint32(), {}, (d, no, wt) => {
        if (no === 1 && isLen(wt)) d.name = r.string();
        else if (no === 2 && isVarint(wt)) d.optional = r.bool();
        else return false;
        return true;
      });
      m.cdiDevices = append(m.cdiDevices, d);
    } else return false;
    return true;
  });
}

function readMeta(r: BinaryReader, len: number): pb.Meta {
  return readMessage<pb.Meta>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.args = append(m.args, r.string());
    else if (no === 2 && isLen(wt)) m.env = append(m.env, r.string());
    else if (no === 3 && isLen(wt)) m.cwd = r.string();
    else if (no === 4 && isLen(wt)) m.user = r.string();
    else if (no === 5 && isLen(wt)) m.proxyEnv = readSub(r, readProxyEnv);
    else if (no === 6 && isLen(wt)) {
      const h = readMessage<pb.HostIP>(r, r.uint32(), {}, (h, no, wt) => {
        if (no === 1 && isLen(wt)) h.host = r.string();
        else if (no === 2 && isLen(wt)) h.ip = r.string();
        else return false;
        return true;
      });
      m.extraHosts = append(m.extraHosts, h);
    } else if (no === 7 && isLen(wt)) m.hostname = r.string();
    else if (no === 9 && isLen(wt)) {
      const u = readMessage<pb.Ulimit>(r, r.uint32(), {}, (u, no, wt) => {
        if (no === 1 && isLen(wt)) u.name = r.string();
        else if (no === 2 && isVarint(wt)) u.soft = readInt64(r);
        else if (no === 3 && isVarint(wt)) u.hard = readInt64(r);
        else return false;
        return true;
      });
      m.ulimit = append(m.ulimit, u);
    } else if (no === 10 && isLen(wt)) m.cgroupParent = r.string();
    else if (no === 11 && isVarint(wt)) m.removeMountStubsRecursive = r.bool();
    else if (no === 12 && (isVarint(wt) || isLen(wt)))
      m.validExitCodes = readRepeatedInt(r, wt, m.validExitCodes, false);
    else return false;
    return true;
  });
}

function readProxyEnv(r: BinaryReader, len: number): pb.ProxyEnv {
  const keys = ["httpProxy", "httpsProxy", "ftpProxy", "noProxy", "allProxy"] as const;
  return readMessage<pb.ProxyEnv>(r, len, {}, (m, no, wt) => {
    const key = keys[no - 1];
    if (!key || !isLen(wt)) return false;
    m[key] = r.string();
    return true;
  });
}

function readMount(r: BinaryReader, len: number): pb.Mount {
  return readMessage<pb.Mount>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isVarint(wt)) m.input = readInt64(r);
    else if (no === 2 && isLen(wt)) m.selector = r.string();
    else if (no === 3 && isLen(wt)) m.dest = r.string();
    else if (no === 4 && isVarint(wt)) m.output = readInt64(r);
    else if (no === 5 && isVarint(wt)) m.readonly = r.bool();
    else if (no === 6 && isVarint(wt)) m.mountType = r.int32();
    else if (no === 19 && isLen(wt)) {
      m.tmpfsOpt = readMessage<pb.TmpfsOpt>(r, r.uint32(), {}, (t, no, wt) => {
        if (no !== 1 || !isVarint(wt)) return false;
        t.size = readInt64(r);
        return true;
      });
    } else if (no === 20 && isLen(wt)) {
      m.cacheOpt = readMessage<pb.CacheOpt>(r, r.uint32(), {}, (c, no, wt) => {
        if (no === 1 && isLen(wt)) c.id = r.string();
        else if (no === 2 && isVarint(wt)) c.sharing = r.int32();
        else return false;
        return true;
      });
    } else if (no === 21 && isLen(wt)) m.secretOpt = readSub(r, readSecretOpt);
    else if (no === 22 && isLen(wt)) m.sshOpt = readSub(r, readSecretOpt);
    else if (no === 23 && isLen(wt)) m.resultId = r.string();
    else if (no === 24 && isVarint(wt)) m.contentCache = r.int32();
    else return false;
    return true;
  });
}

function readSecretOpt(r: BinaryReader, len: number): pb.SecretOpt {
  return readMessage<pb.SecretOpt>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.id = r.string();
    else if (no === 2 && isVarint(wt)) m.uid = r.uint32();
    else if (no === 3 && isVarint(wt)) m.gid = r.uint32();
    else if (no === 4 && isVarint(wt)) m.mode = r.uint32();
    else if (no === 5 && isVarint(wt)) m.optional = r.bool();
    else return false;
    return true;
  });
}

function readSourceOp(r: BinaryReader, len: number): pb.SourceOp {
  return readMessage<pb.SourceOp>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.identifier = r.string();
    else if (no === 2 && isLen(wt)) m.attrs = readStringMapEntry(r, m.attrs);
    else return false;
    return true;
  });
}

function readStringMapEntry(
  r: BinaryReader,
  map: Record<string, string> | undefined,
): Record<string, string> {
  return readMapEntry(
    r,
    map,
    () => "",
    (r, wt) => (isLen(wt) ? r.string() : undefined),
  );
}

function readSingleInput(r: BinaryReader, len: number): { input?: number } {
  return readMessage<{ input?: number }>(r, len, {}, (m, no, wt) => {
    if (no !== 1 || !isVarint(wt)) return false;
    m.input = readInt64(r);
    return true;
  });
}

function readBuildOp(r: BinaryReader, len: number): pb.BuildOp {
  return readMessage<pb.BuildOp>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isVarint(wt)) m.builder = readInt64(r);
    else if (no === 2 && isLen(wt)) {
      m.inputs = readMapEntry(
        r,
        m.inputs,
        () => ({}),
        (r, wt) => (isLen(wt) ? readSub(r, readSingleInput) : undefined),
      );
    } else if (no === 4 && isLen(wt)) m.attrs = readStringMapEntry(r, m.attrs);
    else return false;
    return true;
  });
}

function readMergeOp(r: BinaryReader, len: number): pb.MergeOp {
  return readMessage<pb.MergeOp>(r, len, {}, (m, no, wt) => {
    if (no !== 1 || !isLen(wt)) return false;
    m.inputs = append(m.inputs, readSub(r, readSingleInput));
    return true;
  });
}

function readDiffOp(r: BinaryReader, len: number): pb.DiffOp {
  return readMessage<pb.DiffOp>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.lower = readSub(r, readSingleInput);
    else if (no === 2 && isLen(wt)) m.upper = readSub(r, readSingleInput);
    else return false;
    return true;
  });
}

function readPassthroughOp(r: BinaryReader, len: number): pb.PassthroughOp {
  return readMessage<pb.PassthroughOp>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.id = r.string();
    else if (no === 2 && (isVarint(wt) || isLen(wt))) m.outputs = readRepeatedInt(r, wt, m.outputs, true);
    else return false;
    return true;
  });
}
