import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { KilnError } from "@kiln/core";
import { exportError } from "./fs-errors.js";

/** Where an exporter writes a single stream: a file (`dest=out.tar`) or stdout (`dest=-`). */
export interface Destination {
  readonly stream: Writable;
  /** False for stdout: it must stay open for whatever the process writes next. */
  readonly end: boolean;
  /** Makes the output visible (renames the temp file into place). */
  commit(): Promise<void>;
  /** Removes a partial output. */
  abort(): Promise<void>;
}

/**
 * A file destination is written under a temp name next to `dest` and renamed when complete, so a
 * failed or canceled export never leaves a truncated archive where a good one is expected.
 */
export async function openDestination(dest: string, stdout: Writable | undefined): Promise<Destination> {
  if (dest === "-") {
    const stream = stdout ?? process.stdout;
    return { stream, end: false, commit: async () => {}, abort: async () => {} };
  }
  const target = resolve(dest);
  if ((await stat(target).catch(() => undefined))?.isDirectory()) {
    throw new KilnError("INVALID_ARGUMENT", `dest ${target} is a directory, not a file`, {
      hint: "name a file (dest=image.tar), or write an OCI layout directory with tar=false",
    });
  }
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.kiln-${randomBytes(6).toString("hex")}`);
  const stream = createWriteStream(tmp, { flags: "wx", mode: 0o644, flush: true });
  const closed = finished(stream).catch(() => {});
  return {
    stream,
    end: true,
    async commit() {
      await closed;
      await rename(tmp, target);
    },
    async abort() {
      stream.destroy();
      await closed;
      await rm(tmp, { force: true });
    },
  };
}

/** Runs `write` against a destination, committing on success and cleaning up on failure. */
export async function writeToDestination(
  dest: string,
  stdout: Writable | undefined,
  write: (out: Writable, end: boolean) => Promise<void>,
): Promise<void> {
  const destination = await openDestination(dest, stdout).catch((err: unknown) => {
    throw exportError(err, dest);
  });
  try {
    await write(destination.stream, destination.end);
    await destination.commit();
  } catch (err) {
    await destination.abort();
    throw exportError(err, dest);
  }
}
