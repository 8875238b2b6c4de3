import type { CallOptions } from "./call-options.js";
import type { Descriptor } from "./descriptor.js";
import type { Digest } from "./digest.js";

/**
 * Results that flow between build steps.
 *
 * An `ImmutableRef` is a held, read-only filesystem tree: a committed snapshot plus the chain of layers
 * that produce it. Layer blobs are computed lazily (only an exporter or a cache export asks for them)
 * and remembered, so a layer is never tarred twice. The empty tree (`scratch`) is a ref too.
 */
export interface Layer {
  /** The compressed blob as it is (or will be) stored in the content store. */
  readonly blob: Descriptor;
  /** sha256 of the uncompressed tar (`rootfs.diff_ids` entry). */
  readonly diffId: Digest;
}

export interface MountedTree {
  /** Host path of the tree's root. Read-only by contract. */
  readonly path: string;
  release(): Promise<void>;
}

export interface ImmutableRef {
  /** Stable id in the local store; cache records point at it. */
  readonly id: string;
  /** Committed snapshot name; undefined for the empty tree. */
  readonly snapshot: string | undefined;
  /** Makes the tree readable on the host. */
  mount(o?: CallOptions): Promise<MountedTree>;
  /** The full layer chain, base first; blobs missing from the content store are computed now. */
  layers(o?: CallOptions): Promise<Layer[]>;
}

/**
 * A tree that lives outside the store, read in place: the build context in embedded mode. It has no
 * layers; steps that copy from it produce layers of their own.
 */
export interface DirectoryRef {
  readonly id: string;
  readonly snapshot: undefined;
  readonly directory: string;
  /** Paths relative to `directory` that the source selected (after .dockerignore), or undefined for all. */
  readonly filter: (relativePath: string, isDirectory: boolean) => boolean;
  mount(o?: CallOptions): Promise<MountedTree>;
  layers(o?: CallOptions): Promise<Layer[]>;
}

export type Ref = ImmutableRef | DirectoryRef;
