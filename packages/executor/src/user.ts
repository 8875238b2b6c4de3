import { KilnError } from "@kiln/core";
import { type ContainerView, readFileInContainer } from "./safe-path.js";

/** The identity the container process runs as (OCI `process.user`). */
export interface ExecUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

const MAX_ID = 2 ** 31 - 1;
const ROOT: ExecUser = { uid: 0, gid: 0, additionalGids: [] };

/**
 * Resolves a Dockerfile-style USER (`name`, `uid`, `uid:gid`, `name:group`, ...) against the rootfs
 * `/etc/passwd` and `/etc/group`, read through the container view so a symlinked `/etc` cannot make
 * kiln read host files. Semantics follow Docker: numeric ids need no entry; a user's primary group
 * comes from passwd unless a group is given; supplementary groups (the groups listing the user by
 * name) are added only when no group is given.
 */
export async function resolveUser(view: ContainerView, spec: string | undefined): Promise<ExecUser> {
  if (spec === undefined || spec === "") return ROOT;
  const colon = spec.indexOf(":");
  const userArg = colon === -1 ? spec : spec.slice(0, colon);
  const groupArg = colon === -1 ? undefined : spec.slice(colon + 1);
  const numericUid = parseId(userArg, "uid");
  const numericGid = groupArg === undefined ? undefined : parseId(groupArg, "gid");
  // `uid:gid` needs no lookup at all, like BuildKit's fast path.
  if (numericUid !== undefined && numericGid !== undefined) {
    return { uid: numericUid, gid: numericGid, additionalGids: [] };
  }

  const passwd = parsePasswd((await readFileInContainer(view, "/etc/passwd")) ?? "");
  const user =
    numericUid !== undefined
      ? passwd.find((e) => e.uid === numericUid)
      : passwd.find((e) => e.name === userArg);
  if (!user && numericUid === undefined) {
    throw new KilnError("NOT_FOUND", `unable to find user ${userArg}: no matching entries in passwd file`, {
      hint: "create the user in an earlier step (adduser/useradd) or use a numeric uid",
      details: { user: spec },
    });
  }
  const uid = user?.uid ?? (numericUid as number);
  let gid = user?.gid ?? 0;
  let additionalGids: number[] = [];

  if (groupArg !== undefined || user !== undefined) {
    const groups = parseGroup((await readFileInContainer(view, "/etc/group")) ?? "");
    if (groupArg !== undefined) {
      const group =
        numericGid !== undefined
          ? groups.find((g) => g.gid === numericGid)
          : groups.find((g) => g.name === groupArg);
      if (!group && numericGid === undefined) {
        throw new KilnError(
          "NOT_FOUND",
          `unable to find group ${groupArg}: no matching entries in group file`,
          {
            hint: "create the group in an earlier step (addgroup/groupadd) or use a numeric gid",
            details: { user: spec },
          },
        );
      }
      gid = group?.gid ?? (numericGid as number);
    } else if (user) {
      additionalGids = [...new Set(groups.filter((g) => g.members.includes(user.name)).map((g) => g.gid))];
    }
  }
  return { uid, gid, additionalGids };
}

/** A decimal id, `undefined` when `text` is a name; ids outside 0..2^31-1 are refused like runc does. */
function parseId(text: string, what: "uid" | "gid"): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const id = Number(text);
  if (id > MAX_ID) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `${what} ${text} is out of range: uids and gids must be 0-${MAX_ID}`,
    );
  }
  return id;
}

/** `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped like libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const fields of entries(text)) {
    const [name, , uid, gid] = fields;
    const u = toId(uid);
    const g = toId(gid);
    if (name && u !== undefined && g !== undefined) out.push({ name, uid: u, gid: g });
  }
  return out;
}

/** `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const fields of entries(text)) {
    const [name, , gid, members = ""] = fields;
    const g = toId(gid);
    if (name && g !== undefined) {
      out.push({
        name,
        gid: g,
        members: members
          .split(",")
          .map((m) => m.trim())
          .filter(Boolean),
      });
    }
  }
  return out;
}

function* entries(text: string): Generator<string[]> {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    yield line.split(":");
  }
}

function toId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ID ? id : undefined;
}
