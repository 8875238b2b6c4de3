import { constants, createGzip, type Gzip } from "node:zlib";

/**
 * Level 6, the level Go's gzip.DefaultCompression stands for (what BuildKit's default `gzip` layers use).
 * The bytes still differ from Go's (different deflate implementation), so digests of re-compressed
 * layers never match BuildKit's; only the uncompressed diff IDs can.
 */
export const DEFAULT_GZIP_LEVEL = 6;

/** A gzip compressor for layer blobs. */
export function gzipStream(level: number = DEFAULT_GZIP_LEVEL): Gzip {
  return createGzip({ level, memLevel: constants.Z_DEFAULT_MEMLEVEL });
}
