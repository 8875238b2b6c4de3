import { writeGzipLayer } from "@kiln/cache";
import type { CallOptions, ContentStore, Layer } from "@kiln/core";
import { createLayerCapture, type LayerCapture } from "../fileop/layer-capture.js";

/** Deflating is slower than copying: a deep buffer lets the copy run ahead instead of waiting on it. */
const BUFFERED_TAR = 32 * 1024 * 1024;

export interface CapturedLayer {
  readonly capture: LayerCapture;
  /** The stored layer blob, or undefined when the capture was abandoned (then nothing is stored). */
  finish(): Promise<Layer | undefined>;
}

/** A layer capture of the tree at `target`, deflated into the content store while the copy runs. */
export function captureLayerBlob(target: string, content: ContentStore, o: CallOptions = {}): CapturedLayer {
  const write = writeGzipLayer(content, o, BUFFERED_TAR);
  write.stored.catch(() => {});
  const handle = createLayerCapture(target, write.tar, o);
  return {
    capture: handle.capture,
    async finish() {
      const written = await handle.finish();
      if (written === undefined) {
        await write.stored.catch(() => {});
        return undefined;
      }
      return { blob: await write.stored, diffId: written.diffId };
    },
  };
}
