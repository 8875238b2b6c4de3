/**
 * BuildKit's build-check rules (`docker build --check`): same names, descriptions, documentation
 * URLs and message shapes, so users can look a warning up in Docker's docs and skip it by name.
 */
import { goQuote } from "../parser/go-quote.js";
export interface LintRule<A extends unknown[] = string[]> {
  readonly name: string;
  readonly description: string;
  readonly url: string | undefined;
  /** Experimental rules run only when named in `# check=experimental=…` (or `all`). */
  readonly experimental: boolean;
  readonly format: (...args: A) => string;
}

const url = (kebab: string) => `https://docs.docker.com/go/dockerfile/rule/${kebab}/`;
const q = goQuote;
const suggestion = (prefix: string, s: string) => (s ? ` (did you mean ${prefix}${s}?)` : "");

function rule<A extends unknown[]>(
  name: string,
  kebab: string | undefined,
  description: string,
  format: (...args: A) => string,
  experimental = false,
): LintRule<A> {
  return { name, description, url: kebab ? url(kebab) : undefined, experimental, format };
}

export const RULES = {
  StageNameCasing: rule(
    "StageNameCasing",
    "stage-name-casing",
    "Stage names should be lowercase",
    (stage: string) => `Stage name '${stage}' should be lowercase`,
  ),
  FromAsCasing: rule(
    "FromAsCasing",
    "from-as-casing",
    "The 'as' keyword should match the case of the 'from' keyword",
    (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`,
  ),
  NoEmptyContinuation: rule(
    "NoEmptyContinuation",
    "no-empty-continuation",
    "Empty continuation lines will become errors in a future release",
    () => "Empty continuation line",
  ),
  ConsistentInstructionCasing: rule(
    "ConsistentInstructionCasing",
    "consistent-instruction-casing",
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
    (command: string, casing: string) =>
      `Command '${command}' should match the case of the command majority (${casing})`,
  ),
  DuplicateStageName: rule(
    "DuplicateStageName",
    "duplicate-stage-name",
    "Stage names should be unique",
    (stage: string) => `Duplicate stage name ${q(stage)}, stage names should be unique`,
  ),
  ReservedStageName: rule(
    "ReservedStageName",
    "reserved-stage-name",
    "Reserved words should not be used as stage names",
    (stage: string) => `Stage name should not use the same name as reserved stage ${q(stage)}`,
  ),
  JSONArgsRecommended: rule(
    "JSONArgsRecommended",
    "json-args-recommended",
    "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
    (instruction: string) =>
      `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  ),
  MaintainerDeprecated: rule(
    "MaintainerDeprecated",
    "maintainer-deprecated",
    "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
    () => "Maintainer instruction is deprecated in favor of using label",
  ),
  UndefinedArgInFrom: rule(
    "UndefinedArgInFrom",
    "undefined-arg-in-from",
    "FROM command must use declared ARGs",
    (arg: string, suggest: string) => `FROM argument '${arg}' is not declared${suggestion("", suggest)}`,
  ),
  WorkdirRelativePath: rule(
    "WorkdirRelativePath",
    "workdir-relative-path",
    "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
    (workdir: string) =>
      `Relative workdir ${q(workdir)} can have unexpected results if the base image changes`,
  ),
  UndefinedVar: rule(
    "UndefinedVar",
    "undefined-var",
    "Variables should be defined before their use",
    (name: string, suggest: string) => `Usage of undefined variable '$${name}'${suggestion("$", suggest)}`,
  ),
  MultipleInstructionsDisallowed: rule(
    "MultipleInstructionsDisallowed",
    "multiple-instructions-disallowed",
    "Multiple instructions of the same type should not be used in the same stage",
    (instruction: string) =>
      `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  ),
  LegacyKeyValueFormat: rule(
    "LegacyKeyValueFormat",
    "legacy-key-value-format",
    "Legacy key/value format with whitespace separator should not be used",
    (command: string) =>
      `"${command} key=value" should be used instead of legacy "${command} key value" format`,
  ),
  // BuildKit publishes no documentation page for this one.
  InvalidBaseImagePlatform: rule(
    "InvalidBaseImagePlatform",
    undefined,
    "Base image platform does not match expected target platform",
    (image: string, expected: string, actual: string) =>
      `Base image ${image} was pulled with platform ${q(actual)}, expected ${q(expected)} for current build`,
  ),
  RedundantTargetPlatform: rule(
    "RedundantTargetPlatform",
    "redundant-target-platform",
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    (platformVar: string) =>
      `Setting platform to predefined ${platformVar} in FROM is redundant as this is the default behavior`,
  ),
  SecretsUsedInArgOrEnv: rule(
    "SecretsUsedInArgOrEnv",
    "secrets-used-in-arg-or-env",
    "Sensitive data should not be used in the ARG or ENV commands",
    (instruction: string, key: string) =>
      `Do not use ARG or ENV instructions for sensitive data (${instruction} ${q(key)})`,
  ),
  InvalidDefaultArgInFrom: rule(
    "InvalidDefaultArgInFrom",
    "invalid-default-arg-in-from",
    "Default value for global ARG results in an empty or invalid base image name",
    (baseName: string) => `Default value for ARG ${baseName} results in empty or invalid base image name`,
  ),
  FromPlatformFlagConstDisallowed: rule(
    "FromPlatformFlagConstDisallowed",
    "from-platform-flag-const-disallowed",
    "FROM --platform flag should not use a constant value",
    (platform: string) => `FROM --platform flag should not use constant value ${q(platform)}`,
  ),
  CopyIgnoredFile: rule(
    "CopyIgnoredFile",
    "copy-ignored-file",
    "Attempting to Copy file that is excluded by .dockerignore",
    (command: string, file: string) =>
      `Attempting to ${command} file ${q(file)} that is excluded by .dockerignore`,
  ),
  InvalidDefinitionDescription: rule(
    "InvalidDefinitionDescription",
    "invalid-definition-description",
    "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
    (instruction: string, name: string) =>
      `Comment for ${instruction} should follow the format: \`# ${name} <description>\``,
    true,
  ),
  ExposeProtoCasing: rule(
    "ExposeProtoCasing",
    "expose-proto-casing",
    "Protocol in EXPOSE instruction should be lowercase",
    (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  ),
  ExposeInvalidFormat: rule(
    "ExposeInvalidFormat",
    "expose-invalid-format",
    "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
    (port: string) =>
      `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
  ),
} as const;

export type RuleName = keyof typeof RULES;
