import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseRange, readBody, sendEmpty } from "./http-util.js";
import type { CacheState } from "./state.js";

/** Azure Storage's path-style addressing for IP hosts: `/<account>/<container>/<blob>?<sas>`. */
export const ACCOUNT = "devstoreaccount1";
export const CONTAINER = "actions-cache";
const API_VERSION = "2024-11-04";

export interface BlobEndpoint {
  /** A SAS URL for one blob: `r` (GET/HEAD) or `cw` (PUT), valid for `ttlMs`. */
  signedUrl(blob: string, permission: "r" | "cw", ttlMs?: number): string;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

export function createBlobEndpoint(state: CacheState, baseUrl: () => string, secret: Buffer): BlobEndpoint {
  const sign = (path: string, sp: string, se: string) =>
    createHmac("sha256", secret).update(`${path}\n${sp}\n${se}`).digest("base64");

  function authorize(url: URL, needed: "r" | "c"): boolean {
    const sp = url.searchParams.get("sp") ?? "";
    const se = url.searchParams.get("se") ?? "";
    const sig = Buffer.from(url.searchParams.get("sig") ?? "", "base64");
    const expected = Buffer.from(sign(url.pathname, sp, se), "base64");
    if (sig.length !== expected.length || !timingSafeEqual(sig, expected)) return false;
    return sp.includes(needed) && Date.parse(se) > Date.now();
  }

  function storageError(res: ServerResponse, status: number, code: string, message: string) {
    const body = Buffer.from(
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`,
    );
    res.writeHead(status, {
      "content-type": "application/xml",
      "content-length": body.length,
      "x-ms-error-code": code,
      "x-ms-version": API_VERSION,
    });
    res.end(body);
  }

  const common = () => ({
    "x-ms-request-id": randomUUID(),
    "x-ms-version": API_VERSION,
    date: new Date().toUTCString(),
  });

  async function put(req: IncomingMessage, res: ServerResponse, url: URL, name: string) {
    const data = await readBody(req);
    const comp = url.searchParams.get("comp");
    if (comp === "block") {
      // Put Block: staged until a block list names it.
      const id = url.searchParams.get("blockid");
      if (!id) return storageError(res, 400, "InvalidQueryParameterValue", "blockid is required");
      const staged = state.stagedBlocks.get(name) ?? new Map<string, Buffer>();
      staged.set(id, data);
      state.stagedBlocks.set(name, staged);
      const md5 = createHash("md5").update(data).digest("base64");
      return sendEmpty(res, 201, {
        ...common(),
        "content-md5": md5,
        "x-ms-request-server-encrypted": "true",
      });
    }
    if (comp === "blocklist") {
      const staged = state.stagedBlocks.get(name) ?? new Map<string, Buffer>();
      const ids = [...data.toString("utf8").matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map(
        (m) => m[2] ?? "",
      );
      const parts: Buffer[] = [];
      for (const id of ids) {
        const block = staged.get(id);
        if (!block) return storageError(res, 400, "InvalidBlockList", "The specified block list is invalid.");
        parts.push(block);
      }
      state.stagedBlocks.delete(name);
      const blob = state.putBlob(name, Buffer.concat(parts));
      return sendEmpty(res, 201, {
        ...common(),
        etag: blob.etag,
        "last-modified": blob.lastModified.toUTCString(),
        "x-ms-request-server-encrypted": "true",
      });
    }
    if (comp !== null)
      return storageError(res, 400, "InvalidQueryParameterValue", `comp=${comp} is not supported`);
    // Put Blob: the whole content in one request; only block blobs are used by the cache service.
    if (req.headers["x-ms-blob-type"] !== "BlockBlob") {
      return storageError(res, 400, "MissingRequiredHeader", "x-ms-blob-type: BlockBlob is required");
    }
    const blob = state.putBlob(name, data);
    const md5 = createHash("md5").update(data).digest("base64");
    return sendEmpty(res, 201, {
      ...common(),
      etag: blob.etag,
      "last-modified": blob.lastModified.toUTCString(),
      "content-md5": md5,
      "x-ms-request-server-encrypted": "true",
    });
  }

  function get(req: IncomingMessage, res: ServerResponse, name: string) {
    const blob = state.blobs.get(name);
    if (!blob) return storageError(res, 404, "BlobNotFound", "The specified blob does not exist.");
    const headers = {
      ...common(),
      etag: blob.etag,
      "last-modified": blob.lastModified.toUTCString(),
      "accept-ranges": "bytes",
      "x-ms-blob-type": "BlockBlob",
      "content-type": "application/octet-stream",
    };
    const size = blob.data.length;
    const rangeHeader = req.headers["x-ms-range"] ?? req.headers.range;
    if (typeof rangeHeader === "string" && size > 0) {
      const range = parseRange(rangeHeader, size);
      if (!range) {
        return storageError(
          res,
          416,
          "InvalidRange",
          "The range specified is invalid for the current size of the resource.",
        );
      }
      res.writeHead(206, {
        ...headers,
        "content-length": range.end - range.start + 1,
        "content-range": `bytes ${range.start}-${range.end}/${size}`,
      });
      res.end(req.method === "HEAD" ? undefined : blob.data.subarray(range.start, range.end + 1));
      return;
    }
    res.writeHead(200, { ...headers, "content-length": size });
    res.end(req.method === "HEAD" ? undefined : blob.data);
  }

  return {
    signedUrl(blob, permission, ttlMs = 10 * 60_000) {
      const path = `/${ACCOUNT}/${CONTAINER}/${blob}`;
      const se = new Date(Date.now() + ttlMs).toISOString().replace(/\.\d+Z$/, "Z");
      const q = new URLSearchParams({
        sv: API_VERSION,
        sr: "b",
        sp: permission,
        se,
        sig: sign(path, permission, se),
      });
      return `${baseUrl()}${path.slice(1)}?${q}`;
    },
    async handle(req, res, url) {
      const name = url.pathname.slice(`/${ACCOUNT}/${CONTAINER}/`.length);
      if (req.method === "PUT") {
        if (!authorize(url, "c")) {
          await readBody(req);
          return storageError(res, 403, "AuthenticationFailed", "Server failed to authenticate the request.");
        }
        return put(req, res, url, name);
      }
      if (req.method === "GET" || req.method === "HEAD") {
        if (!authorize(url, "r")) {
          return storageError(res, 403, "AuthenticationFailed", "Server failed to authenticate the request.");
        }
        return get(req, res, name);
      }
      return storageError(
        res,
        405,
        "UnsupportedHttpVerb",
        "The resource doesn't support the specified HTTP verb.",
      );
    },
  };
}
