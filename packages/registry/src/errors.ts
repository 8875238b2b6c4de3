import type { Readable } from "node:stream";
import { KilnError, type KilnErrorCode, redactCredentials } from "@kiln/core";
import { parseRetryAfter, TransientError } from "./retry.js";

/** `errors[]` of a distribution API error body. */
interface RegistryErrorBody {
  readonly errors?: readonly { code?: unknown; message?: unknown; detail?: unknown }[];
}

const ERROR_BODY_LIMIT = 64 * 1024;

/** Reads at most `limit` bytes of a body and discards the rest (so the connection can be reused). */
export async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size < limit) chunks.push(chunk.subarray(0, limit - size));
    size += chunk.length;
  }
  return Buffer.concat(chunks);
}

/** The registry's own words: `errors[].message` (with codes) from JSON, else the start of the text. */
export function registryMessage(text: string): { message: string; codes: string[] } {
  try {
    const body = JSON.parse(text) as RegistryErrorBody;
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      const codes = body.errors.map((e) => String(e.code ?? "UNKNOWN"));
      const message = body.errors
        .map((e) => (typeof e.message === "string" && e.message ? e.message : String(e.code ?? "error")))
        .join("; ");
      return { message, codes };
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.replace(/\s+/g, " ").trim();
  return { message: trimmed.length > 200 ? `${trimmed.slice(0, 200)}…` : trimmed, codes: [] };
}

/** `GET http://host/v2/repo/blobs/sha256:…` without query (upload state) or user info. */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * The error for an unexpected status. 5xx (but 501/505), 429 and 408 are transient; the rest are
 * permanent KilnErrors carrying the registry's message. Nothing of the request's headers goes in.
 */
export async function statusError(
  what: string,
  request: string,
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Readable,
): Promise<Error> {
  const text = await readLimited(body, ERROR_BODY_LIMIT).then(
    (b) => b.toString("utf8"),
    () => "",
  );
  const { message, codes } = registryMessage(text);
  const full = redactCredentials(`${what}: ${request}: HTTP ${status}${message ? `: ${message}` : ""}`);
  if (status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505)) {
    const retryAfter = headers["retry-after"];
    return new TransientError(full, parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter));
  }
  const code = statusCode(status);
  return new KilnError(code, full, {
    details: { status, ...(codes.length ? { registryErrors: codes } : {}) },
    ...(code === "PERMISSION_DENIED"
      ? {
          hint: "check the credentials for this registry (kiln login <host>) and the repository's permissions",
        }
      : {}),
  });
}

function statusCode(status: number): KilnErrorCode {
  if (status === 401 || status === 403) return "PERMISSION_DENIED";
  if (status === 404) return "NOT_FOUND";
  if (status === 400 || status === 413 || status === 414) return "INVALID_ARGUMENT";
  if (status === 405 || status === 501) return "NOT_IMPLEMENTED";
  return "FAILED_PRECONDITION";
}

/** DATA_LOSS for content whose bytes are not what its digest or size promise. */
export function dataLoss(message: string, details?: Record<string, unknown>): KilnError {
  return new KilnError("DATA_LOSS", message, {
    ...(details ? { details } : {}),
    hint: "the registry (or something between it and kiln) served corrupt content; nothing was stored",
  });
}
