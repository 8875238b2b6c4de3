import { describe, expect, it } from "vitest";
import { formatSourceSnippet, KilnError } from "./errors.js";

describe("KilnError.describe with a source location", () => {
  it("file:line[:column]: INSTRUCTION: message, then the line, a caret and the hint", () => {
    const err = new KilnError("INVALID_ARGUMENT", "unknown flag: --frm", {
      location: { file: "Dockerfile", line: 12, column: 6, instruction: "COPY", text: "COPY --frm=x a /b" },
      hint: "did you mean from?",
    });
    expect(err.describe()).toBe(
      [
        "Dockerfile:12:6: COPY: unknown flag: --frm",
        "  12 | COPY --frm=x a /b",
        "     |      ^",
        "  hint: did you mean from?",
      ].join("\n"),
    );
  });

  it("keeps the old one-line form when the location has no column or text", () => {
    const err = new KilnError("NOT_FOUND", "not found", {
      location: { file: "f", line: 3, instruction: "RUN" },
    });
    expect(err.describe()).toBe("f:3: RUN: not found");
    const withText = new KilnError("NOT_FOUND", "x", { location: { file: "f", line: 3, text: "RUN a" } });
    expect(withText.describe()).toBe("f:3: x\n   3 | RUN a");
  });

  it("aligns the caret under tabs and wide characters, and cuts long lines around the column", () => {
    expect(formatSourceSnippet({ file: "f", line: 1, column: 3, text: "\té𝒳x" })).toBe(
      "   1 |  é𝒳x\n     |   ^",
    );
    const long = `${"a".repeat(300)}BAD${"b".repeat(300)}`;
    const [line, caret] = formatSourceSnippet({ file: "f", line: 1, column: 301, text: long }).split("\n");
    expect(line?.length).toBeLessThan(140);
    expect(line?.[(caret ?? "").indexOf("^")]).toBe("B");
  });
});
