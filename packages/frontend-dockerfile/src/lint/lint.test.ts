import type { FrontendBridge, ImageConfig } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { convertDockerfile } from "../convert/frontend.js";
import { checkDockerfile } from "../convert/subrequests.js";
import { RULES, type RuleName } from "./index.js";

const enc = (s: string) => new TextEncoder().encode(s);
const PLATFORM = { os: "linux", architecture: "amd64" };

function check(dockerfile: string, o: { ignore?: string; attrs?: Record<string, string> } = {}) {
  return checkDockerfile({
    attrs: o.attrs ?? {},
    file: { name: "Dockerfile", data: enc(dockerfile) },
    platform: PLATFORM,
    ...(o.ignore ? { ignoreFile: enc(o.ignore) } : {}),
  });
}
const rulesOf = (dockerfile: string, o?: Parameters<typeof check>[1]) =>
  check(dockerfile, o).map((w) => w.rule);

/** Each rule: a Dockerfile that triggers it (with the expected message) and a close one that does not. */
const CASES: [RuleName, string, string, string, Parameters<typeof check>[1]?][] = [
  [
    "StageNameCasing",
    "FROM scratch AS Build\n",
    "Stage name 'Build' should be lowercase",
    "FROM scratch AS build\n",
  ],
  [
    "FromAsCasing",
    "FROM scratch as build\n",
    "'as' and 'FROM' keywords' casing do not match",
    "FROM scratch AS build\n",
  ],
  [
    "NoEmptyContinuation",
    "FROM scratch\nLABEL a=1 \\\n\n  b=2\n",
    "Empty continuation line",
    "FROM scratch\nLABEL a=1 \\\n  b=2\n",
  ],
  [
    "ConsistentInstructionCasing",
    "FROM scratch\nLABEL a=1\nlabel b=2\nLABEL c=3\n",
    "Command 'label' should match the case of the command majority (uppercase)",
    "from scratch\nlabel a=1\nlabel b=2\n",
  ],
  [
    "DuplicateStageName",
    "FROM scratch AS a\nFROM scratch AS a\n",
    'Duplicate stage name "a", stage names should be unique',
    "FROM scratch AS a\nFROM scratch AS b\n",
  ],
  [
    "ReservedStageName",
    "FROM busybox AS context\n",
    'Stage name should not use the same name as reserved stage "context"',
    "FROM busybox AS contexts\n",
  ],
  [
    "JSONArgsRecommended",
    "FROM scratch\nCMD run --fast\n",
    "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
    'FROM scratch\nSHELL ["/bin/sh", "-c"]\nCMD run --fast\nENTRYPOINT ["run"]\n',
  ],
  [
    "MaintainerDeprecated",
    "FROM scratch\nMAINTAINER me\n",
    "Maintainer instruction is deprecated in favor of using label",
    'FROM scratch\nLABEL org.opencontainers.image.authors="me"\n',
  ],
  [
    "UndefinedArgInFrom",
    "ARG VERSION=1\nFROM busybox:${VERSON}\n",
    "FROM argument 'VERSON' is not declared (did you mean VERSION?)",
    "ARG VERSION\nFROM busybox:${VERSION}\n",
  ],
  [
    "WorkdirRelativePath",
    "FROM scratch\nWORKDIR app\n",
    'Relative workdir "app" can have unexpected results if the base image changes',
    "FROM scratch AS base\nWORKDIR /app\nWORKDIR sub\nFROM base\nWORKDIR more\n",
  ],
  [
    "UndefinedVar",
    "FROM scratch\nARG NAME=x\nCOPY $NAM /dst\n",
    "Usage of undefined variable '$NAM' (did you mean $NAME?)",
    "FROM scratch\nARG NAME\nENV DIR=/d\nCOPY $NAME $DIR/ \nCOPY a $PATH\n",
  ],
  [
    "MultipleInstructionsDisallowed",
    'FROM scratch\nCMD ["a"]\nCMD ["b"]\n',
    "Multiple CMD instructions should not be used in the same stage because only the last one will be used",
    'FROM scratch\nCMD ["a"]\nFROM scratch\nCMD ["b"]\n',
  ],
  [
    "LegacyKeyValueFormat",
    "FROM scratch\nENV A 1\n",
    '"ENV key=value" should be used instead of legacy "ENV key value" format',
    "FROM scratch\nENV A=1\n",
  ],
  [
    "RedundantTargetPlatform",
    "FROM --platform=$TARGETPLATFORM busybox\n",
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    "FROM --platform=$BUILDPLATFORM busybox\n",
  ],
  [
    "SecretsUsedInArgOrEnv",
    "FROM scratch\nARG GITHUB_TOKEN\n",
    'Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN")',
    "FROM scratch\nARG PUBLIC_KEY\nENV TOKENIZER=x\n",
  ],
  [
    "InvalidDefaultArgInFrom",
    "ARG TAG\nFROM busybox:${TAG}\n",
    "Default value for ARG busybox:${TAG} results in empty or invalid base image name",
    "ARG TAG=latest\nFROM busybox:${TAG}\n",
  ],
  [
    "FromPlatformFlagConstDisallowed",
    "FROM --platform=linux/amd64 busybox AS build\n",
    'FROM --platform flag should not use constant value "linux/amd64"',
    "FROM --platform=linux/amd64 busybox AS build-amd64\n",
  ],
  [
    "CopyIgnoredFile",
    "FROM scratch\nCOPY app.env /app.env\n",
    'Attempting to Copy file "app.env" that is excluded by .dockerignore',
    "FROM scratch\nCOPY app.txt /app.txt\n",
    { ignore: "*.env\n" },
  ],
  [
    "ExposeProtoCasing",
    "FROM scratch\nEXPOSE 80/TCP\n",
    "Defined protocol '80/TCP' in EXPOSE instruction should be lowercase",
    "FROM scratch\nEXPOSE 80/tcp\n",
  ],
  [
    "ExposeInvalidFormat",
    "FROM scratch\nEXPOSE 127.0.0.1:80:80\n",
    "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'",
    "FROM scratch\nEXPOSE 80 443/udp\n",
  ],
  [
    "InvalidDefinitionDescription",
    "# check=experimental=InvalidDefinitionDescription\nFROM scratch\n# the base stage\nFROM scratch AS base\n",
    "Comment for FROM should follow the format: `# base <description>`",
    "# check=experimental=InvalidDefinitionDescription\nFROM scratch\n# base is the base stage\nFROM scratch AS base\n",
  ],
];

describe("build checks: each rule fires on its case and stays quiet on the near miss", () => {
  for (const [rule, positive, message, negative, options] of CASES) {
    it(rule, () => {
      const found = check(positive, options).filter((w) => w.rule === rule);
      expect(found.length, JSON.stringify(check(positive, options))).toBeGreaterThan(0);
      expect(found[0]?.detail).toBe(message);
      expect(found[0]?.description).toBe(RULES[rule].description);
      expect(found[0]?.url).toBe(RULES[rule].url);
      expect(found[0]?.location.file).toBe("Dockerfile");
      expect(rulesOf(negative, options)).not.toContain(rule);
    });
  }

  it("every rule but InvalidBaseImagePlatform has a case and a docs URL named after it", () => {
    const covered = new Set(CASES.map(([r]) => r));
    for (const name of Object.keys(RULES) as RuleName[]) {
      if (name === "InvalidBaseImagePlatform") continue;
      expect(covered.has(name), name).toBe(true);
      const kebab = name
        .replace(/([a-z])([A-Z])/g, "$1-$2")
        .replace(/JSONA/, "json-a")
        .toLowerCase();
      expect(RULES[name].url).toBe(`https://docs.docker.com/go/dockerfile/rule/${kebab}/`);
    }
  });
});

describe("check configuration", () => {
  const df = "FROM scratch AS Build\nMAINTAINER me\n";

  it("skip=<rules> and skip=all silence rules; the build arg overrides the directive", () => {
    expect(rulesOf(df).sort()).toEqual(["MaintainerDeprecated", "StageNameCasing"]);
    expect(rulesOf(`# check=skip=StageNameCasing\n${df}`)).toEqual(["MaintainerDeprecated"]);
    expect(rulesOf(`# check=skip=all\n${df}`)).toEqual([]);
    expect(rulesOf(df, { attrs: { "build-arg:BUILDKIT_DOCKERFILE_CHECK": "skip=all" } })).toEqual([]);
  });

  it("an image base with unknown env: no UndefinedVar, stage variables still expand", () => {
    const df =
      "FROM alpine\nENV APP_HOME=/app\nWORKDIR $APP_HOME\nCOPY $FROM_IMAGE /x\nFROM alpine\nWORKDIR $FROM_IMAGE\n";
    expect(rulesOf(df)).toEqual([]);
    expect(rulesOf("FROM alpine\nENV DIR=rel\nWORKDIR $DIR\n")).toEqual(["WorkdirRelativePath"]);
  });

  it("with a target only the stages it needs are dispatched (file-wide rules still apply)", () => {
    const df = "FROM scratch AS a\nMAINTAINER x\nFROM scratch AS b\nWORKDIR rel\nFROM a AS c\nENV k v\n";
    expect(rulesOf(df).sort()).toEqual([
      "LegacyKeyValueFormat",
      "MaintainerDeprecated",
      "WorkdirRelativePath",
    ]);
    expect(rulesOf(df, { attrs: { target: "c" } }).sort()).toEqual([
      "LegacyKeyValueFormat",
      "MaintainerDeprecated",
    ]);
  });

  it("a # check= comment above one instruction applies to it only", () => {
    expect(rulesOf("FROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER a\nMAINTAINER b\n")).toEqual([
      "MaintainerDeprecated",
    ]);
  });

  it("experimental rules need experimental=<rule>|all", () => {
    const bad = "FROM scratch\n# the base stage\nFROM scratch AS base\n";
    expect(rulesOf(bad)).toEqual([]);
    expect(rulesOf(`# check=experimental=all\n${bad}`)).toEqual(["InvalidDefinitionDescription"]);
  });

  it("a malformed check directive is an error, like BuildKit's", () => {
    expect(() => check("# check=bogus=1\nFROM scratch\n")).toThrow(
      'failed to parse check options: invalid check option "bogus"',
    );
    expect(() => check("# syntax=docker/dockerfile:1\n# check=skip\nFROM scratch\n")).toThrow(
      expect.objectContaining({ location: { file: "Dockerfile", line: 2, text: "# check=skip" } }),
    );
    expect(() => check("# check=error=maybe\nFROM scratch\n")).toThrow(/failed to parse check option/);
  });
});

describe("build checks during a build", () => {
  const config = (platform: { os: string; architecture: string }): ImageConfig => ({
    ...platform,
    rootfs: { type: "layers", diff_ids: [] },
    config: { Env: ["PATH=/bin", "FROM_BASE=1"] },
  });
  async function build(dockerfile: string, image = config(PLATFORM), attrs: Record<string, string> = {}) {
    const warnings: string[] = [];
    const bridge: FrontendBridge = {
      async resolveImage(ref) {
        return {
          identifier: `${ref}@sha256:${"a".repeat(64)}`,
          attrs: {},
          manifestDigest: `sha256:${"a".repeat(64)}`,
          config: image,
        };
      },
      warn: (message, location) => void warnings.push(`${location?.line ?? "-"} ${message}`),
    };
    await convertDockerfile({
      attrs,
      file: { name: "Dockerfile", data: enc(dockerfile) },
      platform: PLATFORM,
      bridge,
    });
    return warnings;
  }

  it("UndefinedVar knows the base image's env; only the built stages are checked", async () => {
    expect(await build("FROM img\nCOPY $FROM_BASE /x\n")).toEqual([]);
    expect(await build("FROM img\nCOPY $NOPE /x\n")).toEqual([
      "2 UndefinedVar: Usage of undefined variable '$NOPE'",
    ]);
    expect(await build("FROM img AS unused\nCOPY $NOPE /x\nFROM img\n")).toEqual([]);
  });

  it("InvalidBaseImagePlatform compares the resolved image with the requested platform", async () => {
    expect(await build("FROM img\n", config({ os: "linux", architecture: "arm64" }))).toEqual([
      '1 InvalidBaseImagePlatform: Base image img was pulled with platform "linux/arm64", expected "linux/amd64" for current build',
    ]);
    expect(await build("FROM img\n")).toEqual([]);
  });

  it("check=error=true fails the build with the rules that fired", async () => {
    await expect(build("# check=error=true\nFROM img\nMAINTAINER x\n")).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: "lint violation found for rules: MaintainerDeprecated",
    });
  });
});
