import { KilnError } from "./errors.js";

/**
 * Value parsers for BuildKit cache attributes, each failing with INVALID_ARGUMENT that names the
 * attribute, so `--cache-to type=s3,touch_refresh=1d` says which part of the flag is wrong.
 */
export function invalidAttr(type: string, name: string, value: string, expected: string): KilnError {
  return new KilnError(
    "INVALID_ARGUMENT",
    `cache ${type}: attribute ${name}=${value} is invalid: ${expected}`,
    {
      hint: `fix ${name} in the --cache-to/--cache-from value`,
    },
  );
}

/** Go's strconv.ParseBool, which BuildKit uses for its boolean attributes. */
export function parseBoolAttr(type: string, name: string, value: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw invalidAttr(type, name, value, "expected true or false");
}

/** A decimal integer of at least `min`. */
export function parseIntAttr(type: string, name: string, value: string, min: number): number {
  if (!/^[+]?\d+$/.test(value.trim())) throw invalidAttr(type, name, value, "expected an integer");
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min) throw invalidAttr(type, name, value, `expected at least ${min}`);
  return n;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration (`24h`, `1h30m`, `1.5h`, `300ms`, `0`) in milliseconds. Negative durations are
 * refused: an age limit below zero means nothing.
 */
export function parseDurationAttr(type: string, name: string, value: string): number {
  const text = value.trim();
  if (text === "0") return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) break;
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    at = part.lastIndex;
  }
  if (text.length === 0 || at !== text.length) {
    throw invalidAttr(type, name, value, "expected a Go duration such as 24h, 90m or 1h30m");
  }
  return total;
}

/**
 * Refuses attributes the backend does not know, naming them; `known` lists the backend's own plus
 * the ones every cache backend shares (handled by the cache layer, not the store).
 */
export function rejectUnknownAttrs(
  type: string,
  attrs: Readonly<Record<string, string>>,
  known: ReadonlySet<string>,
): void {
  const unknown = Object.keys(attrs).filter((k) => !known.has(k));
  if (unknown.length === 0) return;
  throw new KilnError(
    "INVALID_ARGUMENT",
    `cache ${type}: unknown attribute${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}`,
    { hint: `the ${type} cache accepts: ${[...known].sort().join(", ")}` },
  );
}

/** Attributes every BuildKit cache backend accepts; the cache layer interprets them. */
export const SHARED_CACHE_ATTRS: readonly string[] = ["type", "mode", "ignore-error"];

/** `type=` when present must name this backend (a caller passing the whole `type=…,k=v` map). */
export function checkTypeAttr(type: string, attrs: Readonly<Record<string, string>>): void {
  const given = attrs.type;
  if (given !== undefined && given !== type) throw invalidAttr(type, "type", given, `expected ${type}`);
}
