import { createHash } from "node:crypto";
import { KilnError } from "./errors.js";

/** A content address, always sha256 in kiln: `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST_RE.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new KilnError("INVALID_ARGUMENT", `invalid digest ${JSON.stringify(value)}`, {
      hint: "digests look like sha256:<64 hex characters>",
    });
  }
  return value;
}

/** sha256 of bytes or a UTF-8 string, as a Digest. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The hex part of a digest (for file names). */
export function digestHex(digest: Digest): string {
  return digest.slice("sha256:".length);
}
