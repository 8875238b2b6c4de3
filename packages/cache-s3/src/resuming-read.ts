import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { type CallOptions, KilnError } from "@kiln/core";
import { isNetworkFailure, s3Error } from "./errors.js";

/** One ranged GET of the object from `offset` on; returns its body and the `Content-Range` it had. */
export type RangeGet = (
  offset: number,
  o: CallOptions,
) => Promise<{ body: Readable; contentRange: string | undefined }>;

/**
 * The object's bytes as one stream, continuing with a `Range: bytes=<received>-` GET when the
 * connection breaks mid-body (up to `attempts` times). Blobs are content-addressed, so the rest of
 * the object is the rest of the same bytes; the digest check after this stream confirms it.
 */
export function resumingBody(
  first: Readable,
  get: RangeGet,
  what: string,
  attempts: number,
  o: CallOptions,
): Readable {
  let current = first;
  async function* bytes(): AsyncGenerator<Buffer> {
    let received = 0;
    try {
      for (let resumes = 0; ; resumes++) {
        try {
          for await (const chunk of current as AsyncIterable<Buffer>) {
            received += chunk.length;
            yield chunk;
          }
          return;
        } catch (err) {
          if (!isNetworkFailure(err) || resumes + 1 >= attempts || o.signal?.aborted)
            throw s3Error(what, err, o.signal);
          current.destroy();
          await sleep(100 * 2 ** resumes, undefined, o.signal ? { signal: o.signal } : undefined).catch(
            () => {
              throw s3Error(what, err, o.signal);
            },
          );
          const next = await get(received, o);
          current = next.body;
          if (!next.contentRange?.startsWith(`bytes ${received}-`)) {
            throw new KilnError(
              "DATA_LOSS",
              `${what}: resumed at the wrong offset (${next.contentRange ?? "no Content-Range"})`,
            );
          }
        }
      }
    } finally {
      if (!current.destroyed) current.destroy();
    }
  }
  const out = Readable.from(bytes(), { objectMode: false });
  // Destroyed before the first read, the generator never starts: release the response here.
  out.once("close", () => {
    if (!current.destroyed) current.destroy();
  });
  return out;
}
