import type { ContainerConfig, Digest, HistoryEntry, ImageConfig, Layer, Platform } from "@kiln/core";
import { rfc3339Nano } from "./attrs.js";

export interface ConfigInputs {
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
  readonly platform: Platform;
  /** SOURCE_DATE_EPOCH in seconds. */
  readonly epoch?: number;
  readonly now: Date;
}

/**
 * The image config to store: the frontend's config with
 * - `architecture`/`os`/`variant` filled from the exported platform when the frontend left them out;
 * - `rootfs` = the layers' diff IDs;
 * - `history` matched to the layers (see normalizeHistory);
 * - `created`: with an epoch, the epoch (or the frontend's time if that is earlier); without, the
 *   frontend's time if it set one, else now. History times later than the epoch are clamped to it.
 * Keys are emitted in the order of the image-spec Go struct (created, author, architecture, os,
 * os.version, os.features, variant, config, rootfs, history), unknown keys after them in their original
 * order, so equal inputs always give equal bytes and digests.
 */
export function buildImageConfig(inputs: ConfigInputs): Record<string, unknown> {
  const { config, layers, platform, epoch } = inputs;
  const epochDate = epoch === undefined ? undefined : new Date(epoch * 1000);
  const created = chooseCreated(config.created, epochDate, inputs.now);
  const history = normalizeHistory(config.history ?? [], layers, created).map((h) =>
    clampHistory(h, epochDate),
  );
  const fromPlatform = config.architecture === undefined || config.architecture === "";
  const merged: ImageConfig = {
    ...config,
    created,
    architecture: fromPlatform ? platform.architecture : config.architecture,
    os: config.os || platform.os,
    variant: fromPlatform ? platform.variant : config.variant,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId as Digest) },
    history,
  };
  return orderConfig(merged);
}

function chooseCreated(existing: string | undefined, epoch: Date | undefined, now: Date): string {
  const existingMs = existing === undefined ? Number.NaN : Date.parse(existing);
  if (epoch)
    return !Number.isNaN(existingMs) && existingMs <= epoch.getTime()
      ? (existing as string)
      : rfc3339Nano(epoch);
  return existing !== undefined && !Number.isNaN(existingMs) ? existing : rfc3339Nano(now);
}

/**
 * Makes the number of history entries without `empty_layer` equal the number of layers (image-spec
 * requires it; `docker history` pairs them up). Rule:
 * - more layers than such entries: the missing entries belong to the oldest layers (typically a base
 *   image whose config had no history), so generated entries are prepended, one per missing layer,
 *   with the image's `created` time and the layer's `buildkit/description` annotation, if any, as
 *   `created_by`;
 * - fewer layers: the first entries keep their layers in order and the surplus non-empty entries at
 *   the end are marked `empty_layer: true`.
 */
export function normalizeHistory(
  history: readonly HistoryEntry[],
  layers: readonly Layer[],
  created: string,
): HistoryEntry[] {
  const out = history.map((h) => ({ ...h }));
  let layered = out.filter((h) => !h.empty_layer).length;
  for (let i = out.length - 1; i >= 0 && layered > layers.length; i--) {
    const entry = out[i];
    if (entry && !entry.empty_layer) {
      entry.empty_layer = true;
      layered--;
    }
  }
  const missing = layers.length - layered;
  const generated: HistoryEntry[] = layers.slice(0, Math.max(0, missing)).map((layer) => {
    const description = layer.blob.annotations?.["buildkit/description"];
    return description ? { created, created_by: description } : { created };
  });
  return [...generated, ...out];
}

function clampHistory(entry: HistoryEntry, epoch: Date | undefined): HistoryEntry {
  if (!epoch || entry.created === undefined) return entry;
  const ms = Date.parse(entry.created);
  return !Number.isNaN(ms) && ms > epoch.getTime() ? { ...entry, created: rfc3339Nano(epoch) } : entry;
}

type Json = Record<string, unknown>;

function pick(source: Json, keys: readonly string[], dropEmpty: boolean): Json {
  const out: Json = {};
  for (const key of keys) {
    const value = source[key];
    if (value === undefined || value === null) continue;
    if (dropEmpty && isEmpty(key, value)) continue;
    out[key] = value;
  }
  return out;
}

function isEmpty(key: string, value: unknown): boolean {
  if (value === "" || value === false || (Array.isArray(value) && value.length === 0)) return true;
  // Empty maps (Labels, Volumes, ExposedPorts) are omitted like Go's omitempty; Healthcheck is a pointer.
  return key !== "Healthcheck" && typeof value === "object" && Object.keys(value as object).length === 0;
}

const CONFIG_KEYS = [
  "created",
  "author",
  "architecture",
  "os",
  "os.version",
  "os.features",
  "variant",
  "config",
  "rootfs",
  "history",
];
const CONTAINER_KEYS = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "ArgsEscaped",
  "Healthcheck",
  "OnBuild",
  "Shell",
];
const HISTORY_KEYS = ["created", "created_by", "author", "comment", "empty_layer"];

export function orderConfig(config: ImageConfig): Json {
  const source = config as Json;
  const out = pick(source, CONFIG_KEYS, false);
  for (const key of ["author", "os.version", "variant"]) if (out[key] === "") delete out[key];
  if (config.config) out.config = orderContainerConfig(config.config);
  out.rootfs = { type: "layers", diff_ids: config.rootfs.diff_ids };
  if (config.history) out.history = config.history.map((h) => pick(h as Json, HISTORY_KEYS, true));
  for (const [key, value] of Object.entries(source)) {
    if (!CONFIG_KEYS.includes(key) && value !== undefined) out[key] = value;
  }
  return out;
}

function orderContainerConfig(config: ContainerConfig): Json {
  const source = config as Json;
  // Go's omitempty drops empty values; an empty Cmd/Entrypoint means "none" either way.
  const out = pick(source, CONTAINER_KEYS, true);
  for (const [key, value] of Object.entries(source)) {
    if (!CONTAINER_KEYS.includes(key) && value !== undefined) out[key] = value;
  }
  return out;
}
