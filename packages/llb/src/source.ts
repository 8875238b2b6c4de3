import { KilnError } from "@kiln/core";
import { Caps } from "./caps.js";
import { normalizeImageRef } from "./image-ref.js";
import { createState, type State } from "./state.js";
import { baseOp, type OpOptions, opMetadata, type Vertex } from "./vertex.js";

export { scratch } from "./state.js";

export interface LocalOptions extends OpOptions {
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly followPaths?: readonly string[];
  readonly sharedKeyHint?: string;
  /** How changed files are detected (`local.differ`); `differRequired` makes it a hard requirement. */
  readonly differ?: "none" | "metadata";
  readonly differRequired?: boolean;
  /** Session that serves the directory (`local.session`); without one, `local.unique` is set. */
  readonly sessionId?: string;
  /** `local.unique` value; defaults to the marshal option `localUniqueId`. */
  readonly uniqueId?: string;
}

export interface ImageOptions extends OpOptions {
  readonly resolveMode?: "default" | "pull" | "local";
  readonly layerLimit?: number;
  /** Expected manifest digest (`image.checksum`). */
  readonly checksum?: string;
  readonly recordType?: string;
}

export interface OciLayoutOptions extends OpOptions {
  readonly sessionId?: string;
  /** Store id (`oci.store`). */
  readonly store?: string;
  readonly layerLimit?: number;
}

/** Source ops keep their platform only for identifiers whose content depends on it. */
const isPlatformSpecific = (id: string): boolean =>
  id.startsWith("docker-image://") || id.startsWith("oci-layout://");

export interface SourceOptions extends OpOptions {
  /** `local.unique` for a `local://` identifier without `local.session` (default: marshal option). */
  readonly uniqueId?: string;
  /** Capabilities to record in the op's metadata. */
  readonly caps?: readonly string[];
}

/**
 * A source op for any identifier (`docker-image://…`, `local://…`, `oci-layout://…`, `git://…`,
 * `https://…`) with its attrs, e.g. what a frontend bridge resolved an image to.
 */
export function source(
  identifier: string,
  attrs: Readonly<Record<string, string>> = {},
  opts: SourceOptions = {},
): State {
  if (!identifier.includes("://")) {
    throw new KilnError("INVALID_ARGUMENT", `invalid source identifier ${JSON.stringify(identifier)}`, {
      hint: "source identifiers look like scheme://value, e.g. local://context",
    });
  }
  const vertex: Vertex = {
    inputs: [],
    marshal(ctx) {
      const allAttrs: Record<string, string> = { ...attrs };
      const allCaps = [...(opts.caps ?? [])];
      if (identifier.startsWith("local://") && !("local.session" in allAttrs)) {
        allAttrs["local.unique"] = opts.uniqueId ?? ctx.localUniqueId;
        allCaps.push(Caps.sourceLocalUnique);
      }
      const op = baseOp(ctx, opts);
      if (!isPlatformSpecific(identifier)) delete op.platform;
      op.op = { case: "source", value: { identifier, attrs: allAttrs } };
      return { op, metadata: opMetadata(opts, allCaps) };
    },
  };
  return createState({ vertex, index: 0, ...(opts.platform ? { platform: opts.platform } : {}) });
}

/** A directory sent by the client, by name (`local://<name>`). */
export function local(name: string, opts: LocalOptions = {}): State {
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  const set = (key: string, value: string | undefined, cap?: string) => {
    if (!value) return;
    attrs[key] = value;
    if (cap) caps.push(cap);
  };
  set("local.session", opts.sessionId, Caps.sourceLocalSessionId);
  set("local.includepattern", goJsonStrings(opts.includePatterns), Caps.sourceLocalIncludePatterns);
  set("local.followpaths", goJsonStrings(opts.followPaths), Caps.sourceLocalFollowPaths);
  set("local.excludepatterns", goJsonStrings(opts.excludePatterns), Caps.sourceLocalExcludePatterns);
  set("local.sharedkeyhint", opts.sharedKeyHint, Caps.sourceLocalSharedKeyHint);
  set("local.differ", opts.differ, opts.differRequired ? Caps.sourceLocalDiffer : undefined);
  caps.push(Caps.sourceLocal);
  return source(`local://${name}`, attrs, { ...opts, caps });
}

/** A registry image; the reference is normalised (`busybox` → `docker.io/library/busybox:latest`). */
export function image(ref: string, opts: ImageOptions = {}): State {
  const attrs: Record<string, string> = {};
  const caps: string[] = [Caps.sourceImage];
  if (opts.resolveMode && opts.resolveMode !== "default") {
    attrs["image.resolvemode"] = opts.resolveMode;
    if (opts.resolveMode === "pull") caps.push(Caps.sourceImageResolveMode);
  }
  if (opts.recordType) attrs["image.recordtype"] = opts.recordType;
  if (opts.layerLimit !== undefined) {
    attrs["image.layerlimit"] = String(opts.layerLimit);
    caps.push(Caps.sourceImageLayerLimit);
  }
  if (opts.checksum) {
    attrs["image.checksum"] = opts.checksum;
    caps.push(Caps.sourceImageChecksum);
  }
  return source(`docker-image://${normalizeImageRef(ref)}`, attrs, { ...opts, caps });
}

/** An image in an OCI layout store: `oci-layout://<store id>/<name>@<digest>`. */
export function ociLayout(storeIdAndRef: string, opts: OciLayoutOptions = {}): State {
  const attrs: Record<string, string> = {};
  if (opts.sessionId) attrs["oci.session"] = opts.sessionId;
  if (opts.store) attrs["oci.store"] = opts.store;
  if (opts.layerLimit !== undefined) attrs["oci.layerlimit"] = String(opts.layerLimit);
  return source(`oci-layout://${storeIdAndRef}`, attrs, { ...opts, caps: [Caps.sourceOciLayout] });
}

/**
 * A JSON array as Go's encoding/json writes it (it escapes <, >, & and U+2028/U+2029), so attrs match
 * BuildKit's byte for byte. Empty lists give undefined (no attr).
 */
export function goJsonStrings(values: readonly string[] | undefined): string | undefined {
  if (!values || values.length === 0) return undefined;
  return JSON.stringify(values).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}
