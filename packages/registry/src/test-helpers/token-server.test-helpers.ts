import { createSign, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { certificateBase64Der } from "./pki.test-helpers.js";

/**
 * A bearer token server for distribution's `auth.token`: GET /token?service=…&scope=… (Basic auth
 * optional) → `{ token, access_token, expires_in, issued_at }`. Tokens are RS256 JWTs whose header
 * carries `x5c` = [the signing certificate]; the registry verifies that chain against its
 * `rootcertbundle` (the same certificate) and then the signature with the leaf's key. This works with
 * distribution 2.8 and 3.x alike, unlike a libtrust-style `kid`, which 3.x no longer derives.
 */
export interface TokenServer {
  /** `http://127.0.0.1:<port>/token` */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** Every token request: scopes asked and the user that authenticated (undefined = anonymous). */
  readonly requests: { scopes: string[]; user: string | undefined; rejected: boolean }[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  readonly users: Readonly<Record<string, string>>;
  /** PEM key and certificate that sign tokens. */
  readonly key: string;
  readonly cert: string;
  /** Token lifetime in seconds (default 300). */
  readonly expiresIn?: number;
  /** Actions an anonymous client gets on any repository (default none). */
  readonly anonymousActions?: readonly string[];
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = await readFile(options.key, "utf8");
  const x5c = [await certificateBase64Der(options.cert)];
  const service = "kiln-test-registry";
  const issuer = "kiln-test-token-issuer";
  const requests: TokenServer["requests"] = [];

  const sign = (claims: Record<string, unknown>): string => {
    const head = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c }));
    const body = b64url(JSON.stringify(claims));
    const signature = createSign("RSA-SHA256").update(`${head}.${body}`).sign(key);
    return `${head}.${body}.${b64url(signature)}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://token");
    const scopes = url.searchParams.getAll("scope");
    let user: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization?.startsWith("Basic ")) {
      const [name, ...rest] = Buffer.from(authorization.slice(6), "base64").toString("utf8").split(":");
      if (name === undefined || options.users[name] !== rest.join(":")) {
        requests.push({ scopes, user: name, rejected: true });
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ details: "incorrect username or password" }));
        return;
      }
      user = name;
    }
    requests.push({ scopes, user, rejected: false });
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      if (type !== "repository" || !name || !actions) return [];
      const granted = user
        ? actions.split(",")
        : actions.split(",").filter((a) => options.anonymousActions?.includes(a));
      return granted.length ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    const token = sign({
      iss: issuer,
      sub: user ?? "",
      aud: url.searchParams.get("service") ?? service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date(now * 1000).toISOString(),
      }),
    );
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
