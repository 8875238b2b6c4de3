import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type CallOptions, type ContentStore, type Layer, MediaType } from "@kiln/core";
import { parallelGzipStream } from "@kiln/oci";
import { createLayerCapture, type LayerCapture } from "../fileop/layer-capture.js";

const BUFFERED_TAR = 32 * 1024 * 1024;

export interface CapturedLayer {
  readonly capture: LayerCapture;
  /** The stored layer blob, or undefined when the capture was abandoned (then nothing is stored). */
  finish(): Promise<Layer | undefined>;
}

/**
 * A layer capture of the tree at `target` whose tar is deflated (on every core, as the ref manager
 * does for diffs: same bytes) straight into the content store while the copy runs.
 */
export function captureLayerBlob(target: string, content: ContentStore, o: CallOptions = {}): CapturedLayer {
  // Deflating is slower than copying: a deep buffer lets the copy run ahead instead of waiting on it.
  const tar = new PassThrough({ highWaterMark: BUFFERED_TAR });
  const handle = createLayerCapture(target, tar, o);
  const gzip = parallelGzipStream();
  // pipeline, not pipe: an abandoned capture destroys `tar`, and that must end the store's write too.
  const deflating = pipeline(tar, gzip);
  const storing = content.write(gzip, undefined, o);
  deflating.catch(() => {});
  storing.catch(() => {});
  return {
    capture: handle.capture,
    async finish() {
      const written = await handle.finish();
      if (written === undefined) {
        await Promise.allSettled([deflating, storing]);
        return undefined;
      }
      const [info] = await Promise.all([storing, deflating]);
      return {
        blob: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size },
        diffId: written.diffId,
      };
    },
  };
}
