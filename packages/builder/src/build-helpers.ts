import { accessSync, constants } from "node:fs";
import { readFile } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";
import {
  type CallOptions,
  isKilnError,
  KilnError,
  type Platform,
  type ProgressWriter,
  type Ref,
  type SourceLocation,
} from "@kiln/core";
import { marshal, type State } from "@kiln/llb";
import { type createSolver, vertexGraph } from "@kiln/solver";
import type { SecretSource } from "./builder.js";

/** Helpers of `createBuilder` that need none of its state. */
export function withLocation(err: unknown, locations: Readonly<Record<string, SourceLocation>>): unknown {
  if (!isKilnError(err) || err.location || !err.vertex) return err;
  const location = locations[err.vertex];
  if (!location) return err;
  return new KilnError(err.code, err.message, {
    location,
    cause: err.cause,
    vertex: err.vertex,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(err.details ? { details: err.details } : {}),
  });
}

/** The runtime binary on PATH (plus the sbin directories, where Debian installs runc). */
export function findExecutable(name: string): string | undefined {
  const dirs = isAbsolute(name)
    ? [""]
    : [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const path = dir ? join(dir, name) : name;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return undefined;
}

export async function readSecret(source: SecretSource | undefined): Promise<Uint8Array | undefined> {
  if (!source) return undefined;
  if ("value" in source) return source.value;
  if ("env" in source) {
    const value = process.env[source.env];
    return value === undefined ? undefined : Buffer.from(value);
  }
  try {
    return await readFile(source.file);
  } catch (cause) {
    throw new KilnError("NOT_FOUND", `cannot read secret file ${source.file}`, { cause });
  }
}

/** Solves one LLB state (a remote context) with `solver` and returns its result. */
export function stateSolver(
  solver: ReturnType<typeof createSolver<Ref>>,
  platform: Platform,
  progress: ProgressWriter,
): (state: State, o?: CallOptions) => Promise<Ref> {
  return async (state, o) => {
    const definition = marshal(state, { platform, localUniqueId: "kiln" });
    const solved = await solver.solve(vertexGraph(definition), {
      progress,
      ...(o?.signal ? { signal: o.signal } : {}),
    });
    return solved.result;
  };
}
