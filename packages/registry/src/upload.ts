import type { Readable } from "node:stream";
import { type CallOptions, type Descriptor, isDigest, KilnError } from "@kiln/core";
import { repositoryScope } from "./auth.js";
import type { Endpoint } from "./config.js";
import { dataLoss } from "./errors.js";
import { headBlob } from "./fetch.js";
import type { RegistryRef } from "./names.js";
import { type RetryPolicy, withRetries } from "./retry.js";
import { header, type RegistryResponse, type Transport } from "./transport.js";

export interface UploadOptions {
  /** Blobs larger than this are sent in PATCH chunks instead of one PUT (default 1 GiB). */
  readonly chunkedAbove?: number;
  /** Size of one PATCH chunk (default 64 MiB); each chunk is held in memory while it is sent. */
  readonly chunkSize?: number;
}

export interface PushBlobOptions extends CallOptions {
  /** A repository on the same registry that has the blob: the registry links it instead of an upload. */
  readonly mountFrom?: string;
}

export type PushBlobResult = "exists" | "mounted" | "uploaded";

const DEFAULT_CHUNKED_ABOVE = 1024 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/**
 * Pushes a blob: nothing when the registry has it (HEAD), a cross-repository mount when `mountFrom`
 * names a repository that has it, else an upload (one streamed PUT, or PATCH chunks for big blobs). A
 * failed upload starts over with a new session: a session's received bytes cannot be trusted after a
 * broken connection, and `open` gives the content again.
 */
export async function pushBlob(
  t: Transport,
  endpoint: Endpoint,
  ref: RegistryRef,
  desc: Descriptor,
  open: () => Promise<Readable>,
  policy: RetryPolicy,
  upload: UploadOptions,
  o: PushBlobOptions,
): Promise<PushBlobResult> {
  if (await headBlob(t, endpoint, ref, desc.digest, true, o)) return "exists";
  const what = `push blob ${desc.digest} to ${ref.host}/${ref.repository}`;
  const scopes = [repositoryScope(ref.repository, true)];
  if (o.mountFrom && o.mountFrom !== ref.repository) scopes.push(repositoryScope(o.mountFrom, false));
  const base = { endpoint, scopes, retry: false as const, what };

  return withRetries(what, policy, o.signal, async () => {
    const query = o.mountFrom ? `?mount=${desc.digest}&from=${encodeURIComponent(o.mountFrom)}` : "";
    const started = await t.send(
      {
        ...base,
        method: "POST",
        target: `/${ref.repository}/blobs/uploads/${query}`,
        expect: [201, 202],
        headers: { "content-length": "0" },
      },
      o,
      async (res) => {
        res.body.resume();
        return { status: res.status, location: location(res, what) };
      },
    );
    if (started.status === 201) return "mounted";

    let session = started.location;
    const chunked = desc.size > (upload.chunkedAbove ?? DEFAULT_CHUNKED_ABOVE);
    if (chunked) {
      session = await sendChunks(
        t,
        base,
        session,
        desc,
        await open(),
        upload.chunkSize ?? DEFAULT_CHUNK_SIZE,
        o,
      );
    }
    const done = withQuery(session, "digest", desc.digest);
    const headers: Record<string, string> = chunked
      ? { "content-length": "0" }
      : { "content-length": String(desc.size), "content-type": "application/octet-stream" };
    await t.send(
      { ...base, method: "PUT", target: done, headers, expect: [201], ...(chunked ? {} : { body: open }) },
      o,
      async (res) => {
        res.body.resume();
        const claimed = header(res.headers, "docker-content-digest");
        if (claimed !== undefined && isDigest(claimed) && claimed !== desc.digest) {
          throw dataLoss(`${what}: the registry stored digest ${claimed}`);
        }
      },
    );
    return "uploaded";
  });
}

/** Sends the stream in `chunkSize` PATCHes; returns the session URL to finish the upload with. */
async function sendChunks(
  t: Transport,
  base: { endpoint: Endpoint; scopes: string[]; retry: false; what: string },
  start: URL,
  desc: Descriptor,
  source: Readable,
  chunkSize: number,
  o: CallOptions,
): Promise<URL> {
  let session = start;
  let offset = 0;
  try {
    for await (const chunk of chunks(source, chunkSize)) {
      const end = offset + chunk.length - 1;
      session = await t.send(
        {
          ...base,
          method: "PATCH",
          target: session,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(chunk.length),
            "content-range": `${offset}-${end}`,
          },
          body: () => chunk,
          expect: [202],
        },
        o,
        async (res) => {
          res.body.resume();
          return location(res, base.what);
        },
      );
      offset = end + 1;
    }
  } finally {
    source.destroy();
  }
  if (offset !== desc.size) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `${base.what}: the content has ${offset} bytes, the descriptor says ${desc.size}`,
    );
  }
  return session;
}

/** Regroups a stream into buffers of exactly `size` bytes (the last may be shorter). */
async function* chunks(source: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const data of source as AsyncIterable<Buffer>) {
    let rest = data;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      parts.push(rest);
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts);
}

/** The upload session URL from `Location`, which registries send relative or absolute. */
function location(res: RegistryResponse, what: string): URL {
  const value = header(res.headers, "location");
  if (!value) throw new KilnError("FAILED_PRECONDITION", `${what}: the registry sent no upload Location`);
  return new URL(value, res.url);
}

/** Adds a query parameter, keeping the session's own (`_state`, upload ids). */
function withQuery(url: URL, key: string, value: string): URL {
  const out = new URL(url);
  out.searchParams.set(key, value);
  return out;
}
