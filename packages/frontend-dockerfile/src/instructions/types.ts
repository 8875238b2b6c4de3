/**
 * Typed Dockerfile instructions. Values are kept exactly as written (quotes and `$vars` included):
 * expansion depends on build args and the stage env, so conversion applies the shell lexer later.
 */
import type { SourceLocation } from "@kiln/core";

/** Where an instruction is: `line`..`endLine` (1-based, continuation and heredoc lines included). */
export interface CommandLocation extends SourceLocation {
  /** Instruction keyword as written, e.g. `copy` or `COPY`. */
  readonly instruction: string;
  readonly endLine: number;
}

interface CommandBase {
  readonly location: CommandLocation;
  /** The logical source line (continuations joined, heredoc bodies excluded), trimmed. */
  readonly original: string;
}

/** `KEY=value` (`noDelim` for the legacy `ENV KEY value` form). Key and value are unexpanded. */
export interface KeyValuePair {
  readonly key: string;
  readonly value: string;
  readonly noDelim: boolean;
}

/** ARG entry; `value` undefined for `ARG name` without default. */
export interface ArgDefinition {
  readonly key: string;
  readonly value: string | undefined;
  /** Text of a `# <name> <description>` comment right above the instruction, if any. */
  readonly docComment: string | undefined;
}

/** A heredoc used as a COPY/ADD source: becomes an inline file named `path`. */
export interface SourceContent {
  readonly path: string;
  /** Body; already tab-chomped for `<<-`. */
  readonly data: string;
  /** Variable-expand the body (terminator was unquoted). */
  readonly expand: boolean;
}

export interface SourcesAndDest {
  readonly sourcePaths: readonly string[];
  readonly sourceContents: readonly SourceContent[];
  readonly destPath: string;
}

/** A heredoc attached to RUN/CMD/ENTRYPOINT. */
export interface ShellInlineFile {
  readonly name: string;
  /** Raw body (not chomped; chomp with `chompHeredocContent` when `chomp`). */
  readonly data: string;
  readonly chomp: boolean;
}

/**
 * Shell form: `cmdLine` is one string and `prependShell` is true (run via SHELL); exec (JSON)
 * form: `cmdLine` is the argv. `cmdLine` is undefined only for `ENTRYPOINT []`-like empty entrypoints.
 */
export interface ShellDependantCmdLine {
  readonly cmdLine: readonly string[] | undefined;
  readonly files: readonly ShellInlineFile[];
  readonly prependShell: boolean;
}

export interface EnvCommand extends CommandBase {
  readonly kind: "ENV";
  readonly env: readonly KeyValuePair[];
}
export interface LabelCommand extends CommandBase {
  readonly kind: "LABEL";
  readonly labels: readonly KeyValuePair[];
}
export interface MaintainerCommand extends CommandBase {
  readonly kind: "MAINTAINER";
  readonly maintainer: string;
}
export interface ArgCommand extends CommandBase {
  readonly kind: "ARG";
  readonly args: readonly ArgDefinition[];
}
export interface CopyCommand extends CommandBase, SourcesAndDest {
  readonly kind: "COPY";
  /** `--from` (stage name, stage index or image), undefined when copying from the context. */
  readonly from: string | undefined;
  readonly chown: string | undefined;
  readonly chmod: string | undefined;
  readonly link: boolean;
  readonly parents: boolean;
  readonly excludePatterns: readonly string[];
}
export interface AddCommand extends CommandBase, SourcesAndDest {
  readonly kind: "ADD";
  readonly chown: string | undefined;
  readonly chmod: string | undefined;
  readonly link: boolean;
  /** Undefined when `--keep-git-dir` was not given (conversion applies its default). */
  readonly keepGitDir: boolean | undefined;
  readonly checksum: string | undefined;
  /** Undefined when `--unpack` was not given (local archives are unpacked by default). */
  readonly unpack: boolean | undefined;
  readonly excludePatterns: readonly string[];
}
export interface WorkdirCommand extends CommandBase {
  readonly kind: "WORKDIR";
  readonly path: string;
}
export interface UserCommand extends CommandBase {
  readonly kind: "USER";
  readonly user: string;
}
export interface VolumeCommand extends CommandBase {
  readonly kind: "VOLUME";
  readonly volumes: readonly string[];
}
export interface StopSignalCommand extends CommandBase {
  readonly kind: "STOPSIGNAL";
  readonly signal: string;
}
export interface ExposeCommand extends CommandBase {
  readonly kind: "EXPOSE";
  /** Port specs as written, sorted (BuildKit sorts them). */
  readonly ports: readonly string[];
}
export interface ShellCommand extends CommandBase {
  readonly kind: "SHELL";
  readonly shell: readonly string[];
}

export type NetworkMode = "default" | "none" | "host";
export type SecurityMode = "sandbox" | "insecure";

/** A raw `--mount` value. Parse it with `parseMount(raw, expand)` once variables can be expanded. */
export interface RunMountSpec {
  readonly raw: string;
  /** The literal `from=` value (variables are not allowed there), for stage dependency detection. */
  readonly from: string | undefined;
}

export interface RunCommand extends CommandBase, ShellDependantCmdLine {
  readonly kind: "RUN";
  readonly mounts: readonly RunMountSpec[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  /** Names (without `--`) of the flags that were given. */
  readonly flagsUsed: readonly string[];
}
export interface CmdCommand extends CommandBase, ShellDependantCmdLine {
  readonly kind: "CMD";
}
export interface EntrypointCommand extends CommandBase, ShellDependantCmdLine {
  readonly kind: "ENTRYPOINT";
}

/**
 * Image-config health check. `test` is `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", script]`.
 * Durations are nanoseconds, 0 = not set (inherit).
 */
export interface HealthConfig {
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}
export interface HealthCheckCommand extends CommandBase {
  readonly kind: "HEALTHCHECK";
  readonly health: HealthConfig;
}

export interface OnbuildCommand extends CommandBase {
  readonly kind: "ONBUILD";
  /** Trigger text stored in the image config (`RUN echo hi`), heredoc bodies re-attached. */
  readonly expression: string;
  /** Upper-cased trigger keyword, e.g. `RUN`. */
  readonly trigger: string;
}

export type Command =
  | AddCommand
  | ArgCommand
  | CmdCommand
  | CopyCommand
  | EntrypointCommand
  | EnvCommand
  | ExposeCommand
  | HealthCheckCommand
  | LabelCommand
  | MaintainerCommand
  | OnbuildCommand
  | RunCommand
  | ShellCommand
  | StopSignalCommand
  | UserCommand
  | VolumeCommand
  | WorkdirCommand;

/** A build stage: its FROM and the instructions up to the next FROM. */
export interface Stage {
  readonly kind: "FROM";
  /** Lower-cased `AS` name, undefined for unnamed stages. */
  readonly name: string | undefined;
  /** Base image or stage reference as written (unexpanded; may contain global ARGs). */
  readonly baseName: string;
  /** `--platform` value as written (unexpanded). */
  readonly platform: string | undefined;
  readonly commands: Command[];
  readonly location: CommandLocation;
  readonly original: string;
  /** Comment lines directly above FROM. */
  readonly comments: readonly string[];
  /** `# <name> <description>` text for named stages. */
  readonly docComment: string | undefined;
}

export interface Stages {
  /** ARG instructions before the first FROM (global scope). */
  readonly metaArgs: readonly ArgCommand[];
  readonly stages: readonly Stage[];
}
