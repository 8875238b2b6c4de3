import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import { type Descriptor, digestHex, KilnError } from "@kiln/core";

/** Passes bytes through and fails with DATA_LOSS when they do not add up to `desc` (size, digest). */
export function verifying(desc: Descriptor): Transform {
  const hash = createHash("sha256");
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > desc.size) {
        done(
          new KilnError("DATA_LOSS", `blob ${desc.digest}: the cache returned more than ${desc.size} bytes`),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const actual = hash.digest("hex");
      if (size !== desc.size) {
        done(
          new KilnError("DATA_LOSS", `blob ${desc.digest}: the cache returned ${size} of ${desc.size} bytes`),
        );
      } else if (actual !== digestHex(desc.digest)) {
        done(
          new KilnError(
            "DATA_LOSS",
            `blob ${desc.digest}: the cache returned content with digest sha256:${actual}`,
          ),
        );
      } else {
        done();
      }
    },
  });
}
