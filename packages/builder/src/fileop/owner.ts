import { open } from "node:fs/promises";
import { KilnError } from "@kiln/core";
import { resolveInRoot } from "@kiln/snapshotter";
import { type ChownOpt, int64, type NamedUserOpt, userChoice } from "./types.js";

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** Host root of the tree an input index names, for `/etc/passwd` lookups. */
export type TreeLookup = (input: number) => Promise<string>;

/** BuildKit refuses user databases above this size. */
const MAX_USER_FILE_BYTES = 10 << 20;

/**
 * Resolves a ChownOpt to numeric ids, BuildKit's rules: a user by id sets uid and gid to that id, a user
 * by name takes uid and primary gid from `/etc/passwd` of the tree `byName.input` names, a group (by id
 * or from `/etc/group`) then overrides the gid, and a group alone leaves uid 0. Unlike BuildKit, which
 * silently falls back to 0, an unknown name is a NOT_FOUND error. No user and no group ⇒ undefined
 * (keep ownership).
 */
export async function resolveOwner(
  owner: ChownOpt | undefined,
  tree: TreeLookup,
): Promise<Owner | undefined> {
  const user = userChoice(owner?.user);
  const group = userChoice(owner?.group);
  if (!user && !group) return undefined;
  let uid = 0;
  let gid = 0;
  if (user?.byId !== undefined) {
    uid = user.byId;
    gid = user.byId;
  } else if (user?.byName) {
    const entry = await lookup(user.byName, "/etc/passwd", tree);
    uid = parseId(entry[2], "/etc/passwd");
    gid = parseId(entry[3], "/etc/passwd");
  }
  if (group?.byId !== undefined) gid = group.byId;
  else if (group?.byName) gid = parseId((await lookup(group.byName, "/etc/group", tree))[2], "/etc/group");
  return { uid, gid };
}

/** The `:`-separated fields of the first line whose name matches; numeric names are their own id. */
async function lookup(
  named: NamedUserOpt,
  file: "/etc/passwd" | "/etc/group",
  tree: TreeLookup,
): Promise<string[]> {
  const name = named.name ?? "";
  const root = await tree(int64(named.input));
  const text = await readUserFile(root, file);
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const fields = line.trim().split(":");
    if (fields[0] === name && fields.length >= 3) return fields;
  }
  if (/^[0-9]+$/.test(name)) return [name, "", name, name];
  const what = file === "/etc/passwd" ? "user" : "group";
  throw new KilnError(
    "NOT_FOUND",
    `unable to find ${what} ${JSON.stringify(name)}: no matching entries in ${file}`,
    {
      hint: `create the ${what} in an earlier step or use a numeric id`,
    },
  );
}

async function readUserFile(root: string, file: string): Promise<string> {
  const host = await resolveInRoot(root, file);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(host, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return "";
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new KilnError("FAILED_PRECONDITION", `${file} is not a regular file`);
    if (st.size > MAX_USER_FILE_BYTES) {
      throw new KilnError("FAILED_PRECONDITION", `${file} exceeds ${MAX_USER_FILE_BYTES} bytes`);
    }
    return (await handle.readFile()).toString("utf8");
  } finally {
    await handle.close();
  }
}

function parseId(field: string | undefined, file: string): number {
  const id = Number(field);
  if (field === undefined || field === "" || !Number.isInteger(id) || id < 0) {
    throw new KilnError("INVALID_ARGUMENT", `malformed entry in ${file}: id ${JSON.stringify(field)}`);
  }
  return id;
}
