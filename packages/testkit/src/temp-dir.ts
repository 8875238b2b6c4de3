import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  readonly path: string;
  /** Deletes the directory and everything in it; idempotent. */
  cleanup(): Promise<void>;
}

/** A fresh directory under the OS temp dir (`$TMPDIR`), named `kiln-<prefix>-XXXXXX`. */
export async function makeTempDir(prefix = "test"): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `kiln-${prefix}-`));
  const cleanup = () => rm(path, { recursive: true, force: true, maxRetries: 3 });
  return { path, cleanup };
}
