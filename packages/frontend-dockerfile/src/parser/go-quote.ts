/**
 * Go's `strconv.Quote` and `fmt`'s `%q` on a `[]string`, reproduced so that `dump()` output is
 * byte-identical to BuildKit's `Node.Dump` (the parser conformance files are compared verbatim).
 */

// Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  7: "\\a",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t",
  11: "\\v",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** `strconv.Quote(s)`: a double-quoted Go string literal. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    let cp = ch.codePointAt(0) ?? 0;
    // A lone surrogate cannot exist in Go's UTF-8 strings; Go would see U+FFFD there.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp === 0x22 || cp === 0x5c) {
      out += `\\${ch}`;
    } else if (cp === 0xfffd || GO_PRINTABLE.test(ch)) {
      out += String.fromCodePoint(cp);
    } else if (SHORT_ESCAPES[cp] !== undefined) {
      out += SHORT_ESCAPES[cp];
    } else if (cp < 0x20 || cp === 0x7f) {
      out += `\\x${hex(cp, 2)}`;
    } else if (cp < 0x10000) {
      out += `\\u${hex(cp, 4)}`;
    } else {
      out += `\\U${hex(cp, 8)}`;
    }
  }
  return `${out}"`;
}

/** `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}
