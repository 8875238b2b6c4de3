import type { BinaryReader } from "@bufbuild/protobuf/wire";
import type * as pb from "./pb.js";
import { append, isLen, isVarint, readBigInt64, readInt64, readMessage, readSub } from "./wire.js";

export function readFileOp(r: BinaryReader, len: number): pb.FileOp {
  return readMessage<pb.FileOp>(r, len, {}, (m, no, wt) => {
    if (no !== 2 || !isLen(wt)) return false;
    m.actions = append(m.actions, readSub(r, readFileAction));
    return true;
  });
}

function readFileAction(r: BinaryReader, len: number): pb.FileAction {
  return readMessage<pb.FileAction>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isVarint(wt)) m.input = readInt64(r);
    else if (no === 2 && isVarint(wt)) m.secondaryInput = readInt64(r);
    else if (no === 3 && isVarint(wt)) m.output = readInt64(r);
    else if (!isLen(wt)) return false;
    else if (no === 4) m.action = { case: "copy", value: readSub(r, readCopy) };
    else if (no === 5) m.action = { case: "mkfile", value: readSub(r, readMkFile) };
    else if (no === 6) m.action = { case: "mkdir", value: readSub(r, readMkDir) };
    else if (no === 7) m.action = { case: "rm", value: readSub(r, readRm) };
    else if (no === 8) m.action = { case: "symlink", value: readSub(r, readSymlink) };
    else return false;
    return true;
  });
}

function readCopy(r: BinaryReader, len: number): pb.FileActionCopy {
  const flags = {
    5: "followSymlink",
    6: "dirCopyContents",
    7: "attemptUnpackDockerCompatibility",
    8: "createDestPath",
    9: "allowWildcard",
    10: "allowEmptyWildcard",
    14: "alwaysReplaceExistingDestPaths",
  } as const;
  const lists = { 12: "includePatterns", 13: "excludePatterns", 16: "requiredPaths" } as const;
  return readMessage<pb.FileActionCopy>(r, len, {}, (m, no, wt) => {
    const flag = flags[no as keyof typeof flags];
    const list = lists[no as keyof typeof lists];
    if (flag && isVarint(wt)) m[flag] = r.bool();
    else if (list && isLen(wt)) m[list] = append(m[list], r.string());
    else if (no === 1 && isLen(wt)) m.src = r.string();
    else if (no === 2 && isLen(wt)) m.dest = r.string();
    else if (no === 3 && isLen(wt)) m.owner = readSub(r, readChown);
    else if (no === 4 && isVarint(wt)) m.mode = r.int32();
    else if (no === 11 && isVarint(wt)) m.timestamp = readBigInt64(r);
    else if (no === 15 && isLen(wt)) m.modeStr = r.string();
    else return false;
    return true;
  });
}

function readMkFile(r: BinaryReader, len: number): pb.FileActionMkFile {
  return readMessage<pb.FileActionMkFile>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.path = r.string();
    else if (no === 2 && isVarint(wt)) m.mode = r.int32();
    else if (no === 3 && isLen(wt)) m.data = r.bytes();
    else if (no === 4 && isLen(wt)) m.owner = readSub(r, readChown);
    else if (no === 5 && isVarint(wt)) m.timestamp = readBigInt64(r);
    else return false;
    return true;
  });
}

function readMkDir(r: BinaryReader, len: number): pb.FileActionMkDir {
  return readMessage<pb.FileActionMkDir>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.path = r.string();
    else if (no === 2 && isVarint(wt)) m.mode = r.int32();
    else if (no === 3 && isVarint(wt)) m.makeParents = r.bool();
    else if (no === 4 && isLen(wt)) m.owner = readSub(r, readChown);
    else if (no === 5 && isVarint(wt)) m.timestamp = readBigInt64(r);
    else return false;
    return true;
  });
}

function readRm(r: BinaryReader, len: number): pb.FileActionRm {
  return readMessage<pb.FileActionRm>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.path = r.string();
    else if (no === 2 && isVarint(wt)) m.allowNotFound = r.bool();
    else if (no === 3 && isVarint(wt)) m.allowWildcard = r.bool();
    else return false;
    return true;
  });
}

function readSymlink(r: BinaryReader, len: number): pb.FileActionSymlink {
  return readMessage<pb.FileActionSymlink>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.oldpath = r.string();
    else if (no === 2 && isLen(wt)) m.newpath = r.string();
    else if (no === 3 && isLen(wt)) m.owner = readSub(r, readChown);
    else if (no === 4 && isVarint(wt)) m.timestamp = readBigInt64(r);
    else return false;
    return true;
  });
}

function readChown(r: BinaryReader, len: number): pb.ChownOpt {
  return readMessage<pb.ChownOpt>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.user = readSub(r, readUserOpt);
    else if (no === 2 && isLen(wt)) m.group = readSub(r, readUserOpt);
    else return false;
    return true;
  });
}

function readUserOpt(r: BinaryReader, len: number): pb.UserOpt {
  return readMessage<pb.UserOpt>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isLen(wt)) {
      const named = readMessage<pb.NamedUserOpt>(r, r.uint32(), {}, (n, no, wt) => {
        if (no === 1 && isLen(wt)) n.name = r.string();
        else if (no === 2 && isVarint(wt)) n.input = readInt64(r);
        else return false;
        return true;
      });
      m.user = { case: "byName", value: named };
    } else if (no === 2 && isVarint(wt)) m.user = { case: "byId", value: r.uint32() };
    else return false;
    return true;
  });
}
