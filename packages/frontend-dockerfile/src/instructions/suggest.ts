/**
 * "did you mean X?" suggestions, with BuildKit's rule: the closest option within Levenshtein
 * distance < 3 (insert/delete/substitute cost 1), no suggestion for an exact match.
 */

function levenshtein(a: string, b: string): number {
  const s = Array.from(a);
  const t = Array.from(b);
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[t.length] as number;
}

/** Returns the suggested option, cased like `value` when matching case-insensitively. */
export function suggest(
  value: string,
  options: readonly string[],
  caseSensitive: boolean,
): string | undefined {
  const val = caseSensitive ? value : value.toLowerCase();
  let best: string | undefined;
  let minDist = 3;
  for (const option of options) {
    const opt = caseSensitive ? option : option.toLowerCase();
    if (opt === val) return undefined;
    const dist = levenshtein(val, opt);
    if (dist < minDist) {
      minDist = dist;
      best = caseSensitive ? opt : matchCase(opt, value);
    }
  }
  return best;
}

function matchCase(candidate: string, original: string): string {
  if (original === original.toLowerCase()) return candidate.toLowerCase();
  if (original === original.toUpperCase()) return candidate.toUpperCase();
  return candidate;
}

/** Appends BuildKit's ` (did you mean X?)` to a message when a suggestion exists. */
export function withSuggestion(
  message: string,
  value: string,
  options: readonly string[],
  caseSensitive: boolean,
): { message: string; hint: string | undefined } {
  const match = suggest(value, options, caseSensitive);
  return match === undefined
    ? { message, hint: undefined }
    : { message: `${message} (did you mean ${match}?)`, hint: `did you mean ${match}?` };
}
