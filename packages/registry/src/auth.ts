import { type CallOptions, KilnError } from "@kiln/core";
import { parseChallenges } from "./challenge.js";
import type { CredentialStore, Credentials } from "./credentials.js";

/** `repository:<name>:pull` or `repository:<name>:pull,push`. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? "pull,push" : "pull"}`;
}

/** A token response of a bearer token server (distribution's token spec). */
interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
  issued_at?: unknown;
}

/** GETs a token server URL (through the client's transport: TLS, retries) and returns the parsed JSON. */
export type TokenFetcher = (url: URL, authorization: string | undefined, o: CallOptions) => Promise<unknown>;

/**
 * Authorization for registry requests. The first request to a host goes out anonymous; its 401
 * challenge tells whether the host wants Basic credentials or a bearer token from a token server.
 */
export interface Authenticator {
  /** The `Authorization` value for a request, or undefined (anonymous / not challenged yet). */
  authorization(host: string, scopes: readonly string[], o: CallOptions): Promise<string | undefined>;
  /**
   * Learns from a 401's `WWW-Authenticate`; true when a new attempt with other authorization is worth
   * making (the caller makes at most one).
   */
  unauthorized(
    host: string,
    scopes: readonly string[],
    wwwAuthenticate: string | readonly string[] | undefined,
    o: CallOptions,
    /** The Authorization the refused request carried (undefined: it went out anonymously). */
    sent?: string,
  ): Promise<boolean>;
}

type HostAuth = { kind: "basic" } | { kind: "bearer"; realm: string; service: string | undefined };

/** Tokens are dropped this long before they expire, so none expires in flight. */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when a server names none. */
const DEFAULT_TOKEN_SECONDS = 60;

export function createAuthenticator(options: {
  credentials?: CredentialStore;
  fetchToken: TokenFetcher;
}): Authenticator {
  const hosts = new Map<string, HostAuth>();
  const tokens = new Map<string, { token: string; expiresAt: number }>();
  const pending = new Map<string, Promise<string>>();

  // Credentials are stored under the name users log in with: Docker Hub's is not its API host.
  const credentialsFor = async (host: string, o: CallOptions): Promise<Credentials | undefined> =>
    options.credentials
      ? options.credentials.get(host === "registry-1.docker.io" ? "docker.io" : host, o)
      : undefined;

  const basic = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;

  const tokenKey = (host: string, auth: HostAuth & { kind: "bearer" }, scopes: readonly string[]) =>
    `${host}\n${auth.realm}\n${auth.service ?? ""}\n${[...scopes].sort().join(" ")}`;

  const fetchToken = async (
    host: string,
    auth: HostAuth & { kind: "bearer" },
    scopes: readonly string[],
    o: CallOptions,
  ): Promise<string> => {
    let url: URL;
    try {
      url = new URL(auth.realm);
    } catch {
      throw new KilnError("FAILED_PRECONDITION", `registry ${host} named an invalid token realm`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new KilnError("FAILED_PRECONDITION", `registry ${host} named a token realm that is not HTTP(S)`);
    }
    if (auth.service !== undefined) url.searchParams.set("service", auth.service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const creds = await credentialsFor(host, o);
    const body = (await options.fetchToken(url, creds ? basic(creds) : undefined, o)) as TokenResponse;
    const token = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new KilnError("PERMISSION_DENIED", `token server for ${host} answered without a token`);
    }
    const seconds =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : Number.NaN;
    const start = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    tokens.set(tokenKey(host, auth, scopes), { token, expiresAt: start + seconds * 1000 - EXPIRY_MARGIN_MS });
    return token;
  };

  const bearer = async (
    host: string,
    auth: HostAuth & { kind: "bearer" },
    scopes: readonly string[],
    o: CallOptions,
  ): Promise<string> => {
    const key = tokenKey(host, auth, scopes);
    const cached = tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    // One token request per host+scope at a time, however many requests wait for it.
    let inflight = pending.get(key);
    if (!inflight) {
      inflight = fetchToken(host, auth, scopes, o).finally(() => pending.delete(key));
      pending.set(key, inflight);
    }
    return `Bearer ${await inflight}`;
  };

  return {
    async authorization(host, scopes, o) {
      const auth = hosts.get(host);
      if (auth === undefined) return undefined;
      if (auth.kind === "bearer") return bearer(host, auth, scopes, o);
      const creds = await credentialsFor(host, o);
      return creds ? basic(creds) : undefined;
    },
    async unauthorized(host, scopes, wwwAuthenticate, o, sent) {
      const challenges = parseChallenges(wwwAuthenticate);
      const bearerChallenge = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
      const previous = hosts.get(host);
      if (bearerChallenge) {
        const next: HostAuth = {
          kind: "bearer",
          realm: bearerChallenge.params.realm as string,
          service: bearerChallenge.params.service,
        };
        hosts.set(host, next);
        // The token we sent (if any) was refused: forget it so the next attempt asks for a new one.
        tokens.delete(tokenKey(host, next, scopes));
        return true;
      }
      if (challenges.some((c) => c.scheme === "basic")) {
        hosts.set(host, { kind: "basic" });
        // Credentials that were sent and refused fail; a request that went out anonymously (e.g. one of
        // several sent before the first challenge came back) is retried with them.
        if (previous?.kind === "basic" && sent !== undefined) return false;
        return (await credentialsFor(host, o)) !== undefined;
      }
      return false;
    },
  };
}
