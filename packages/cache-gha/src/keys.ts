import { createHash } from "node:crypto";
import type { Digest } from "@kiln/core";

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The `version` every entry is stored under: go-actions-cache hashes a constant (not paths, like
 * @actions/cache does), so BuildKit and kiln see each other's entries.
 */
export const CACHE_VERSION = sha256Hex("|go-actionscache-1.0");

/** BuildKit's blob key: `buildkit-blob-1-sha256:<hex>`. */
export const blobKey = (digest: Digest): string => `buildkit-blob-1-${digest}`;

/**
 * BuildKit's index key for a cache scope as seen from one token scope (git ref):
 * `index-<scope>-1-<first 8 hex of sha256(ref)>`. Index versions live under `<key>#<n>`.
 */
export const indexKey = (scope: string, ref: string): string =>
  `index-${scope}-1-${sha256Hex(ref).slice(0, 8)}`;

/** Permission bits of a runtime token's `ac` claim. */
const READ = 1;
const WRITE = 2;

export interface TokenScopes {
  /** The ref entries are written in (the last scope with write permission; "" when unknown). */
  readonly write: string;
  /** Other refs the token may read, in the token's order (e.g. a pull request's base branch). */
  readonly readOnly: readonly string[];
}

/**
 * Reads the scopes from a runner token (a JWT whose `ac` claim is a JSON string of `{Scope, Permission}`).
 * The signature is not checked: the service does that. Anything unreadable gives the empty scope,
 * so an opaque token still works (its index key then hashes "").
 */
export function tokenScopes(token: string): TokenScopes {
  try {
    const payload = token.split(".")[1];
    if (!payload) return { write: "", readOnly: [] };
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { ac?: unknown };
    if (typeof claims.ac !== "string") return { write: "", readOnly: [] };
    const entries = (JSON.parse(claims.ac) as { Scope?: unknown; Permission?: unknown }[]).filter(
      (e) => typeof e.Scope === "string" && typeof e.Permission === "number",
    ) as { Scope: string; Permission: number }[];
    const write = entries.filter((e) => e.Permission & WRITE).at(-1)?.Scope ?? "";
    const readOnly = entries.filter((e) => e.Permission & READ && e.Scope !== write).map((e) => e.Scope);
    return { write, readOnly: [...new Set(readOnly)] };
  } catch {
    return { write: "", readOnly: [] };
  }
}
