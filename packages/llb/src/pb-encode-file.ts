import { type BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type * as pb from "./pb.js";
import {
  putBool,
  putBytes,
  putInt32,
  putInt64,
  putMessage,
  putRepeatedMessage,
  putRepeatedString,
  putString,
} from "./wire.js";

export function encodeFileOp(m: pb.FileOp, w: BinaryWriter): void {
  putRepeatedMessage(w, 2, m.actions, writeFileAction);
}

function writeFileAction(m: pb.FileAction, w: BinaryWriter): void {
  putInt64(w, 1, m.input);
  putInt64(w, 2, m.secondaryInput);
  putInt64(w, 3, m.output);
  const a = m.action;
  switch (a?.case) {
    case "copy":
      putMessage(w, 4, a.value, writeCopy);
      break;
    case "mkfile":
      putMessage(w, 5, a.value, writeMkFile);
      break;
    case "mkdir":
      putMessage(w, 6, a.value, writeMkDir);
      break;
    case "rm":
      putMessage(w, 7, a.value, writeRm);
      break;
    case "symlink":
      putMessage(w, 8, a.value, writeSymlink);
      break;
  }
}

function writeCopy(m: pb.FileActionCopy, w: BinaryWriter): void {
  putString(w, 1, m.src);
  putString(w, 2, m.dest);
  putMessage(w, 3, m.owner, writeChown);
  putInt32(w, 4, m.mode);
  putBool(w, 5, m.followSymlink);
  putBool(w, 6, m.dirCopyContents);
  putBool(w, 7, m.attemptUnpackDockerCompatibility);
  putBool(w, 8, m.createDestPath);
  putBool(w, 9, m.allowWildcard);
  putBool(w, 10, m.allowEmptyWildcard);
  putInt64(w, 11, m.timestamp);
  putRepeatedString(w, 12, m.includePatterns);
  putRepeatedString(w, 13, m.excludePatterns);
  putBool(w, 14, m.alwaysReplaceExistingDestPaths);
  putString(w, 15, m.modeStr);
  putRepeatedString(w, 16, m.requiredPaths);
}

function writeMkFile(m: pb.FileActionMkFile, w: BinaryWriter): void {
  putString(w, 1, m.path);
  putInt32(w, 2, m.mode);
  putBytes(w, 3, m.data);
  putMessage(w, 4, m.owner, writeChown);
  putInt64(w, 5, m.timestamp);
}

function writeMkDir(m: pb.FileActionMkDir, w: BinaryWriter): void {
  putString(w, 1, m.path);
  putInt32(w, 2, m.mode);
  putBool(w, 3, m.makeParents);
  putMessage(w, 4, m.owner, writeChown);
  putInt64(w, 5, m.timestamp);
}

function writeRm(m: pb.FileActionRm, w: BinaryWriter): void {
  putString(w, 1, m.path);
  putBool(w, 2, m.allowNotFound);
  putBool(w, 3, m.allowWildcard);
}

function writeSymlink(m: pb.FileActionSymlink, w: BinaryWriter): void {
  putString(w, 1, m.oldpath);
  putString(w, 2, m.newpath);
  putMessage(w, 3, m.owner, writeChown);
  putInt64(w, 4, m.timestamp);
}

function writeChown(m: pb.ChownOpt, w: BinaryWriter): void {
  putMessage(w, 1, m.user, writeUserOpt);
  putMessage(w, 2, m.group, writeUserOpt);
}

function writeUserOpt(m: pb.UserOpt, w: BinaryWriter): void {
  const u = m.user;
  if (u?.case === "byName") {
    putMessage(w, 1, u.value, (n, w) => {
      putString(w, 1, n.name);
      putInt64(w, 2, n.input);
    });
  } else if (u?.case === "byId") {
    // A oneof member is written whenever it is set, so uid 0 (root) is still on the wire.
    w.tag(2, WireType.Varint).uint32(u.value);
  }
}
