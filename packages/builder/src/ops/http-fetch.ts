import type { Readable } from "node:stream";
import { type CallOptions, KilnError } from "@kiln/core";
import { redactUrl } from "@kiln/llb";
import { request } from "undici";

export interface HttpResponse {
  readonly status: number;
  /** The URL that answered, after redirects (credentials removed). */
  readonly url: string;
  header(name: string): string | undefined;
  readonly body: Readable;
  /** Drops the body (a 304 or an unused response). */
  discard(): Promise<void>;
}

const MAX_REDIRECTS = 10;
const USER_AGENT = "kiln";

/**
 * GET with redirects followed (at most 10, like Go's client). Credentials in the URL become a Basic
 * Authorization header; any Authorization header is sent to the original origin only. Statuses outside 2xx/304 become
 * errors naming the URL without its credentials.
 */
export async function httpGet(
  url: string,
  headers: Readonly<Record<string, string>>,
  o: CallOptions,
): Promise<HttpResponse> {
  let target = new URL(url);
  const origin = target.origin;
  const { authorization: given, ...otherHeaders } = headers;
  const fromUrl =
    target.username || target.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString("base64")}`
      : undefined;
  const authorization = given ?? fromUrl;
  target.username = "";
  target.password = "";
  for (let hop = 0; ; hop++) {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(target, {
        method: "GET",
        headers: {
          "user-agent": USER_AGENT,
          ...otherHeaders,
          ...(authorization && target.origin === origin ? { authorization } : {}),
        },
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      if (o.signal?.aborted) throw new KilnError("CANCELED", "download canceled", { cause: o.signal.reason });
      throw new KilnError("UNAVAILABLE", `cannot download ${redactUrl(url)}: ${(err as Error).message}`, {
        cause: err,
        hint: "check the URL and that the server is reachable",
      });
    }
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const location = header("location");
    if (res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && location) {
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw new KilnError("UNAVAILABLE", `cannot download ${redactUrl(url)}: too many redirects`);
      }
      target = new URL(location, target);
      continue;
    }
    if ((res.statusCode < 200 || res.statusCode >= 300) && res.statusCode !== 304) {
      await res.body.dump();
      throw statusError(url, res.statusCode);
    }
    return {
      status: res.statusCode,
      url: target.toString(),
      header,
      body: res.body,
      discard: () => res.body.dump(),
    };
  }
}

function statusError(url: string, status: number): KilnError {
  const what = `cannot download ${redactUrl(url)}: invalid response status ${status}`;
  if (status === 404 || status === 410) {
    return new KilnError("NOT_FOUND", what, { hint: "check the URL; the server has no file there" });
  }
  if (status === 401 || status === 403) {
    return new KilnError("PERMISSION_DENIED", what, { hint: "the server refused access to this URL" });
  }
  return new KilnError(status >= 500 ? "UNAVAILABLE" : "INVALID_ARGUMENT", what);
}
