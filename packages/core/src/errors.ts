/**
 * kiln's single error class. Codes are containerd's error classes (stable, machine-readable);
 * `hint` tells the user what to do next; `location` points into a build definition (Dockerfile
 * file/line/instruction) when the error comes from user input.
 */
export type KilnErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "PERMISSION_DENIED"
  | "UNAVAILABLE"
  | "CANCELED"
  | "DATA_LOSS"
  | "NOT_IMPLEMENTED"
  | "INTERNAL";

/** Where in user input an error originates. */
export interface SourceLocation {
  readonly file: string;
  /** 1-based line of the instruction's first line. */
  readonly line: number;
  /** The instruction keyword as written, e.g. `COPY`. */
  readonly instruction?: string;
  /** 1-based column (in code points) on `line` that the error points at, when known. */
  readonly column?: number;
  /** The text of source line `line` (no line ending), so the error can show it. */
  readonly text?: string;
}

export interface KilnErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  readonly location?: SourceLocation;
  /** Digest of the LLB vertex that failed, when the error comes from a build step. */
  readonly vertex?: string;
  /** Free-form structured details (exit code, log path, ...). Never put secrets here. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class KilnError extends Error {
  override readonly name = "KilnError";
  readonly code: KilnErrorCode;
  readonly hint: string | undefined;
  readonly location: SourceLocation | undefined;
  readonly vertex: string | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: KilnErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.location = options.location;
    this.vertex = options.vertex;
    this.details = options.details;
  }

  /**
   * `Dockerfile:12:6: COPY: message` style text used by the CLI, followed by the source line with a
   * caret under the column when the location carries them (like buildx's source snippet).
   */
  describe(): string {
    const loc = this.location;
    const where = loc
      ? `${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ""}${loc.instruction ? `: ${loc.instruction}` : ""}: `
      : "";
    const snippet = loc ? formatSourceSnippet(loc) : "";
    return `${where}${this.message}${snippet ? `\n${snippet}` : ""}${this.hint ? `\n  hint: ${this.hint}` : ""}`;
  }
}

// Long lines (up to 64 KiB are legal) are cut around the column so the snippet stays readable.
const SNIPPET_WIDTH = 120;

/**
 * ` 12 | COPY --frm=x a /b` and, when the column is known, a caret line under it. Empty when the
 * location has no source text.
 */
export function formatSourceSnippet(loc: SourceLocation): string {
  if (loc.text === undefined) return "";
  const chars = Array.from(loc.text.replace(/\t/g, " "));
  const column = loc.column && loc.column > 0 ? Math.min(loc.column, chars.length + 1) : undefined;
  let start = 0;
  if (chars.length > SNIPPET_WIDTH) {
    start = column ? Math.max(0, Math.min(column - 1 - SNIPPET_WIDTH / 2, chars.length - SNIPPET_WIDTH)) : 0;
  }
  const shown = chars.slice(start, start + SNIPPET_WIDTH).join("");
  const prefix = start > 0 ? "…" : "";
  const suffix = start + SNIPPET_WIDTH < chars.length ? "…" : "";
  const gutter = ` ${String(loc.line).padStart(3)} | `;
  const lines = [`${gutter}${prefix}${shown}${suffix}`];
  if (column)
    lines.push(`${" ".repeat(gutter.length - 2)}| ${" ".repeat(prefix.length + column - 1 - start)}^`);
  return lines.join("\n");
}

export function isKilnError(err: unknown, code?: KilnErrorCode): err is KilnError {
  return err instanceof KilnError && (code === undefined || err.code === code);
}

export const isNotFound = (err: unknown): boolean => isKilnError(err, "NOT_FOUND");
export const isAlreadyExists = (err: unknown): boolean => isKilnError(err, "ALREADY_EXISTS");
export const isCanceled = (err: unknown): boolean =>
  isKilnError(err, "CANCELED") || (err instanceof Error && err.name === "AbortError");

/** Throws a CANCELED KilnError carrying the signal's reason when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new KilnError("CANCELED", "operation canceled", { cause: signal.reason });
  }
}

const CREDENTIAL_PATTERNS: readonly RegExp[] = [
  /(\/\/[^/:@\s]+:)[^@\s/]+@/g, // scheme://user:password@host
  /((?:authorization|token|password|secret)["']?\s*[:=]\s*["']?)[^"'\s,]+/gi,
];

/** Removes credentials from text that may end up in an error message or a log. */
export function redactCredentials(text: string): string {
  let out = text;
  for (const re of CREDENTIAL_PATTERNS) out = out.replace(re, "$1***");
  return out;
}
