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

  /** `Dockerfile:12: COPY: message` style text used by the CLI. */
  describe(): string {
    const where = this.location
      ? `${this.location.file}:${this.location.line}${this.location.instruction ? `: ${this.location.instruction}` : ""}: `
      : "";
    return `${where}${this.message}${this.hint ? `\n  hint: ${this.hint}` : ""}`;
  }
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
