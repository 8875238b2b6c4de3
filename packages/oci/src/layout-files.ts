import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type Descriptor, type Digest, isDigest, KilnError } from "@kiln/core";
import { errno } from "./content-store.js";
import type { ImageIndex, ImageManifest } from "./types.js";

/*
 * Reading and checking the files of an OCI layout. Every failure names the file and says what to do,
 * because these errors reach users who pointed kiln at a directory (`oci-layout://…` contexts).
 */

const LAYOUT_HINT =
  "the directory must be an OCI image layout (oci-layout, index.json, blobs/sha256/…); " +
  "an OCI tar archive must be extracted first";

export async function readLayoutFile(
  path: string,
  what: string,
  o?: { signal?: AbortSignal },
): Promise<Buffer> {
  try {
    return await readFile(path, { signal: o?.signal });
  } catch (err) {
    const code = errno(err);
    if (code === "ENOENT") {
      throw new KilnError("NOT_FOUND", `${what} not found: ${path}`, { cause: err, hint: LAYOUT_HINT });
    }
    if (code === "EISDIR" || code === "ENOTDIR") {
      throw new KilnError("INVALID_ARGUMENT", `${what} is not a regular file: ${path}`, {
        cause: err,
        hint: LAYOUT_HINT,
      });
    }
    throw err;
  }
}

export function parseLayoutJson(bytes: Buffer, path: string, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new KilnError("INVALID_ARGUMENT", `${what} is not valid JSON: ${path}`, {
      cause: err,
      hint: LAYOUT_HINT,
    });
  }
}

export function verifyBlob(bytes: Buffer, expected: Digest, path: string, expectedSize?: number): void {
  const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (actual !== expected || (expectedSize !== undefined && bytes.length !== expectedSize)) {
    throw new KilnError(
      "DATA_LOSS",
      `blob ${path} does not match its digest ${expected} (got ${actual}, ${bytes.length} bytes)`,
      {
        hint: "the layout is corrupted; re-export it",
        details: { expected, actual, size: bytes.length, expectedSize },
      },
    );
  }
}

function malformed(path: string, what: string, why: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `${what} ${path} is malformed: ${why}`, { hint: LAYOUT_HINT });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function checkDescriptor(value: unknown, path: string, what: string): Descriptor {
  if (!isObject(value)) throw malformed(path, what, "a descriptor is not an object");
  if (typeof value.mediaType !== "string") throw malformed(path, what, "a descriptor has no mediaType");
  if (!isDigest(value.digest))
    throw malformed(path, what, `unsupported or invalid digest ${JSON.stringify(value.digest)}`);
  if (!Number.isSafeInteger(value.size) || (value.size as number) < 0) {
    throw malformed(path, what, `descriptor ${value.digest} has an invalid size`);
  }
  return value as unknown as Descriptor;
}

export function checkIndex(value: unknown, path: string, what: string): ImageIndex {
  if (!isObject(value) || value.schemaVersion !== 2) throw malformed(path, what, "schemaVersion must be 2");
  if (!Array.isArray(value.manifests)) throw malformed(path, what, "manifests is not a list");
  for (const m of value.manifests) checkDescriptor(m, path, what);
  return value as unknown as ImageIndex;
}

export function checkManifest(value: unknown, path: string, what: string): ImageManifest {
  if (!isObject(value) || value.schemaVersion !== 2) throw malformed(path, what, "schemaVersion must be 2");
  checkDescriptor(value.config, path, what);
  if (!Array.isArray(value.layers)) throw malformed(path, what, "layers is not a list");
  for (const l of value.layers) checkDescriptor(l, path, what);
  return value as unknown as ImageManifest;
}

export function checkConfigObject(value: unknown, path: string): void {
  if (!isObject(value)) throw malformed(path, "image config", "not a JSON object");
  if (value.rootfs !== undefined && !isObject(value.rootfs))
    throw malformed(path, "image config", "rootfs is not an object");
}

/** Whether a blob body is an index, judged by its `mediaType` field or, failing that, its shape. */
export function looksLikeIndex(value: unknown): boolean {
  return (
    isObject(value) &&
    (typeof value.mediaType === "string"
      ? value.mediaType.includes("index") || value.mediaType.includes("list")
      : Array.isArray(value.manifests))
  );
}
