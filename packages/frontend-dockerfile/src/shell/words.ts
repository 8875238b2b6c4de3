/** Building blocks shared by the lexer: its error type and the word-splitting accumulator. */
import { isSpace } from "./chars.js";

/** Internal syntax error, wrapped into a KilnError with the offending word at the API boundary. */
export class LexError extends Error {}

/** The scanner returns "" at end of input (Go uses -1). */
export const EOF = "";

/** Accumulates characters into words; unquoted whitespace ends a word. */
export class WordsBuilder {
  private buf = "";
  private inWord = false;
  readonly words: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length > 0) {
        this.words.push(this.buf);
        this.buf = "";
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = "";
      this.inWord = false;
    }
    return this.words;
  }
}
