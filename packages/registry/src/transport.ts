import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { type CallOptions, KilnError } from "@kiln/core";
import pLimit, { type LimitFunction } from "p-limit";
import { Agent, type Dispatcher, request } from "undici";
import type { Authenticator } from "./auth.js";
import { type Endpoint, originOf, type TlsSettings } from "./config.js";
import { describeRequest, readLimited, statusError } from "./errors.js";
import { describe, type RetryPolicy, withRetries } from "./retry.js";

export type Method = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
type Headers = Record<string, string | string[] | undefined>;

export interface RegistryRequest {
  readonly method: Method;
  readonly endpoint: Endpoint;
  /** Path after the endpoint's prefix (`/library/busybox/manifests/latest`), or an absolute URL. */
  readonly target: string | URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Made anew for every attempt, so a retried upload sends its body again from the start. */
  readonly body?: () => Promise<Readable | Buffer> | Buffer;
  /** Token scopes for the request. */
  readonly scopes: readonly string[];
  /** Statuses that are answers; anything else becomes an error. */
  readonly expect: readonly number[];
  /** What the client was doing, for error messages: `pull manifest host/repo:tag`. */
  readonly what: string;
  /** Follow redirects (GET/HEAD only; blob downloads are often redirected to storage). */
  readonly redirects?: boolean;
  /** `false`: one attempt only (the caller retries a larger unit, e.g. a whole upload). */
  readonly retry?: boolean;
}

export interface RegistryResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Readable;
  /** The URL that answered (after redirects), for resolving a relative `Location`. */
  readonly url: URL;
  /** Frees the host's concurrency slot; call when the body has been read or dropped. Idempotent. */
  readonly release: () => void;
}

export interface TransportOptions {
  readonly auth: Authenticator;
  readonly retry: RetryPolicy;
  readonly concurrencyPerHost: number;
  readonly userAgent: string;
}

const MAX_REDIRECTS = 5;
const TLS_PROTOCOL_ERROR = /wrong version number|packet length too long|unknown protocol|EPROTO/i;

export interface Transport {
  /** Sends with auth and retries; `read` consumes the response inside the attempt (so a body that
   * breaks off is retried too) and the host's slot is freed after it. */
  send<T>(req: RegistryRequest, o: CallOptions, read: (res: RegistryResponse) => Promise<T>): Promise<T>;
  /** Like `send` for streaming: the caller owns the response and must `release()` it. */
  open(req: RegistryRequest, o: CallOptions): Promise<RegistryResponse>;
  /** Sends once (no auth, no retries, no slot); for follow-up requests inside a held slot. */
  exchange(
    method: Method,
    url: URL,
    headers: Headers,
    o: CallOptions,
    body?: Readable | Buffer,
  ): Promise<RawResponse>;
  /** GET of a JSON document without registry auth (token servers), with retries. */
  getJson(url: URL, authorization: string | undefined, what: string, o: CallOptions): Promise<unknown>;
  urlFor(endpoint: Endpoint, target: string | URL): URL;
  close(): Promise<void>;
}

interface RawResponse {
  status: number;
  headers: Headers;
  body: Readable;
  url: URL;
}

export function createTransport(options: TransportOptions, tlsFor: (host: string) => TlsSettings): Transport {
  const agents = new Map<string, Agent>();
  const limits = new Map<string, LimitFunction>();
  /** Index into an endpoint's schemes, once the first one failed at the TLS handshake. */
  const schemeChoice = new Map<string, number>();

  const agentFor = (tls: TlsSettings): Agent => {
    const key = JSON.stringify([tls.ca ?? [], tls.insecure === true]);
    let agent = agents.get(key);
    if (!agent) {
      const ca = tls.ca?.map((file) => {
        try {
          return readFileSync(file, "utf8");
        } catch (err) {
          throw new KilnError("FAILED_PRECONDITION", `CA certificate ${file} cannot be read`, { cause: err });
        }
      });
      agent = new Agent({
        keepAliveTimeout: 30_000,
        connect: {
          ...(ca ? { ca: [...rootCertificates, ...ca] } : {}),
          rejectUnauthorized: tls.insecure !== true,
        },
      });
      agents.set(key, agent);
    }
    return agent;
  };

  const acquire = (host: string): Promise<() => void> => {
    let limit = limits.get(host);
    if (!limit) {
      limit = pLimit(options.concurrencyPerHost);
      limits.set(host, limit);
    }
    const slot = limit;
    return new Promise((granted) => {
      void slot(
        () =>
          new Promise<void>((done) => {
            let released = false;
            granted(() => {
              if (!released) done();
              released = true;
            });
          }),
      );
    });
  };

  const urlFor = (endpoint: Endpoint, target: string | URL): URL => {
    if (target instanceof URL) return target;
    const scheme = endpoint.schemes[schemeChoice.get(endpoint.host) ?? 0] ?? "https";
    return new URL(`${originOf(endpoint.host, scheme)}${endpoint.prefix}${target}`);
  };

  const exchange = async (
    method: Method,
    url: URL,
    headers: Headers,
    o: CallOptions,
    body?: Readable | Buffer,
    tls: TlsSettings = tlsFor(url.host),
  ): Promise<RawResponse> => {
    const res = await request(url, {
      method,
      headers: { "user-agent": options.userAgent, ...headers },
      dispatcher: agentFor(tls) as Dispatcher,
      ...(body !== undefined ? { body } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: res.body, url };
  };

  /** One attempt: the endpoint's scheme (with the HTTP fallback), then redirects. */
  const attempt = async (req: RegistryRequest, authorization: string | undefined, o: CallOptions) => {
    const headers: Headers = { ...req.headers };
    // An absolute URL (upload Location) may point elsewhere; the registry's credentials stay with it.
    const foreign = req.target instanceof URL && req.target.host !== req.endpoint.host;
    if (authorization && !foreign) headers.authorization = authorization;
    let url = urlFor(req.endpoint, req.target);
    // The endpoint's TLS settings include the per-request `registry.insecure` attribute.
    const tls = (u: URL) => (u.host === req.endpoint.host ? req.endpoint.tls : tlsFor(u.host));
    let res: RawResponse;
    let body = req.body ? await req.body() : undefined;
    try {
      res = await exchange(req.method, url, headers, o, body, tls(url));
    } catch (err) {
      if (body && !Buffer.isBuffer(body)) body.destroy(); // a file stream must not stay open
      const choice = schemeChoice.get(req.endpoint.host) ?? 0;
      const fallback = !(req.target instanceof URL) && choice + 1 < req.endpoint.schemes.length;
      if (
        !fallback ||
        !TLS_PROTOCOL_ERROR.test(`${(err as Error).message} ${(err as { code?: string }).code}`)
      )
        throw err;
      // Not a TLS server: an insecure registry speaking plain HTTP. Remember it for this client.
      schemeChoice.set(req.endpoint.host, choice + 1);
      url = urlFor(req.endpoint, req.target);
      body = req.body ? await req.body() : undefined;
      res = await exchange(req.method, url, headers, o, body, tls(url));
    }
    for (let hop = 0; req.redirects && hop < MAX_REDIRECTS && isRedirect(res.status); hop++) {
      const location = header(res.headers, "location");
      if (!location) break;
      res.body.resume();
      const next = new URL(location, url);
      // Credentials stay with the registry; storage behind a redirect gets a signed URL instead.
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
      res = await exchange(req.method, url, headers, o, undefined, tls(url));
    }
    return res;
  };

  /** One attempt with auth: anonymous or cached authorization first, one more try after a 401. */
  const authorized = async (req: RegistryRequest, o: CallOptions): Promise<RegistryResponse> => {
    for (let round = 0; ; round++) {
      const authorization = await options.auth.authorization(req.endpoint.host, req.scopes, o);
      const release = await acquire(req.endpoint.host);
      if (o.signal?.aborted) {
        release(); // canceled while waiting for a slot
        throw new KilnError("CANCELED", `${req.what}: canceled`, { cause: o.signal.reason });
      }
      let res: RawResponse;
      try {
        res = await attempt(req, authorization, o);
      } catch (err) {
        release();
        throw err;
      }
      if (res.status === 401 && round === 0) {
        await readLimited(res.body, 0).catch(() => undefined);
        release();
        const www = res.headers["www-authenticate"];
        if (await options.auth.unauthorized(req.endpoint.host, req.scopes, www, o, authorization)) continue;
        throw await statusError(
          req.what,
          describeRequest(req.method, res.url),
          401,
          res.headers,
          emptyBody(),
        );
      }
      if (!req.expect.includes(res.status)) {
        const request = describeRequest(req.method, res.url);
        const err = await statusError(req.what, request, res.status, res.headers, res.body);
        release();
        throw err;
      }
      return { ...res, release };
    }
  };

  // A mirror that fails is skipped for the registry itself, so it gets little patience.
  const policyFor = (req: RegistryRequest): RetryPolicy => {
    if (req.retry === false) return { attempts: 1 };
    return req.endpoint.mirror
      ? { ...options.retry, attempts: Math.min(2, options.retry.attempts ?? 5) }
      : options.retry;
  };

  const send = <T>(req: RegistryRequest, o: CallOptions, read: (res: RegistryResponse) => Promise<T>) =>
    withRetries(req.what, policyFor(req), o.signal, async () => {
      const res = await authorized(req, o);
      try {
        return await read(res);
      } finally {
        res.release();
      }
    });

  const open = (req: RegistryRequest, o: CallOptions) =>
    withRetries(req.what, policyFor(req), o.signal, () => authorized(req, o));

  const getJson = (url: URL, authorization: string | undefined, what: string, o: CallOptions) =>
    withRetries(what, options.retry, o.signal, async () => {
      const res = await exchange("GET", url, authorization ? { authorization } : {}, o);
      const request = describeRequest("GET", url);
      if (res.status !== 200) throw await statusError(what, request, res.status, res.headers, res.body);
      const text = (await readLimited(res.body, 1 << 20)).toString("utf8");
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new KilnError("FAILED_PRECONDITION", `${what}: ${request}: the answer is not JSON`, {
          cause: describe(err),
        });
      }
    });

  return {
    send,
    open,
    exchange,
    getJson,
    urlFor,
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
    },
  };
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function emptyBody(): Readable {
  return Readable.from([]);
}

/** A single header value (the first when repeated). */
export function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
