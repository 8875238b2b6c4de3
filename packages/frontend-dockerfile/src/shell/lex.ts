/**
 * Shell-like word processing for Dockerfile arguments (BuildKit `shell/lex.go` semantics): quote
 * removal, escapes, `$var`/`${var…}` expansion and word splitting. It is deliberately not a shell:
 * no command substitution, globbing or arithmetic — only what Dockerfile instructions expand.
 */
import { KilnError } from "@kiln/core";
import { goQuote } from "../parser/go-quote.js";
import { isDigit, isLetter } from "./chars.js";
import { type EnvLookup, type EnvSource, toEnvLookup } from "./env.js";
import { PatternError, replacePattern, trimPrefix, trimSuffix } from "./pattern.js";
import { EOF, LexError, WordsBuilder } from "./words.js";

export type EscapeToken = "\\" | "`";

export interface LexerOptions {
  /** Keep quote characters in the output (used to detect quoted heredoc words). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  readonly rawEscapes?: boolean;
  /** Treat `'` and `"` as ordinary characters. */
  readonly skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (`$x`, `${x:-y}`) instead of expanding them. */
  readonly skipUnsetEnv?: boolean;
}

export interface ProcessWordResult {
  /** The processed word (quotes removed, variables expanded, no splitting). */
  readonly result: string;
  /** The same input split on unquoted whitespace (including whitespace coming from expansions). */
  readonly words: readonly string[];
  /** Variables that were referenced and set. */
  readonly matched: ReadonlySet<string>;
  /** Variables that were referenced but unset. */
  readonly unmatched: ReadonlySet<string>;
}

export interface ShellLexer {
  readonly escapeToken: EscapeToken;
  /** Expands one word; throws `KilnError("INVALID_ARGUMENT")` on syntax errors and `${x?msg}`. */
  processWord(word: string, env: EnvSource): string;
  /** Expands and splits into words on unquoted whitespace. */
  processWords(word: string, env: EnvSource): string[];
  /** `processWord` plus the matched/unmatched variable names (for lint-style checks). */
  processWordWithMatches(word: string, env: EnvSource): ProcessWordResult;
}

/** One `process` call: a code-point scanner over the word plus expansion state. */
class WordProcessor {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly escapeToken: EscapeToken,
    private readonly opts: LexerOptions,
  ) {
    this.chars = Array.from(word);
    // Go's text/scanner silently drops a leading byte-order mark.
    if (this.chars[0] === "\uFEFF") this.pos = 1;
    this.rawEscapes = opts.rawEscapes ?? false;
  }

  peek(): string {
    return this.chars[this.pos] ?? EOF;
  }

  next(): string {
    const ch = this.chars[this.pos] ?? EOF;
    if (ch !== EOF) this.pos++;
    return ch;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  /** Processes until `stop` (consumed) or end of input; `EOF` as stop means "whole input". */
  processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = "";
      const words = new WordsBuilder();
      const quotes = !this.opts.skipProcessQuotes;
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words.finish() };
        }
        if (ch === "$") {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp); // unquoted expansion results are subject to word splitting
        } else if (ch === "<" || (quotes && (ch === "'" || ch === '"'))) {
          const tmp =
            ch === "<" ? this.processPossibleHeredoc() : ch === "'" ? this.singleQuote() : this.doubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          ch = this.next();
          if (ch === this.escapeToken) {
            if (this.rawEscapes) {
              words.addRawChar(ch);
              result += ch;
            }
            ch = this.next();
            if (ch === EOF) break; // a trailing escape is dropped
            words.addRawChar(ch);
          } else {
            words.addChar(ch);
          }
          result += ch;
        }
      }
      if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private singleQuote(): string {
    // Everything up to the next ' is literal; a single quote cannot be escaped inside.
    let result = "";
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF)
        throw new LexError("unexpected end of statement while looking for matching single-quote");
      if (ch === "'") return this.opts.rawQuotes ? result + ch : result;
      result += ch;
    }
  }

  private doubleQuote(): string {
    // Literal except `$` expansions; the escape token only escapes `"`, `$` and itself.
    let result = "";
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const peek = this.peek();
      if (peek === EOF)
        throw new LexError("unexpected end of statement while looking for matching double-quote");
      if (peek === '"') {
        const close = this.next();
        return this.opts.rawQuotes ? result + close : result;
      }
      if (peek === "$") {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === EOF) continue; // the missing closing quote is reported next iteration
        if (after === '"' || after === "$" || after === this.escapeToken) ch = this.next();
      }
      result += ch;
    }
  }

  /** `<<` plus following blanks stays glued to the next word so `RUN cat << EOF` finds the heredoc. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== "<") return "<";
    this.next();
    let result = "<<";
    while (this.peek() === "\t" || this.peek() === "\r" || this.peek() === " ") result += this.next();
    return result;
  }

  private getEnv(name: string): string | undefined {
    const value = this.env(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  private processDollar(): string {
    this.next(); // the `$`
    if (this.peek() !== "{") {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `$${name}`;
      return value ?? "";
    }
    this.next(); // the `{`
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new LexError("syntax error: bad substitution");
    const name = this.processName();
    let op = this.next();
    let ops = op || "\uFFFD"; // Go prints end of input as U+FFFD in this message
    if (op === "}") {
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value ?? "";
    }
    if (op === "/") return this.processReplace(name);
    let nullIsUnset = false;
    if (op === ":") {
      nullIsUnset = true;
      op = this.next();
      ops += op || "\uFFFD";
    } else if (!"+-?#%".includes(op) || op === EOF) {
      throw new LexError(`unsupported modifier (${ops}) in substitution`);
    }
    const patternOp = op === "#" || op === "%";
    if (nullIsUnset && patternOp) throw new LexError(`unsupported modifier (${ops}) in substitution`);
    let word = this.stopOnBrace(patternOp);
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}${ops}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === "");
    switch (op) {
      case "-":
        return unset ? word : (value ?? "");
      case "+":
        return unset ? "" : word;
      case "?":
        if (value === undefined) throw new LexError(`${name}: ${word || "is not allowed to be unset"}`);
        if (unset) throw new LexError(`${name}: ${word || "is not allowed to be empty"}`);
        return value;
      case "#":
      case "%": {
        // `#`/`%` remove the shortest match, `##`/`%%` the longest.
        const greedy = word.startsWith(op);
        if (greedy) word = word.slice(1);
        return this.patternCall(() =>
          op === "%" ? trimSuffix(word, value ?? "", greedy) : trimPrefix(word, value ?? "", greedy),
        );
      }
      default:
        throw new LexError(`unsupported modifier (${ops}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === "/";
    if (all) this.next();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: literal text of BuildKit's message
    const pattern = this.stopOn("/", "syntax error: missing '/' in ${}");
    const replacement = this.stopOn("}", "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
    return this.patternCall(() => replacePattern(pattern, value ?? "", replacement, all));
  }

  private stopOnBrace(rawEscapes: boolean): string {
    return this.stopOn("}", "syntax error: missing '}'", rawEscapes);
  }

  /** Nested processing up to `stop`; running out of input is reported as the missing delimiter. */
  private stopOn(stop: string, missing: string, rawEscapes = true): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (this.peek() === EOF) throw new LexError(missing);
      throw err;
    }
  }

  private patternCall(fn: () => string): string {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PatternError) throw new LexError(err.message);
      throw err;
    }
  }

  /** A name is letters/digits/`_`; leading digits form a positional parameter; specials are one char. */
  private processName(): string {
    let name = "";
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === "" && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === "" && "@*#?-$!0".includes(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== "_") break;
      name += this.next();
    }
    return name;
  }
}

/** Creates a lexer for the Dockerfile's escape token (`\` by default, `` ` `` via `# escape=`). */
export function createLexer(escapeToken: EscapeToken = "\\", options: LexerOptions = {}): ShellLexer {
  const process = (word: string, env: EnvSource): ProcessWordResult => {
    const proc = new WordProcessor(word, toEnvLookup(env), escapeToken, options);
    try {
      const { result, words } = proc.run();
      return { result, words, matched: proc.matched, unmatched: proc.unmatched };
    } catch (err) {
      if (!(err instanceof LexError)) throw err;
      throw new KilnError("INVALID_ARGUMENT", `failed to process ${goQuote(word)}: ${err.message}`, {
        details: { word, matched: [...proc.matched], unmatched: [...proc.unmatched] },
      });
    }
  };
  return {
    escapeToken,
    processWord: (word, env) => process(word, env).result,
    processWords: (word, env) => [...process(word, env).words],
    processWordWithMatches: process,
  };
}
