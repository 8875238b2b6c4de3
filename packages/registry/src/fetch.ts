import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CallOptions,
  type Descriptor,
  type Digest,
  isDigest,
  KilnError,
  MediaType,
  sha256,
} from "@kiln/core";
import { repositoryScope } from "./auth.js";
import type { Endpoint } from "./config.js";
import { dataLoss, readLimited } from "./errors.js";
import { manifestReference, type RegistryRef } from "./names.js";
import { backoffDelay, describe, isTransient, type RetryPolicy } from "./retry.js";
import { header, type RegistryRequest, type RegistryResponse, type Transport } from "./transport.js";

/** Every manifest type kiln reads, best first: what goes in `Accept`. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(", ");

/** Manifests are small JSON documents; more than this is not one. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

export interface ManifestBytes {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
  readonly descriptor: Descriptor;
}

/** GETs a manifest or index and checks its digest against the reference and `Docker-Content-Digest`. */
export function getManifest(
  t: Transport,
  endpoint: Endpoint,
  ref: RegistryRef,
  o: CallOptions,
): Promise<ManifestBytes> {
  const req: RegistryRequest = {
    method: "GET",
    endpoint,
    target: `/${ref.repository}/manifests/${manifestReference(ref)}`,
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [repositoryScope(ref.repository, false)],
    expect: [200],
    what: `pull manifest ${ref.name}`,
  };
  return t.send(req, o, async (res) => {
    const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES + 1);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new KilnError("FAILED_PRECONDITION", `${req.what}: larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const digest = sha256(bytes);
    if (ref.digest !== undefined && digest !== ref.digest) {
      throw dataLoss(`${req.what}: the registry sent content with digest ${digest}`, {
        expected: ref.digest,
      });
    }
    const claimed = header(res.headers, "docker-content-digest");
    if (claimed !== undefined && isDigest(claimed) && claimed !== digest) {
      throw dataLoss(`${req.what}: Docker-Content-Digest ${claimed} does not match the content (${digest})`);
    }
    const mediaType = manifestMediaType(header(res.headers, "content-type"), bytes);
    return { bytes, mediaType, digest, descriptor: { mediaType, digest, size: bytes.length } };
  });
}

/** The media type from `Content-Type`, or from the document when the server sent a generic one. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const fromHeader = contentType?.split(";")[0]?.trim().toLowerCase();
  if (fromHeader && fromHeader !== "application/json" && fromHeader !== "text/plain") return fromHeader;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === "string") return doc.mediaType;
    return Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  } catch {
    return fromHeader ?? "application/octet-stream";
  }
}

/** HEAD of a blob: true on 200, false on 404. */
export function headBlob(
  t: Transport,
  endpoint: Endpoint,
  ref: RegistryRef,
  digest: Digest,
  push: boolean,
  o: CallOptions,
) {
  const req: RegistryRequest = {
    method: "HEAD",
    endpoint,
    target: `/${ref.repository}/blobs/${digest}`,
    scopes: [repositoryScope(ref.repository, push)],
    expect: [200, 404],
    what: `check blob ${digest} in ${ref.host}/${ref.repository}`,
    redirects: true,
  };
  return t.send(req, o, async (res) => {
    res.body.resume();
    return res.status === 200;
  });
}

/** HEAD of a blob: its size (`Content-Length`) on 200, undefined on 404. */
export function statBlob(
  t: Transport,
  endpoint: Endpoint,
  ref: RegistryRef,
  digest: Digest,
  o: CallOptions,
): Promise<{ size: number } | undefined> {
  const req: RegistryRequest = {
    method: "HEAD",
    endpoint,
    target: `/${ref.repository}/blobs/${digest}`,
    scopes: [repositoryScope(ref.repository, false)],
    expect: [200, 404],
    what: `check blob ${digest} in ${ref.host}/${ref.repository}`,
    redirects: true,
  };
  return t.send(req, o, async (res) => {
    res.body.resume();
    if (res.status === 404) return undefined;
    const size = Number(header(res.headers, "content-length"));
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new KilnError("FAILED_PRECONDITION", `${req.what}: the registry sent no usable Content-Length`);
    }
    return { size };
  });
}

/**
 * Streams a blob, checking size and digest as the bytes pass: the stream fails with DATA_LOSS on too
 * many or too few bytes or a wrong digest (never ends cleanly with bad content). A connection that
 * breaks off mid-body is resumed with a `Range` request. The host's concurrency slot is held until
 * the stream ends or is destroyed, so read it or destroy it.
 */
export async function openBlob(
  t: Transport,
  endpoint: Endpoint,
  ref: RegistryRef,
  desc: Descriptor,
  policy: RetryPolicy,
  o: CallOptions,
): Promise<Readable> {
  const req: RegistryRequest = {
    method: "GET",
    endpoint,
    target: `/${ref.repository}/blobs/${desc.digest}`,
    scopes: [repositoryScope(ref.repository, false)],
    expect: [200],
    what: `pull blob ${desc.digest} from ${ref.host}/${ref.repository}`,
    redirects: true,
  };
  const first = await t.open(req, o);
  const length = header(first.headers, "content-length");
  if (length !== undefined && Number(length) !== desc.size) {
    discard(first.body);
    first.release();
    throw dataLoss(`${req.what}: the registry announced ${length} bytes, the descriptor says ${desc.size}`);
  }
  const current = { res: first, done: false };
  const stream = Readable.from(verifiedBody(t, req, current, desc, policy, o), { objectMode: false });
  // A stream destroyed before its first read never runs the generator's cleanup: free the slot here.
  stream.once("close", () => {
    if (!current.done) discard(current.res.body);
    current.res.release();
  });
  return stream;
}

async function* verifiedBody(
  t: Transport,
  req: RegistryRequest,
  current: { res: RegistryResponse; done: boolean },
  desc: Descriptor,
  policy: RetryPolicy,
  o: CallOptions,
): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let received = 0;
  let res = current.res;
  let skip = 0;
  try {
    for (let resumes = 1; ; resumes++) {
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          let data = chunk;
          if (skip > 0) {
            const drop = Math.min(skip, data.length);
            data = data.subarray(drop);
            skip -= drop;
            if (data.length === 0) continue;
          }
          received += data.length;
          if (received > desc.size) throw dataLoss(`${req.what}: more than the ${desc.size} bytes announced`);
          hash.update(data);
          yield data;
        }
        break;
      } catch (err) {
        if (!isTransient(err) || resumes >= (policy.attempts ?? 5) || o.signal?.aborted)
          throw wrapped(req.what, err);
        discard(res.body);
        res.release();
        await sleep(backoffDelay(resumes, policy), undefined, o.signal ? { signal: o.signal } : undefined);
        res = await t.open({ ...req, headers: { range: `bytes=${received}-` }, expect: [200, 206] }, o);
        // A server that ignores Range sends everything again: drop what was already passed on.
        skip = res.status === 200 ? received : 0;
        if (res.status === 206 && !header(res.headers, "content-range")?.startsWith(`bytes ${received}-`)) {
          throw dataLoss(`${req.what}: the registry resumed at the wrong offset`);
        }
      }
    }
    if (received !== desc.size) {
      throw dataLoss(`${req.what}: truncated: received ${received} of ${desc.size} bytes`);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== desc.digest) throw dataLoss(`${req.what}: the content's digest is ${digest}`);
    current.done = true;
  } finally {
    if (!current.done) discard(res.body);
    res.release();
  }
}

function wrapped(what: string, err: unknown): unknown {
  if (err instanceof KilnError) return err;
  if (isTransient(err)) {
    return new KilnError("UNAVAILABLE", `${what}: the connection broke off: ${describe(err)}`, {
      cause: err,
    });
  }
  return err;
}

/** Drops a response body; undici reports the abort as an error event, which nobody needs to hear. */
function discard(body: Readable): void {
  body.on("error", () => {});
  body.destroy();
}
