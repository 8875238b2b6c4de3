/** What each instruction parser receives: the node's arguments and metadata, flags not yet parsed. */
import type { Heredoc } from "../parser/node.js";
import type { FlagSet } from "./flags.js";
import type { CommandLocation } from "./types.js";

export interface ParseRequest {
  /** Keyword as written. */
  readonly command: string;
  readonly args: readonly string[];
  readonly heredocs: readonly Heredoc[];
  /** Arguments were written in JSON (exec) form. */
  readonly json: boolean;
  /** Trimmed logical line. */
  readonly original: string;
  /** Untrimmed logical line (ONBUILD keeps its expression from it). */
  readonly rawOriginal: string;
  readonly flags: FlagSet;
  readonly location: CommandLocation;
  readonly comments: readonly string[];
}

export function errAtLeastOneArgument(command: string): string {
  return `${command} requires at least one argument`;
}

export function errExactlyOneArgument(command: string): string {
  return `${command} requires exactly one argument`;
}

/** `# <name> <text>` comment lines document ARGs and named stages. */
export function docComment(comments: readonly string[], name: string): string | undefined {
  if (name === "") return undefined;
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return undefined;
}
