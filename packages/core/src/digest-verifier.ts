import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { Descriptor } from "./descriptor.js";
import { isKilnError, KilnError } from "./errors.js";

/**
 * A pass-through that fails with DATA_LOSS when the bytes are not what `desc` promises. Too many bytes
 * fail at once; too few or a wrong digest fail in `flush`, i.e. *before* the stream ends, so a consumer
 * (an upload, a reader) sees an error instead of a clean end and never commits or trusts bad content.
 */
export function digestVerifier(desc: Descriptor, what: string): Transform {
  const hash = createHash("sha256");
  let size = 0;
  const fail = (why: string) =>
    new KilnError("DATA_LOSS", `${what}: the content does not match ${desc.digest}: ${why}`, {
      hint: "the source of the blob is corrupt or its descriptor is wrong; nothing was stored",
      details: { digest: desc.digest, size: desc.size },
    });
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > desc.size) return done(fail(`more than ${desc.size} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (size !== desc.size) return done(fail(`${size} bytes instead of ${desc.size}`));
      const actual = `sha256:${hash.digest("hex")}`;
      if (actual !== desc.digest) return done(fail(`its digest is ${actual}`));
      done();
    },
  });
}

/** `source` piped through `target`, with errors of either ending both (and the source released). */
export function pipeChecked(
  source: Readable,
  target: Transform,
  onSourceError?: (e: Error) => Error,
): Transform {
  // `on`, not `once`: a source can emit a second error while being torn down.
  source.on("error", (err: Error) => target.destroy(onSourceError ? onSourceError(err) : err));
  target.once("close", () => {
    if (!source.destroyed) source.destroy();
  });
  return source.pipe(target);
}

/**
 * For uploads: a failure of the caller's body is the caller's, not the service's. KilnErrors (a
 * missing or corrupt local blob, a cancellation) pass through; anything else is INTERNAL, keeping the
 * source's own message so the user sees what broke.
 */
export function sourceFailure(what: string): (err: Error) => Error {
  return (err) =>
    isKilnError(err)
      ? err
      : new KilnError("INTERNAL", `${what}: reading the blob to upload failed: ${err.message}`, {
          cause: err,
        });
}
