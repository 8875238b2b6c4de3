import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the proxy does to one request instead of passing it through unchanged. */
export type Fault =
  /** Answer with this status (and body) without asking the registry. */
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  /** Close the connection before any response. */
  | { readonly reset: true }
  /** Pass the headers and `bytes` body bytes, then cut the connection. */
  | { readonly dropAfter: number }
  /** Announce and send only `bytes` of the body: a complete-looking but short response. */
  | { readonly shortBody: number }
  /** Flip one byte of the body (same length). */
  | { readonly corrupt: true }
  /** Redirect (307) to this URL. */
  | { readonly redirect: string }
  /** Pass through after this many milliseconds. */
  | { readonly delay: number };

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
}

export interface FaultProxy {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly requests: ProxiedRequest[];
  /** The most requests that were in flight at once since the last `setFault`. */
  maxInFlight(): number;
  /** Decides per request; return undefined to pass it through. */
  setFault(fn: ((req: ProxiedRequest, index: number) => Fault | undefined) | undefined): void;
  stop(): Promise<void>;
}

/** A loopback HTTP proxy in front of a registry that records requests and injects faults. */
export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const requests: ProxiedRequest[] = [];
  let decide: ((req: ProxiedRequest, index: number) => Fault | undefined) | undefined;
  let inFlight = 0;
  let maxInFlight = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const info: ProxiedRequest = { method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers };
    requests.push(info);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once("close", () => inFlight--);
    const fault = decide?.(info, requests.length - 1);
    if (fault && "delay" in fault) {
      setTimeout(() => forward(req, res, undefined), fault.delay);
      return;
    }
    if (fault && ("status" in fault || "reset" in fault || "redirect" in fault)) {
      req.resume();
      if ("reset" in fault) {
        req.socket.destroy();
      } else if ("redirect" in fault) {
        res.writeHead(307, { location: fault.redirect, "content-length": "0" });
        res.end();
      } else {
        const body = fault.body ?? "";
        res.writeHead(fault.status, { "content-length": String(Buffer.byteLength(body)), ...fault.headers });
        res.end(body);
      }
      return;
    }
    forward(req, res, fault);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) => {
    const upstream = request(
      { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const headers = { ...up.headers };
        if (!fault) {
          res.writeHead(up.statusCode ?? 502, headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on("data", (c: Buffer) => chunks.push(c));
        up.on("end", () => {
          let body = Buffer.concat(chunks);
          if ("corrupt" in fault && body.length > 0) {
            body = Buffer.from(body);
            body[body.length >> 1] = (body[body.length >> 1] as number) ^ 0xff;
          }
          if ("shortBody" in fault) {
            body = body.subarray(0, fault.shortBody);
            headers["content-length"] = String(body.length);
          }
          res.writeHead(up.statusCode ?? 502, headers);
          if ("dropAfter" in fault) {
            res.write(body.subarray(0, fault.dropAfter), () => {
              // Let the partial body reach the client before the connection dies.
              setTimeout(() => res.socket?.destroy(), 20);
            });
            return;
          }
          res.end(body);
        });
      },
    );
    upstream.on("error", () => res.socket?.destroy());
    req.pipe(upstream);
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    maxInFlight: () => maxInFlight,
    setFault(fn) {
      decide = fn;
      maxInFlight = inFlight;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
