import { isKilnError, KilnError, type KilnErrorCode, redactCredentials } from "@kiln/core";

/** Error codes of Node's sockets and the SDK's HTTP handler that mean "the service is not reachable". */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $fault?: "client" | "server";
}

const PERMISSION_NAMES = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "CredentialsProviderError",
]);

/** Answers that mean "you are talking to the bucket the wrong way" (region, addressing style). */
const WRONG_REGION_NAMES = new Set([
  "PermanentRedirect",
  "AuthorizationHeaderMalformed",
  "IllegalLocationConstraintException",
]);

function isWrongRegion(e: SdkErrorShape): boolean {
  const status = e.$metadata?.httpStatusCode;
  // A HEAD has no body, so S3 can only say 400 or 301 where a GET would name the problem.
  return (
    (e.name !== undefined && WRONG_REGION_NAMES.has(e.name)) ||
    status === 301 ||
    (status === 400 && (e.name === "BadRequest" || e.name === "Unknown" || e.name === "400"))
  );
}

function codeFor(e: SdkErrorShape): KilnErrorCode {
  const status = e.$metadata?.httpStatusCode;
  if (isWrongRegion(e)) return "INVALID_ARGUMENT";
  if (e.name && PERMISSION_NAMES.has(e.name)) return "PERMISSION_DENIED";
  if (e.name === "NoSuchKey" || e.name === "NotFound" || e.name === "NoSuchBucket") return "NOT_FOUND";
  if (e.name === "PreconditionFailed" || status === 412) return "FAILED_PRECONDITION";
  if (status === 401 || status === 403) return "PERMISSION_DENIED";
  if (status === 404) return "NOT_FOUND";
  if (status !== undefined && status >= 500) return "UNAVAILABLE";
  if (status === 429 || e.name === "SlowDown" || e.name === "TimeoutError" || e.name === "RequestTimeout")
    return "UNAVAILABLE";
  if (e.code && NETWORK_CODES.has(e.code)) return "UNAVAILABLE";
  if (status !== undefined && status >= 400) return "INVALID_ARGUMENT";
  return "UNAVAILABLE";
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    // AggregateError from a dual-stack connect attempt keeps the socket errors in `errors`.
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner)) for (const i of inner) if (i instanceof Error) return networkCode(i);
  }
  return undefined;
}

const WRONG_REGION_HINT =
  "S3 refused how the bucket was addressed: check that region= is the bucket's region, and for S3-compatible services set endpoint_url= and use_path_style=true";

const HINTS: Partial<Record<KilnErrorCode, string>> = {
  PERMISSION_DENIED:
    "check the S3 credentials (access_key_id/secret_access_key/session_token, AWS_* variables or the AWS profile) and the bucket policy",
  UNAVAILABLE: "the S3 endpoint is unreachable or failing; check endpoint_url/region and try again",
  NOT_FOUND: "check bucket, region and prefix",
};

/**
 * Maps an AWS SDK (or socket) failure to a KilnError. The SDK's own error object (with its raw
 * response and metadata) is not kept as `cause`: the cause is a plain Error with its name, code and
 * redacted text, so nothing the SDK attaches can end up in logs.
 */
export function s3Error(what: string, err: unknown, signal?: AbortSignal): KilnError {
  if (isKilnError(err)) return err;
  const e = (err ?? {}) as SdkErrorShape;
  if (signal?.aborted || e.name === "AbortError") {
    return new KilnError("CANCELED", `${what}: canceled`, { cause: signal?.reason });
  }
  const socket = networkCode(err);
  const code: KilnErrorCode = socket ? "UNAVAILABLE" : codeFor(e);
  const status = e.$metadata?.httpStatusCode;
  const detail = [e.name, socket, status !== undefined ? `HTTP ${status}` : undefined]
    .filter((x) => x !== undefined && x !== "Error")
    .join(", ");
  const text = e.message && e.message !== e.name ? e.message : "";
  const message = redactCredentials(`${what}: ${[detail, text].filter(Boolean).join(": ") || "failed"}`);
  const hint = !socket && isWrongRegion(e) ? WRONG_REGION_HINT : HINTS[code];
  // A stand-in for the SDK's error: its name, socket code and text.
  const cause = Object.assign(new Error(redactCredentials(text || detail)), {
    name: e.name ?? "Error",
    ...(socket ? { code: socket } : {}),
  });
  return new KilnError(code, message, {
    cause,
    ...(hint ? { hint } : {}),
    details: {
      ...(status !== undefined ? { status } : {}),
      ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}),
      ...(e.name ? { s3Error: e.name } : {}),
    },
  });
}

/** True for a 404 (missing key or bucket), which `info` and `readPointer` turn into `undefined`. */
export function isS3NotFound(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  return (
    e.name === "NoSuchKey" ||
    e.name === "NotFound" ||
    (e.$metadata?.httpStatusCode === 404 && e.name !== "NoSuchBucket")
  );
}

/** A broken or refused connection (worth resuming or retrying), as opposed to an answer from S3. */
export function isNetworkFailure(err: unknown): boolean {
  return networkCode(err) !== undefined || (err as { name?: string } | undefined)?.name === "TimeoutError";
}
