import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type CallOptions, type ContentStore, type Descriptor, MediaType } from "@kiln/core";
import { parallelGzipStream } from "@kiln/oci";

export interface GzipLayerWrite {
  /** Write the layer's uncompressed tar here; destroying it abandons the write. */
  readonly tar: PassThrough;
  /** The stored blob; rejects when `tar` is destroyed or the store fails. */
  readonly stored: Promise<Descriptor>;
}

/**
 * A layer blob deflated on every core (multi-member gzip, see parallelGzipStream) into the content
 * store, as every layer kiln makes is (diffs and copies alike, so the same tar gives the same blob).
 * `bufferBytes` lets a fast writer run ahead of deflate.
 */
export function writeGzipLayer(
  content: ContentStore,
  o: CallOptions = {},
  bufferBytes?: number,
): GzipLayerWrite {
  const tar = new PassThrough(bufferBytes === undefined ? {} : { highWaterMark: bufferBytes });
  const gzip = parallelGzipStream();
  // pipeline, not pipe: a destroyed `tar` must also end the store's write instead of leaving it waiting.
  const deflating = pipeline(tar, gzip);
  const storing = content.write(gzip, undefined, o);
  const stored = Promise.all([storing, deflating]).then(([info]) => ({
    mediaType: MediaType.OciLayerGzip,
    digest: info.digest,
    size: info.size,
  }));
  deflating.catch(() => {});
  storing.catch(() => {});
  return { tar, stored };
}
