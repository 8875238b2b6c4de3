/**
 * Go `unicode` predicates used by BuildKit's lexers. JavaScript's `\s`/`\d` differ from Go's
 * (`\s` includes U+FEFF, misses U+0085), so the Go definitions are spelled out here.
 */

const WHITE_SPACE = /^\p{White_Space}$/u;
const LETTER = /^\p{L}$/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Go `unicode.IsSpace` for one code point (given as a string). */
export function isSpace(ch: string): boolean {
  return WHITE_SPACE.test(ch);
}

/** Go `unicode.IsLetter`. */
export function isLetter(ch: string): boolean {
  return LETTER.test(ch);
}

/** Go `unicode.IsDigit` (Unicode decimal digits, not only ASCII). */
export function isDigit(ch: string): boolean {
  return DECIMAL_DIGIT.test(ch);
}

/** Go `strings.TrimSpace`. */
export function trimSpace(s: string): string {
  return trimRightSpace(trimLeftSpace(s));
}

/** Go `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftSpace(s: string): string {
  let i = 0;
  for (const ch of s) {
    if (!isSpace(ch)) break;
    i += ch.length;
  }
  return s.slice(i);
}

/** Go `strings.TrimRightFunc(s, unicode.IsSpace)`. */
export function trimRightSpace(s: string): string {
  const chars = Array.from(s);
  let end = chars.length;
  while (end > 0 && isSpace(chars[end - 1] as string)) end--;
  return chars.slice(0, end).join("");
}
