import { KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { parse } from "../parser/parser.js";
import { parseInstruction, parseStages } from "./parse.js";
import type { Command, Stage } from "./types.js";

function failure(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error("expected a KilnError");
}

/** Parses `FROM scratch` + the given lines and returns the commands of that stage. */
function commands(body: string): Command[] {
  return [...((parseStages(parse(`FROM scratch\n${body}\n`)).stages[0] as Stage).commands ?? [])];
}
const one = <K extends Command["kind"]>(body: string, kind: K) => {
  const cmd = commands(body)[0];
  expect(cmd?.kind).toBe(kind);
  return cmd as Extract<Command, { kind: K }>;
};
const errorOf = (body: string, file = "Dockerfile") =>
  failure(() => parseStages(parse(`FROM scratch\n${body}\n`, file)));

describe("parseStages", () => {
  const source = [
    "# syntax=docker/dockerfile:1",
    "ARG BASE=alpine",
    "ARG TAG",
    "# builder compiles the app",
    "FROM --platform=$BUILDPLATFORM $BASE:$TAG AS Builder",
    "RUN make",
    "FROM scratch",
    "COPY --from=builder /out /",
  ].join("\n");

  it("splits meta args, stages and commands with locations", () => {
    const { metaArgs, stages } = parseStages(parse(source, "build/Dockerfile"));
    expect(metaArgs.map((a) => a.args)).toEqual([
      [{ key: "BASE", value: "alpine", docComment: undefined }],
      [{ key: "TAG", value: undefined, docComment: undefined }],
    ]);
    expect(stages).toHaveLength(2);
    const [builder, final] = stages as [Stage, Stage];
    expect(builder).toMatchObject({
      name: "builder",
      baseName: "$BASE:$TAG",
      platform: "$BUILDPLATFORM",
      docComment: "compiles the app",
      location: { file: "build/Dockerfile", line: 5, endLine: 5, instruction: "FROM" },
    });
    expect(builder.commands.map((c) => c.kind)).toEqual(["RUN"]);
    expect(final).toMatchObject({ name: undefined, baseName: "scratch", platform: undefined });
    expect(final.commands[0]).toMatchObject({
      kind: "COPY",
      from: "builder",
      sourcePaths: ["/out"],
      destPath: "/",
    });
    expect(final.commands[0]?.original).toBe("COPY --from=builder /out /");
  });

  it("rejects instructions before the first FROM", () => {
    const err = failure(() => parseStages(parse("ARG A\nRUN x\nFROM a\n")));
    expect(err.message).toBe("no build stage in current context");
    expect(err.location).toMatchObject({ line: 2, instruction: "RUN" });
  });

  it("validates FROM", () => {
    expect(failure(() => parseStages(parse("FROM a AS 1x\n"))).message).toBe(
      'invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
    );
    expect(failure(() => parseStages(parse("FROM a b\n"))).message).toBe(
      "FROM requires either one or three arguments",
    );
    expect(failure(() => parseStages(parse("FROM --platfrom=x a\n"))).message).toBe(
      "unknown flag: --platfrom (did you mean platform?)",
    );
  });

  it("reports unknown instructions with a suggestion, file and line", () => {
    const err = errorOf("\nCOPPY a b", "app/Dockerfile");
    expect(err.message).toBe("unknown instruction: COPPY (did you mean COPY?)");
    expect(err.hint).toBe("did you mean COPY?");
    expect(err.location).toEqual({
      file: "app/Dockerfile",
      line: 3,
      endLine: 3,
      instruction: "COPPY",
      column: 1,
      text: "COPPY a b",
    });
    expect(err.describe()).toContain("app/Dockerfile:3:1: COPPY: unknown instruction: COPPY");
    expect(err.describe()).toContain("\n   3 | COPPY a b\n     | ^\n  hint: did you mean COPY?");
    expect(errorOf("workdr /x").message).toBe("unknown instruction: workdr (did you mean workdir?)");
    expect(errorOf("FNTRYPOINT x").message).toBe(
      "unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)",
    );
    expect(errorOf("BOGUSCMD x").message).toBe("unknown instruction: BOGUSCMD");
  });
});

describe("flags", () => {
  it.each([
    ["COPY --chown=a --chown=b x y", "duplicate flag specified: --chown"],
    ["COPY --chown x y", "missing a value on flag: --chown"],
    ["COPY --link= x y", "missing a value on flag: --link"],
    ["COPY --link=maybe x y", "expecting boolean value for flag --link, not: maybe"],
    ["RUN --mont=target=/x true", "unknown flag: --mont (did you mean mount?)"],
    ["ENV --x=1 A=b", "unknown flag: --x"],
  ])("%s → %s", (line, message) => expect(errorOf(line).message).toBe(message));

  it("accepts bare and explicit booleans and stops at --", () => {
    expect(one("COPY --link --parents=FALSE a b", "COPY")).toMatchObject({ link: true, parents: false });
    expect(one("COPY --link=true -- --notaflag b", "COPY")).toMatchObject({
      link: true,
      sourcePaths: ["--notaflag"],
    });
  });
});

describe("COPY / ADD", () => {
  it("parses COPY flags and heredoc sources", () => {
    const copy = one(
      "COPY --chmod=0644 --exclude=*.tmp --exclude=.git <<-A plain <<'B' /dst/\n\tone $X\nA\ntwo $X\nB",
      "COPY",
    );
    expect(copy).toMatchObject({
      chmod: "0644",
      chown: undefined,
      from: undefined,
      excludePatterns: ["*.tmp", ".git"],
      sourcePaths: ["plain"],
      sourceContents: [
        { path: "A", data: "one $X\n", expand: true },
        { path: "B", data: "two $X\n", expand: false },
      ],
      destPath: "/dst/",
    });
  });

  it("parses ADD flags, leaving unset tri-state flags undefined", () => {
    expect(one("ADD --checksum=sha256:abc --keep-git-dir=false https://x/y /y", "ADD")).toMatchObject({
      checksum: "sha256:abc",
      keepGitDir: false,
      unpack: undefined,
      link: false,
    });
    expect(one("ADD --unpack a.tar /", "ADD").unpack).toBe(true);
    expect(errorOf("ADD --from=x a b").message).toBe("unknown flag: --from");
  });

  it("requires a destination and refuses heredoc destinations", () => {
    expect(errorOf("COPY onlyone").message).toBe(
      "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
    );
    expect(errorOf("COPY a <<EOF\nx\nEOF").message).toBe("COPY cannot accept a heredoc as a destination");
  });
});

describe("RUN / CMD / ENTRYPOINT / SHELL", () => {
  it("keeps shell form as one string and exec form as argv", () => {
    expect(one("RUN echo $HOME  &&  true", "RUN")).toMatchObject({
      cmdLine: ["echo $HOME  &&  true"],
      prependShell: true,
      network: "default",
      security: "sandbox",
      mounts: [],
    });
    expect(one('CMD ["a", "b c"]', "CMD")).toMatchObject({ cmdLine: ["a", "b c"], prependShell: false });
    expect(one("ENTRYPOINT []", "ENTRYPOINT").cmdLine).toBeUndefined();
    expect(one("CMD []", "CMD").cmdLine).toEqual([]);
  });

  it("collects RUN mounts raw with their literal from, network and security", () => {
    const run = one(
      "RUN --mount=type=cache,target=/root/.cache --mount=from=build,target=/src --network=none --security=insecure make",
      "RUN",
    );
    expect(run.mounts).toEqual([
      { raw: "type=cache,target=/root/.cache", from: undefined },
      { raw: "from=build,target=/src", from: "build" },
    ]);
    expect(run).toMatchObject({
      network: "none",
      security: "insecure",
      flagsUsed: ["mount", "network", "security"],
    });
    expect(errorOf("RUN --network=bridge x").message).toBe('invalid network mode "bridge"');
    expect(errorOf("RUN --security=x x").message).toBe('security "x" is not valid');
    expect(errorOf("RUN --mount=from=$STAGE,target=/x x").message).toBe(
      "'from' doesn't support variable expansion, define alias stage instead",
    );
  });

  it("attaches RUN heredocs as inline files", () => {
    expect(one("RUN <<-EOF bash\n\techo hi\nEOF", "RUN")).toMatchObject({
      cmdLine: ["<<-EOF bash"],
      files: [{ name: "EOF", data: "\techo hi\n", chomp: true }],
    });
  });

  it("requires SHELL in JSON form, naming the line", () => {
    expect(one('SHELL ["/bin/bash", "-c"]', "SHELL").shell).toEqual(["/bin/bash", "-c"]);
    const err = errorOf("\nSHELL /bin/bash -c");
    expect(err.message).toBe("SHELL requires the arguments to be in JSON form");
    expect(err.location).toMatchObject({ line: 3, instruction: "SHELL" });
  });
});

describe("ENV / LABEL / ARG / misc", () => {
  it("keeps raw key/value pairs", () => {
    expect(one('ENV A=1 B="x y"', "ENV").env).toEqual([
      { key: "A", value: "1", noDelim: false },
      { key: "B", value: '"x y"', noDelim: false },
    ]);
    expect(one("ENV PATH /a:$PATH", "ENV").env).toEqual([{ key: "PATH", value: "/a:$PATH", noDelim: true }]);
    expect(one('LABEL "a b"=c', "LABEL").labels).toEqual([{ key: '"a b"', value: "c", noDelim: false }]);
    expect(one('ARG A B=2 C="x y"', "ARG").args.map((a) => [a.key, a.value])).toEqual([
      ["A", undefined],
      ["B", "2"],
      ["C", '"x y"'],
    ]);
    expect(errorOf("ARG =x").message).toBe("ARG names can not be blank");
    expect(errorOf("ENV").message).toBe("ENV requires at least one argument");
  });

  it("parses the single-value instructions", () => {
    expect(one("WORKDIR /app", "WORKDIR").path).toBe("/app");
    expect(one("USER 1000:1000", "USER").user).toBe("1000:1000");
    expect(one("STOPSIGNAL SIGTERM", "STOPSIGNAL").signal).toBe("SIGTERM");
    expect(one("MAINTAINER Jane <j@x>", "MAINTAINER").maintainer).toBe("Jane <j@x>");
    expect(one("EXPOSE 8080/tcp 443 80", "EXPOSE").ports).toEqual(["443", "80", "8080/tcp"]);
    expect(one('VOLUME ["/a", "/b"]', "VOLUME").volumes).toEqual(["/a", "/b"]);
    expect(errorOf("WORKDIR").message).toBe("WORKDIR requires exactly one argument");
    expect(errorOf('VOLUME [" "]').message).toBe("VOLUME specified can not be an empty string");
  });

  it("parses ONBUILD triggers and rejects forbidden ones", () => {
    expect(one("ONBUILD  RUN echo hi", "ONBUILD")).toMatchObject({
      trigger: "RUN",
      expression: "RUN echo hi",
    });
    expect(one("ONBUILD COPY <<EOF /x\nbody\nEOF", "ONBUILD").expression).toBe("COPY <<EOF /x\nbody\nEOF");
    expect(errorOf("ONBUILD ONBUILD RUN x").message).toBe(
      "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    expect(errorOf("ONBUILD from x").message).toBe("FROM isn't allowed as an ONBUILD trigger");
    expect(errorOf("ONBUILD MAINTAINER x").message).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
  });
});

describe("HEALTHCHECK", () => {
  it("turns shell form into CMD-SHELL and converts durations to nanoseconds", () => {
    expect(
      one(
        "HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=0s --retries=3 CMD curl -f http://x/",
        "HEALTHCHECK",
      ).health,
    ).toEqual({
      test: ["CMD-SHELL", "curl -f http://x/"],
      interval: 90_000_000_000,
      timeout: 1_500_000_000,
      startPeriod: 0,
      startInterval: 0,
      retries: 3,
    });
    expect(one('HEALTHCHECK CMD ["/check", "-q"]', "HEALTHCHECK").health.test).toEqual([
      "CMD",
      "/check",
      "-q",
    ]);
    expect(one("healthcheck none", "HEALTHCHECK").health.test).toEqual(["NONE"]);
  });

  it.each([
    ["HEALTHCHECK", "HEALTHCHECK requires at least one argument"],
    ["HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"],
    ["HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"],
    ["HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'],
    ["HEALTHCHECK --interval=500us CMD x", 'Interval "interval" cannot be less than 1ms'],
    ["HEALTHCHECK --timeout=5 CMD x", 'time: missing unit in duration "5"'],
    ["HEALTHCHECK --timeout=5y CMD x", 'time: unknown unit "y" in duration "5y"'],
    ["HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"],
    ["HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'],
    ["HEALTHCHECK --bogus=1 CMD x", "unknown flag: --bogus"],
  ])("%s → %s", (line, message) => expect(errorOf(line).message).toBe(message));
});

describe("parseInstruction", () => {
  it("works on a single node and defaults the file name", () => {
    const node = parse("FROM a\nUSER x\n").ast.children[1];
    if (!node) throw new Error("missing node");
    expect(parseInstruction(node)).toMatchObject({ kind: "USER", location: { file: "Dockerfile", line: 2 } });
  });
});

describe("parse errors point at file:line:column and show the line", () => {
  it("an unknown flag: column of the flag, with a suggestion", () => {
    const err = errorOf("COPY --frm=x a /b", "ctx/Dockerfile");
    expect(err.message).toBe("unknown flag: --frm (did you mean from?)");
    expect(err.location).toMatchObject({ file: "ctx/Dockerfile", line: 2, column: 6, instruction: "COPY" });
    expect(err.describe()).toBe(
      [
        "ctx/Dockerfile:2:6: COPY: unknown flag: --frm (did you mean from?)",
        "   2 | COPY --frm=x a /b",
        "     |      ^",
        "  hint: did you mean from?",
      ].join("\n"),
    );
  });

  it("a flag on a continuation line: that physical line and its column", () => {
    const err = errorOf("RUN --network=host \\\n    --mount=type=cache,target=/c \\\n    --netwrk=none true");
    expect(err.message).toBe("unknown flag: --netwrk (did you mean network?)");
    expect(err.location).toMatchObject({ line: 4, column: 5, text: "    --netwrk=none true" });
  });

  it("a bad value of a known flag and a variable in RUN --mount from= point at the word", () => {
    expect(errorOf("RUN --network=host --security=maybe true").location).toMatchObject({ column: 1 });
    const from = errorOf("RUN --mount=type=bind,from=$STAGE,target=/x true");
    expect(from.message).toBe("'from' doesn't support variable expansion, define alias stage instead");
    expect(from.location).toMatchObject({ line: 2, column: 23 });
    const braces = errorOf("RUN --mount=type=cache,from=${BASE},target=/x true");
    expect(braces.message).toBe("'from' doesn't support variable expansion, define alias stage instead");
    // A trailing `$` is not a variable (BuildKit matches `\$.`).
    expect(commands("RUN --mount=type=bind,from=stage$,target=/x true")[0]).toMatchObject({ kind: "RUN" });
  });

  it("an instruction before FROM and a bad stage name", () => {
    const before = failure(() => parseStages(parse("# hi\n  RUN x\n", "Dockerfile")));
    expect(before.location).toMatchObject({ line: 2, column: 3, text: "  RUN x" });
    expect(errorOf("FROM a AS 1x").location).toMatchObject({ line: 2, column: 1 });
  });

  it("a very long line is cut around the column", () => {
    const err = errorOf(`LABEL ${"a=b ".repeat(100)}--bad`);
    expect(err.describe().split("\n")[1]?.length).toBeLessThan(140);
  });
});
