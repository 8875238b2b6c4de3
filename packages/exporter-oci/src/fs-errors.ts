import { isCanceled, KilnError, type KilnErrorCode } from "@kiln/core";

const CODES: Readonly<Record<string, KilnErrorCode>> = {
  ENOENT: "NOT_FOUND",
  ENOTDIR: "INVALID_ARGUMENT",
  EISDIR: "INVALID_ARGUMENT",
  EEXIST: "ALREADY_EXISTS",
  EACCES: "PERMISSION_DENIED",
  EPERM: "PERMISSION_DENIED",
  EROFS: "PERMISSION_DENIED",
  ENOSPC: "UNAVAILABLE",
  EDQUOT: "UNAVAILABLE",
  EPIPE: "CANCELED",
};

/** Turns a filesystem/stream error met while exporting to `where` into a KilnError; KilnErrors pass through. */
export function exportError(err: unknown, where: string): KilnError {
  if (err instanceof KilnError) return err;
  if (isCanceled(err)) return new KilnError("CANCELED", `export to ${where} canceled`, { cause: err });
  const errno = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  const message = err instanceof Error ? err.message : String(err);
  return new KilnError(CODES[errno] ?? "INTERNAL", `exporting to ${where}: ${message}`, { cause: err });
}
