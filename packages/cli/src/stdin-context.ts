import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KilnError } from "@kiln/core";

/** Where the build reads from after `-` (context on stdin) and `-f -` (Dockerfile on stdin). */
export interface StdinContext {
  readonly contextDir: string | undefined;
  readonly dockerfile: string | undefined;
  cleanup(): Promise<void>;
}

/**
 * buildx's stdin forms: `build -` reads a context tar (plain or gzip/bzip2/xz/zstd) or, when the input
 * is not an archive, a Dockerfile with an empty context; `build -f - DIR` reads the Dockerfile from
 * stdin. Both are written to a temporary directory that `cleanup` removes.
 */
export async function readStdinContext(
  context: string,
  file: string | undefined,
  stdin: AsyncIterable<Buffer | string>,
): Promise<StdinContext | undefined> {
  if (context !== "-" && file !== "-") return undefined;
  if (context === "-" && file === "-") {
    throw new KilnError(
      "INVALID_ARGUMENT",
      "invalid argument: can't use stdin for both build context and dockerfile",
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
  const data = Buffer.concat(chunks);
  const dir = await mkdtemp(join(tmpdir(), "kiln-stdin-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    if (file === "-") {
      await writeFile(join(dir, "Dockerfile"), data);
      return { contextDir: undefined, dockerfile: join(dir, "Dockerfile"), cleanup };
    }
    const contextDir = join(dir, "context");
    await mkdir(contextDir);
    if (!isArchive(data)) {
      await writeFile(join(dir, "Dockerfile"), data);
      return { contextDir, dockerfile: join(dir, "Dockerfile"), cleanup };
    }
    await writeFile(join(dir, "context.tar"), data);
    try {
      // GNU tar detects the compression of a file by itself.
      await promisify(execFile)("tar", [
        "-xf",
        join(dir, "context.tar"),
        "-C",
        contextDir,
        "--no-same-owner",
      ]);
    } catch (cause) {
      throw new KilnError("INVALID_ARGUMENT", "cannot unpack the build context read from stdin", { cause });
    }
    return { contextDir, dockerfile: file === undefined ? undefined : join(contextDir, file), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

const MAGIC = [
  [0x42, 0x5a, 0x68], // bzip2
  [0x1f, 0x8b, 0x08], // gzip
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], // xz
  [0x28, 0xb5, 0x2f, 0xfd], // zstd
];

/** Compressed data, or a tar header (valid checksum), as BuildKit's archive detection decides. */
function isArchive(data: Buffer): boolean {
  if (MAGIC.some((m) => m.every((b, i) => data[i] === b))) return true;
  if (data.length < 512) return false;
  const header = data.subarray(0, 512);
  const stored = Number.parseInt(header.subarray(148, 156).toString("latin1").replace(/\0.*$/, "").trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  return sum === stored;
}
