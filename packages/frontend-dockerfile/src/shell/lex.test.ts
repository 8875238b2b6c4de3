// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell words with ${...} are the test inputs
import { KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createLexer } from "./lex.js";

describe("createLexer", () => {
  const lex = createLexer();

  it("accepts every env source shape", () => {
    const word = "$A-${B}-${C:-unset}";
    expect(lex.processWord(word, { A: "1", B: "2" })).toBe("1-2-unset");
    expect(lex.processWord(word, new Map([["A", "1"]]))).toBe("1--unset");
    expect(lex.processWord(word, ["A=0", "B=2", "A=1", "C"])).toBe("1-2-unset");
    expect(lex.processWord(word, [["C", "3"]])).toBe("--3");
    expect(lex.processWord(word, (name) => (name === "B" ? "x" : undefined))).toBe("-x-unset");
  });

  it("uses the backtick escape token", () => {
    const tick = createLexer("`");
    expect(tick.processWord('c:\\dir `$HOME "a`"b"', { HOME: "/h" })).toBe('c:\\dir $HOME a"b');
    expect(tick.processWords("a` b c", {})).toEqual(["a b", "c"]);
  });

  it("splits unquoted expansions but not quoted ones", () => {
    expect(lex.processWords("$X \"$X\" '$X'", { X: "a  b" })).toEqual(["a", "b", "a  b", "$X"]);
    expect(lex.processWords("cat <<EOF > out", {})).toEqual(["cat", "<<EOF", ">", "out"]);
  });

  it("reports matched and unmatched names", () => {
    const r = lex.processWordWithMatches("${A}${B:-x}$C", { A: "", C: "c" });
    expect(r.result).toBe("xc");
    expect([...r.matched].sort()).toEqual(["A", "C"]);
    expect([...r.unmatched]).toEqual(["B"]);
  });

  it("wraps errors in KilnError with the word quoted", () => {
    let err: unknown;
    try {
      lex.processWord("${NAME:?must be set}", {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe("INVALID_ARGUMENT");
    expect((err as KilnError).message).toBe('failed to process "${NAME:?must be set}": NAME: must be set');
    expect(() => lex.processWord("${X:%a}", {})).toThrow("unsupported modifier (:%) in substitution");
    expect(() => lex.processWord("${X/a}", { X: "a" })).toThrow("syntax error: missing '/' in ${}");
    expect(() => lex.processWord("${X/a/b", { X: "a" })).toThrow("syntax error: missing '}'");
  });

  it("replaces like Go regexp.ReplaceAllString", () => {
    expect(lex.processWord("${X//b*/-}", { X: "abc" })).toBe("a-");
    // An empty match right after a match is not replaced (JavaScript's replace would give "--").
    expect(lex.processWord("${X//*/-}", { X: "abc" })).toBe("-");
    // Escapes stay in pattern and replacement; the replace-all form then applies Go's `$0` template.
    expect(lex.processWord("${X/b/[\\$0]}", { X: "abc" })).toBe("a[\\$0]c");
    expect(lex.processWord("${X//b/[\\$0]}", { X: "abcb" })).toBe("a[\\b]c[\\b]");
    expect(lex.processWord("${X//b/\\$\\$}", { X: "b" })).toBe("\\$\\$");
    expect(lex.processWord("${X##*/}|${X%/*}|${X#*/}|${X%%/*}", { X: "a/b/c" })).toBe("c|a/b|b/c|a");
    expect(lex.processWord("${X/\\//:}", { X: "a/b" })).toBe("a:b");
  });

  it("keeps unset references with skipUnsetEnv and quotes with rawQuotes", () => {
    const keep = createLexer("\\", { skipUnsetEnv: true, rawQuotes: true });
    expect(keep.processWord("$A ${B} ${C:-d} ${E/x/y} 'q' \"$F\"", { F: "f" })).toBe(
      "$A ${B} ${C:-d} ${E/x/y} 'q' \"f\"",
    );
  });

  it("drops a leading byte-order mark like Go's text/scanner", () => {
    expect(lex.processWord("\uFEFFabc", {})).toBe("abc");
  });
});
