import { describe, expect, it } from "vitest";
import { chompHeredocContent, parseHeredoc } from "./heredoc.js";
import { dump } from "./node.js";
import { parse } from "./parser.js";

function heredocsOf(instructionAndBody: string) {
  const { ast } = parse(`FROM scratch\n${instructionAndBody}\n`);
  const node = ast.children[1];
  if (!node) throw new Error("no instruction");
  return node.heredocs.map(({ name, content, expand, chomp, fileDescriptor }) => ({
    name,
    content,
    expand,
    chomp,
    fileDescriptor,
  }));
}

const doc = (
  name: string,
  content: string,
  extra: Partial<{ expand: boolean; chomp: boolean; fd: number }> = {},
) => ({
  name,
  content,
  expand: extra.expand ?? true,
  chomp: extra.chomp ?? false,
  fileDescriptor: extra.fd ?? 0,
});

describe("heredocs", () => {
  it.each([
    ["RUN <<END\nEND", [doc("END", "")]],
    ["RUN 4<<DATA\nDATA", [doc("DATA", "", { fd: 4 })]],
    ["RUN <<BODY\n\tone\n\ttwo\nBODY", [doc("BODY", "\tone\n\ttwo\n")]],
    ["RUN <<-BODY\n\tone\n\tBODY", [doc("BODY", "\tone\n", { chomp: true })]],
    ["RUN <<-'RAW'\n\tkeep $HOME\nRAW", [doc("RAW", "\tkeep $HOME\n", { expand: false, chomp: true })]],
    ['RUN <<"RAW"\n$X\nRAW', [doc("RAW", "$X\n", { expand: false })]],
    [
      "RUN <<SCRIPT\n# not a comment here\necho hi # nor here\nSCRIPT",
      [doc("SCRIPT", "# not a comment here\necho hi # nor here\n")],
    ],
    ["RUN --mount=type=cache,target=/c <<SH\nls\nSH", [doc("SH", "ls\n")]],
    ["COPY <<A <<B /dst/\nfirst\nA\nsecond\nB", [doc("A", "first\n"), doc("B", "second\n")]],
    ["COPY <<A <<B /dst/\nB\nA\nA\nB", [doc("A", "B\n"), doc("B", "A\n")]],
    ["RUN <<PY python3\nprint(1)\nPY", [doc("PY", "print(1)\n")]],
    ["COPY <<name.txt /x\nhi\nname.txt", [doc("name.txt", "hi\n")]],
    ["RUN <<te'rm'\nx\nterm", [doc("term", "x\n", { expand: false })]],
    ["RUN <<te\\'rm\nx\nte'rm", [doc("te'rm", "x\n")]],
    ["RUN <<'a b'\nx\na b", [doc("a b", "x\n", { expand: false })]],
    ["RUN <<$T\n$T", [doc("$T", "")]],
    ["RUN <<   SPACED > out\nSPACED", [doc("SPACED", "")]],
    ["RUN <<CRLF\r\nline\r\nCRLF\r", [doc("CRLF", "line\r\n")]],
  ])("%j", (source, expected) => {
    expect(heredocsOf(source)).toEqual(expected);
  });

  it.each(["USER <<NOPE\nNOPE", 'RUN "<<QUOTED"', 'RUN ["sh", "-c", "cat <<EOF"]', "ENV A=<<B"])(
    "ignores markers where heredocs are not allowed: %j",
    (source) => {
      const { ast } = parse(`FROM scratch\n${source}\n`);
      expect(ast.children[1]?.heredocs).toEqual([]);
    },
  );

  it("allows heredocs inside ONBUILD RUN and counts body lines in endLine", () => {
    const { ast } = parse("FROM scratch\nONBUILD RUN <<EOF\necho hi\nEOF\nUSER me\n");
    const onbuild = ast.children[1];
    expect(onbuild?.heredocs.map((h) => h.content)).toEqual(["echo hi\n"]);
    expect([onbuild?.startLine, onbuild?.endLine]).toEqual([2, 4]);
    expect(ast.children[2]?.startLine).toBe(5);
    expect(dump(ast)).toBe('(from "scratch")\n(onbuild (run "<<EOF"))\n(user "me")');
  });

  it("reports an unterminated heredoc with file, line and instruction", () => {
    expect(() => parse("FROM scratch\n\nRUN <<EOF\necho hi\n", "app.Dockerfile")).toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: "unterminated heredoc",
        location: { file: "app.Dockerfile", line: 3, instruction: "RUN", column: 1, text: "RUN <<EOF" },
      }),
    );
  });

  it("parseHeredoc / chompHeredocContent", () => {
    expect(parseHeredoc("<<EOF")).toEqual({ name: "EOF", expand: true, chomp: false, fileDescriptor: 0 });
    expect(parseHeredoc("2<<-'X'")).toEqual({ name: "X", expand: false, chomp: true, fileDescriptor: 2 });
    expect(parseHeredoc("<<")).toBeUndefined();
    expect(parseHeredoc("file")).toBeUndefined();
    expect(parseHeredoc("<<a<b")).toBeUndefined();
    expect(() => parseHeredoc("<<'open")).toThrow(/single-quote/);
    expect(chompHeredocContent("\t\ta\n\tb\n  c\n")).toBe("a\nb\n  c\n");
  });
});
