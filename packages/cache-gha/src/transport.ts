import { isKilnError, KilnError, type KilnErrorCode, throwIfAborted } from "@kiln/core";
import { type Dispatcher, errors as undiciErrors } from "undici";
import { cancellableSleep, type RequestBudget } from "./limiter.js";

/** What every protocol call needs: the HTTP agent, the budget, the token, the retry pace. */
export interface Transport {
  readonly dispatcher: Dispatcher;
  readonly budget: RequestBudget;
  readonly token: string;
  readonly retryBaseMs: number;
  readonly warn: (message: string) => void;
}

export interface Call {
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpRequest {
  readonly method: Dispatcher.HttpMethod;
  readonly url: string;
  readonly headers?: Record<string, string>;
  /** A factory, so every attempt sends a fresh body. */
  readonly body?: () => Dispatcher.DispatchOptions["body"];
  /** Service calls count against the budget and carry the bearer token; blob URLs carry a SAS. */
  readonly service: boolean;
}

/** Error text may carry the URL but never its query string (SAS signatures) nor the token. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
]);

function isTransientError(err: unknown): boolean {
  if (err instanceof undiciErrors.UndiciError && !(err instanceof undiciErrors.RequestAbortedError))
    return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData["body"];
}

/**
 * Sends a request until it gets a non-transient answer: 429 waits for `Retry-After` (and pauses the
 * whole budget), 5xx and broken connections back off exponentially; all of it bounded by the call's
 * deadline (BuildKit's "maximum timeout reached"). Returns any other response, body unread.
 */
export async function send(t: Transport, req: HttpRequest, call: Call, what: string): Promise<HttpResponse> {
  let lastProblem = "";
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(call.signal);
    if (req.service) await t.budget.acquire(call.deadline, call.signal);
    let delay: number;
    try {
      const headers: Record<string, string> = { "user-agent": "kiln", ...req.headers };
      if (req.service) headers.authorization = `Bearer ${t.token}`;
      const target = new URL(req.url);
      const res = await t.dispatcher.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: req.method,
        headers,
        body: req.body?.() ?? null,
        signal: call.signal,
        // A service that accepts the connection and never answers must not outlive the timeout.
        headersTimeout: Math.max(1, call.deadline - Date.now()),
      });
      if (!TRANSIENT_STATUS.has(res.statusCode)) {
        return { status: res.statusCode, headers: res.headers, body: res.body };
      }
      await res.body.dump();
      lastProblem = `HTTP ${res.statusCode}`;
      const retryAfter = parseRetryAfter(res.headers["retry-after"]);
      delay = retryAfter ?? backoff(t.retryBaseMs, attempt);
      if (res.statusCode === 429) {
        if (req.service) t.budget.pause(delay);
        t.warn(`GitHub Actions cache is throttling requests; waiting ${Math.ceil(delay / 1000)}s (${what})`);
      }
    } catch (err) {
      if (call.signal?.aborted)
        throw new KilnError("CANCELED", "operation canceled", { cause: call.signal.reason });
      if (isKilnError(err) || !isTransientError(err)) throw wrapError(err, what, req.url);
      lastProblem = (err as Error).message;
      delay = backoff(t.retryBaseMs, attempt);
    }
    if (Date.now() + delay > call.deadline) {
      throw new KilnError(
        "UNAVAILABLE",
        `gha cache: maximum timeout reached while ${what} (last: ${lastProblem})`,
        {
          hint: "the cache service keeps failing or throttling; raise timeout=… or retry later",
        },
      );
    }
    await cancellableSleep(delay, call.signal);
  }
}

const backoff = (base: number, attempt: number) => {
  const ceiling = Math.min(30_000, base * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
};

function wrapError(err: unknown, what: string, url: string): KilnError {
  if (isKilnError(err)) return err;
  return new KilnError(
    "UNAVAILABLE",
    `gha cache: ${what} failed: ${(err as Error).message} (${safeUrl(url)})`,
    {
      cause: err,
    },
  );
}

/** Reads a JSON body (bounded), or undefined when it is not JSON. */
export async function readJson(res: HttpResponse): Promise<Record<string, unknown> | undefined> {
  const text = await res.body.text();
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A KilnError for an unexpected status, with the service's own message (never the token). */
export async function statusError(res: HttpResponse, what: string, url: string): Promise<KilnError> {
  const text = (await res.body.text().catch(() => "")).slice(0, 2000);
  let detail = text.replace(/\s+/g, " ").trim();
  try {
    const json = JSON.parse(text) as { msg?: unknown; message?: unknown };
    detail = String(json.msg ?? json.message ?? detail);
  } catch {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    if (code) detail = code;
  }
  const code: KilnErrorCode =
    res.status === 401 || res.status === 403
      ? "PERMISSION_DENIED"
      : res.status === 404
        ? "NOT_FOUND"
        : "UNAVAILABLE";
  return new KilnError(
    code,
    `gha cache: ${what}: HTTP ${res.status}${detail ? ` ${detail}` : ""} (${safeUrl(url)})`,
    {
      ...(code === "PERMISSION_DENIED"
        ? {
            hint: "the runtime token was refused; it expires with the job and must come from ACTIONS_RUNTIME_TOKEN",
          }
        : {}),
      details: { status: res.status },
    },
  );
}
