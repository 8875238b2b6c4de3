import type { Readable } from "node:stream";
import type { Call } from "./transport.js";

/** Verified content ready to upload, readable in slices (end exclusive) as often as retries need. */
export interface BlobSource {
  readonly size: number;
  slice(start: number, end: number): Readable | Uint8Array;
}

export interface FoundEntry {
  /** The key that matched (lookups also match by prefix). */
  readonly key: string;
  /** Signed download URL; it expires, so callers re-resolve on 403. */
  readonly url: string;
}

export interface Reservation {
  readonly key: string;
  /** v1 cache id, or the key for v2. */
  readonly id: string;
  /** v2: the signed blob URL to upload to. */
  readonly uploadUrl?: string;
}

/** The three steps the Actions cache service offers, in either API version. */
export interface ActionsCacheApi {
  readonly version: 1 | 2;
  /** The service's matching: each key exact then as a prefix (newest first), scope by scope. */
  lookup(keys: readonly string[], call: Call): Promise<FoundEntry | undefined>;
  /** A new immutable entry; undefined when the key already exists or is being uploaded (409). */
  reserve(key: string, size: number, call: Call): Promise<Reservation | undefined>;
  upload(reservation: Reservation, source: BlobSource, call: Call): Promise<void>;
  commit(reservation: Reservation, size: number, call: Call): Promise<void>;
}
