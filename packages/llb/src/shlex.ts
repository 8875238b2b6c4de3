import { KilnError } from "@kiln/core";

const SPACE = new Set([" ", "\t", "\r", "\n"]);

/**
 * Splits a command line into words the way BuildKit's `Shlex` run option does (POSIX-like rules of
 * google/shlex): whitespace separates words, single quotes are literal, double quotes allow backslash
 * escapes, a backslash outside quotes escapes the next character, `#` at the start of a word starts a
 * comment that runs to the end of the line.
 */
export function shlexSplit(input: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const chars = [...input];
  const fail = (what: string): never => {
    throw new KilnError("INVALID_ARGUMENT", `cannot split command ${JSON.stringify(input)}: ${what}`, {
      hint: "pass the arguments as an array to avoid shell-style splitting",
    });
  };
  while (i < chars.length) {
    const c = chars[i++] as string;
    if (SPACE.has(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (c === "#" && !inWord) {
      while (i < chars.length && chars[i] !== "\n") i++;
    } else if (c === "\\") {
      if (i >= chars.length) fail("trailing backslash");
      word += chars[i++];
      inWord = true;
    } else if (c === "'") {
      const end = chars.indexOf("'", i);
      if (end < 0) fail("unclosed single quote");
      word += chars.slice(i, end).join("");
      i = end + 1;
      inWord = true;
    } else if (c === '"') {
      inWord = true;
      for (;;) {
        if (i >= chars.length) fail("unclosed double quote");
        const q = chars[i++] as string;
        if (q === '"') break;
        if (q === "\\") {
          if (i >= chars.length) fail("unclosed double quote");
          word += chars[i++];
        } else word += q;
      }
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
