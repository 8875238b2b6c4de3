import { createHmac, timingSafeEqual } from "node:crypto";

/** A cache scope (a git ref) and what a runtime token may do in it: 1 read, 2 write, 3 both. */
export interface GhaCacheScope {
  readonly scope: string;
  readonly permission: number;
}

export const READ = 1;
export const WRITE = 2;

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/**
 * Issues a runtime token shaped like the runner's ACTIONS_RUNTIME_TOKEN: an HS256 JWT whose `ac` claim
 * is a JSON *string* listing `{Scope, Permission}` (go-actions-cache and BuildKit read the scopes from it;
 * the index key hashes the writable scope).
 */
export function mintRuntimeToken(
  secret: Buffer,
  scopes: readonly GhaCacheScope[],
  ttlSeconds = 3600,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const ac = JSON.stringify(scopes.map((s) => ({ Scope: s.scope, Permission: s.permission })));
  const payload = b64url(JSON.stringify({ ac, nbf: now - 60, iat: now - 60, exp: now + ttlSeconds }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** The scopes of a token this server issued and that has not expired; undefined when it is not valid. */
export function verifyRuntimeToken(secret: Buffer, token: string): GhaCacheScope[] | undefined {
  const [header, payload, signature, ...rest] = token.split(".");
  if (!header || !payload || !signature || rest.length > 0) return undefined;
  const expected = createHmac("sha256", secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as { ac?: string; exp?: number };
    if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) return undefined;
    const ac = JSON.parse(claims.ac ?? "[]") as { Scope: string; Permission: number }[];
    return ac.map((s) => ({ scope: s.Scope, permission: s.Permission }));
  } catch {
    return undefined;
  }
}

/**
 * Where a token writes (the last scope with write permission, as go-actions-cache picks it) and the order
 * in which lookups search: the writable scope first, then the other readable ones as listed (the
 * service searches the current branch, then the base and default branches).
 */
export function scopeOrder(scopes: readonly GhaCacheScope[]): { write?: string; read: string[] } {
  const write = scopes.filter((s) => s.permission & WRITE).at(-1)?.scope;
  const readable = scopes.filter((s) => s.permission & READ).map((s) => s.scope);
  const read = write === undefined ? readable : [write, ...readable.filter((s) => s !== write)];
  return { write, read: [...new Set(read)] };
}
