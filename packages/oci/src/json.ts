import type { Descriptor, Platform } from "@kiln/core";
import type { ImageIndex, ImageManifest } from "./types.js";

/*
 * Digests of manifests and indexes depend on their exact bytes, so kiln serialises them with a fixed key
 * order: the field order of the image-spec Go structs (what BuildKit and containerd emit), map keys
 * (annotations) sorted like Go's encoding/json does, and empty optional fields left out.
 */

type Json = Record<string, unknown>;

function put(out: Json, key: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value) && value.length === 0 && key !== "layers" && key !== "manifests") return;
  out[key] = value;
}

export function sortedRecord(record: Readonly<Record<string, string>> | undefined): Json | undefined {
  if (!record || Object.keys(record).length === 0) return undefined;
  const out: Json = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

export function orderPlatform(p: Platform): Json {
  const out: Json = {};
  put(out, "architecture", p.architecture);
  put(out, "os", p.os);
  put(out, "os.version", p["os.version"] || undefined);
  put(out, "os.features", p["os.features"]);
  put(out, "variant", p.variant || undefined);
  return out;
}

export function orderDescriptor(d: Descriptor): Json {
  const out: Json = {};
  put(out, "mediaType", d.mediaType);
  put(out, "digest", d.digest);
  put(out, "size", d.size);
  put(out, "urls", d.urls);
  put(out, "annotations", sortedRecord(d.annotations));
  put(out, "data", d.data);
  put(out, "platform", d.platform ? orderPlatform(d.platform) : undefined);
  put(out, "artifactType", d.artifactType);
  return out;
}

export function orderManifest(m: ImageManifest): Json {
  const out: Json = { schemaVersion: m.schemaVersion };
  put(out, "mediaType", m.mediaType);
  put(out, "artifactType", m.artifactType);
  put(out, "config", orderDescriptor(m.config));
  put(out, "layers", m.layers.map(orderDescriptor));
  put(out, "subject", m.subject ? orderDescriptor(m.subject) : undefined);
  put(out, "annotations", sortedRecord(m.annotations));
  return out;
}

export function orderIndex(i: ImageIndex): Json {
  const out: Json = { schemaVersion: i.schemaVersion };
  put(out, "mediaType", i.mediaType);
  put(out, "artifactType", i.artifactType);
  put(out, "manifests", i.manifests.map(orderDescriptor));
  put(out, "subject", i.subject ? orderDescriptor(i.subject) : undefined);
  put(out, "annotations", sortedRecord(i.annotations));
  return out;
}

/** Manifest bytes as stored: two-space indented, like BuildKit writes image manifests. */
export function encodeManifest(m: ImageManifest): Buffer {
  return Buffer.from(JSON.stringify(orderManifest(m), null, 2));
}

/** Index bytes as stored (`index.json` and nested indexes): compact. */
export function encodeIndex(i: ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(orderIndex(i)));
}
