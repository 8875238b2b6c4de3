/**
 * Locates the shared BuildKit conformance data (`<repo>/../shared/conformance`). Tests read it at
 * run time instead of copying it, so the data stays a single source of truth.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../../../../../shared/conformance/", import.meta.url);

export const conformanceRoot: string = fileURLToPath(root);

export function conformancePath(relative: string): string {
  return fileURLToPath(new URL(relative, root));
}

export function readConformance(relative: string): string {
  return readFileSync(conformancePath(relative), "utf8");
}

export function readConformanceBytes(relative: string): Uint8Array {
  return readFileSync(conformancePath(relative));
}

export function listConformanceDir(relative: string): string[] {
  return readdirSync(conformancePath(relative)).sort();
}

export function conformanceExists(relative: string): boolean {
  return existsSync(conformancePath(relative));
}
