/**
 * Go `time.ParseDuration` (HEALTHCHECK intervals): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
 * ns, us/µs/μs, ms, s, m, h. Returns nanoseconds. BigInt keeps Go's int64 overflow checks exact;
 * the result is returned as a number (exact up to ~104 days).
 */
import { goQuote } from "../parser/go-quote.js";
import { fail } from "./errors.js";

const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX = 1n << 63n;

export function parseGoDuration(input: string): number {
  const invalid = (): never => fail(`time: invalid duration ${goQuote(input)}`);
  let s = input;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") invalid();
  let total = 0n;
  while (s !== "") {
    if (!/^[0-9.]/.test(s)) invalid();
    const intPart = /^[0-9]*/.exec(s)?.[0] ?? "";
    s = s.slice(intPart.length);
    let v = intPart === "" ? 0n : BigInt(intPart);
    if (v > MAX - 1n) invalid(); // Go's leadingInt overflows past int64
    let frac = 0n;
    let scale = 1;
    let post = false;
    if (s.startsWith(".")) {
      const digits = /^[0-9]*/.exec(s.slice(1))?.[0] ?? "";
      s = s.slice(1 + digits.length);
      post = digits.length > 0;
      // Go stops accumulating fraction digits once they would overflow, but still consumes them.
      for (const d of digits) {
        const next = frac * 10n + BigInt(d);
        if (frac > (MAX - 1n) / 10n || next > MAX) break;
        frac = next;
        scale *= 10;
      }
    }
    if (intPart === "" && !post) invalid();
    const unitText = /^[^0-9.]*/.exec(s)?.[0] ?? "";
    if (unitText === "") fail(`time: missing unit in duration ${goQuote(input)}`);
    s = s.slice(unitText.length);
    const unit = UNITS[unitText];
    if (unit === undefined) fail(`time: unknown unit ${goQuote(unitText)} in duration ${goQuote(input)}`);
    if (v > MAX / unit) invalid();
    v *= unit;
    if (frac > 0n) {
      // Go uses float64 here to stay nanosecond-accurate for fractions of hours.
      v += BigInt(Math.trunc(Number(frac) * (Number(unit) / scale)));
      if (v > MAX) invalid();
    }
    total += v;
    if (total > MAX) invalid();
  }
  if (!neg && total > MAX - 1n) invalid();
  return Number(neg ? -total : total);
}
