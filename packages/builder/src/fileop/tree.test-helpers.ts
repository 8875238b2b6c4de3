import {
  chmod,
  lchown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";

/** One entry of a test tree: file contents, or a directory / symlink description. */
export type Spec =
  | string
  | { readonly dir: true; readonly mode?: number; readonly uid?: number; readonly gid?: number }
  | { readonly link: string }
  | {
      readonly data: string | Uint8Array;
      readonly mode?: number;
      readonly uid?: number;
      readonly gid?: number;
    };

const dirs: string[] = [];

/** A fresh temp directory, removed after the test. */
export async function tempDir(prefix = "kiln-fileop-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Creates entries in order (parents first): files 0644 and directories 0755 unless a mode is given. */
export async function makeTree(root: string, entries: Record<string, Spec>): Promise<string> {
  await chmod(root, 0o755);
  for (const [path, spec] of Object.entries(entries)) {
    const host = join(root, path);
    await mkdir(dirname(host), { recursive: true });
    if (typeof spec === "string" || "data" in spec) {
      const data = typeof spec === "string" ? spec : spec.data;
      await writeFile(host, data);
      await chmod(host, typeof spec === "string" ? 0o644 : (spec.mode ?? 0o644));
      if (typeof spec !== "string" && spec.uid !== undefined)
        await lchown(host, spec.uid, spec.gid ?? spec.uid);
    } else if ("dir" in spec) {
      await mkdir(host, { recursive: true });
      await chmod(host, spec.mode ?? 0o755);
      if (spec.uid !== undefined) await lchown(host, spec.uid, spec.gid ?? spec.uid);
    } else {
      await symlink(spec.link, host);
    }
  }
  return root;
}

/** A temp dir holding the given tree. */
export async function tree(entries: Record<string, Spec>): Promise<string> {
  return makeTree(await tempDir(), entries);
}

/** `path → "d 755 0:0" | "f 644 0:0 <content>" | "l -> target"` for every entry below `root`. */
export async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const host = join(dir, name);
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(host);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[path] = `l -> ${await readlink(host)}`;
      else if (st.isDirectory()) {
        out[path] = `d ${meta}`;
        await walk(host, path);
      } else if (st.isFile()) {
        const { readFile } = await import("node:fs/promises");
        out[path] = `f ${meta} ${(await readFile(host)).toString()}`;
      } else out[path] = `s ${meta}`;
    }
  };
  await walk(root, "");
  return out;
}
