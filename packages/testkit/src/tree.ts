import { spawnSync } from "node:child_process";
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";

interface Owned {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Seconds since the epoch (fractions allowed) or a Date. */
  readonly mtime?: number | Date;
}

/** One node of a declarative tree; a plain string is a 0644 file with that content. */
export type TreeNode =
  | string
  | (Owned & { readonly type: "file"; readonly content?: string | Uint8Array })
  | (Owned & { readonly type: "dir" })
  | (Omit<Owned, "mode"> & { readonly type: "symlink"; readonly target: string })
  /** A second name for the file at tree path `target` (which must be in the same spec or on disk). */
  | { readonly type: "hardlink"; readonly target: string }
  | (Owned & { readonly type: "fifo" });

/** Tree paths (`etc/passwd`, no leading `/`) → nodes. Missing parent directories are created 0755. */
export type TreeSpec = Readonly<Record<string, TreeNode>>;

/** What readTree reports for a path; hardlinks are reported from the second name (in path order) on. */
export type TreeEntryInfo =
  | { type: "file"; mode: number; uid: number; gid: number; content: string; mtime?: number }
  | { type: "dir"; mode: number; uid: number; gid: number; mtime?: number }
  | { type: "symlink"; target: string; uid: number; gid: number; mtime?: number }
  | { type: "hardlink"; target: string }
  | { type: "fifo" | "socket"; mode: number; uid: number; gid: number; mtime?: number }
  | { type: "char" | "block"; rdev: number; mode: number; uid: number; gid: number; mtime?: number };

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const toSeconds = (t: number | Date) => (typeof t === "number" ? t : t.getTime() / 1000);

/** Creates `spec` under `dir` (which may exist). Ownership needs root; times are applied last. */
export async function writeTree(dir: string, spec: TreeSpec): Promise<void> {
  const paths = Object.keys(spec).sort(byBytes);
  const isLink = (p: string) => (spec[p] as { type?: string }).type === "hardlink";
  const dirTimes: [string, number][] = [];
  for (const path of [...paths.filter((p) => !isLink(p)), ...paths.filter(isLink)]) {
    const node = spec[path] as TreeNode;
    const host = join(dir, path);
    await mkdir(dirname(host), { recursive: true, mode: 0o755 });
    const n = typeof node === "string" ? ({ type: "file", content: node } as const) : node;
    switch (n.type) {
      case "file":
        await writeFile(host, n.content ?? "");
        break;
      case "dir":
        await mkdir(host, { recursive: true });
        break;
      case "symlink":
        await symlink(n.target, host);
        break;
      case "hardlink":
        await link(join(dir, n.target), host);
        continue;
      case "fifo":
        if (spawnSync("mkfifo", [host]).status !== 0) throw new Error(`mkfifo ${host} failed`);
        break;
    }
    if (n.uid !== undefined || n.gid !== undefined) await lchown(host, n.uid ?? 0, n.gid ?? 0);
    if (n.type !== "symlink") await chmod(host, n.mode ?? (n.type === "dir" ? 0o755 : 0o644));
    if (n.mtime === undefined) continue;
    if (n.type === "dir") dirTimes.push([host, toSeconds(n.mtime)]);
    else if (n.type === "symlink") await lutimes(host, toSeconds(n.mtime), toSeconds(n.mtime));
    else await utimes(host, toSeconds(n.mtime), toSeconds(n.mtime));
  }
  for (const [host, t] of dirTimes.reverse()) await utimes(host, t, t);
}

export interface ReadTreeOptions {
  /** Include mtimes (seconds, with the precision the file system and Node give). */
  readonly mtimes?: boolean;
}

/** Reads every path under `dir` (not `dir` itself), sorted by bytes, for `expect(...).toEqual`. */
export async function readTree(dir: string, o: ReadTreeOptions = {}): Promise<Record<string, TreeEntryInfo>> {
  const out: Record<string, TreeEntryInfo> = {};
  const inodes = new Map<string, string>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort(byBytes)) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const host = join(dir, path);
      const st = await lstat(host, { bigint: true });
      const owner = { uid: Number(st.uid), gid: Number(st.gid) };
      const mode = Number(st.mode & 0o7777n);
      const mtime = o.mtimes ? { mtime: Number(st.mtimeNs) / 1e9 } : {};
      const inode = `${st.dev}:${st.ino}`;
      if (!st.isDirectory() && st.nlink > 1n && inodes.has(inode)) {
        out[path] = { type: "hardlink", target: inodes.get(inode) as string };
        continue;
      }
      inodes.set(inode, path);
      if (st.isDirectory()) {
        out[path] = { type: "dir", mode, ...owner, ...mtime };
        await visit(path);
      } else if (st.isFile()) {
        out[path] = { type: "file", mode, ...owner, content: decode(await readFile(host)), ...mtime };
      } else if (st.isSymbolicLink()) {
        out[path] = { type: "symlink", target: await readlink(host), ...owner, ...mtime };
      } else {
        const device = st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : undefined;
        if (device) out[path] = { type: device, rdev: Number(st.rdev), mode, ...owner, ...mtime };
        else out[path] = { type: st.isFIFO() ? "fifo" : "socket", mode, ...owner, ...mtime };
      }
    }
  };
  await visit("");
  return out;
}

/** UTF-8 text as is; anything else as `base64:<data>` so binary content still compares exactly. */
function decode(data: Buffer): string {
  const text = data.toString("utf8");
  return Buffer.from(text, "utf8").equals(data) ? text : `base64:${data.toString("base64")}`;
}
