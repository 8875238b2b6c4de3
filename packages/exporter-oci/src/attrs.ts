import { type ExportRequest, KilnError, parsePlatform, platformsEqual } from "@kiln/core";
import { type ImageName, parseImageName } from "@kiln/oci";

/** `true|false|1|0|yes|no`; a bare key (`tar=`) counts as true, like BuildKit's boolean attrs. */
export function boolAttr(attrs: Readonly<Record<string, string>>, key: string, fallback: boolean): boolean {
  const raw = attrs[key];
  if (raw === undefined) return fallback;
  const value = raw.trim().toLowerCase();
  if (value === "" || value === "true" || value === "1" || value === "yes") return true;
  if (value === "false" || value === "0" || value === "no") return false;
  throw new KilnError(
    "INVALID_ARGUMENT",
    `invalid value ${JSON.stringify(raw)} for exporter attribute ${key}`,
    {
      hint: `use ${key}=true or ${key}=false`,
    },
  );
}

/** `source-date-epoch` in seconds; undefined when absent or empty. */
export function epochAttr(attrs: Readonly<Record<string, string>>): number | undefined {
  const raw = attrs["source-date-epoch"]?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new KilnError("INVALID_ARGUMENT", `invalid source-date-epoch ${JSON.stringify(raw)}`, {
      hint: "SOURCE_DATE_EPOCH is a number of seconds since 1970-01-01 UTC, e.g. $(git log -1 --format=%ct)",
    });
  }
  return Number(raw);
}

export function destAttr(attrs: Readonly<Record<string, string>>, type: string, what: string): string {
  const dest = attrs.dest?.trim();
  if (!dest) {
    throw new KilnError("INVALID_ARGUMENT", `type=${type} needs a dest`, {
      hint: `--output type=${type},dest=${what}`,
    });
  }
  return dest;
}

export interface ImageNames {
  /** As given (for the `image.name` response key). */
  readonly given: readonly string[];
  readonly parsed: readonly ImageName[];
}

/** `name=a,b` (comma list) or the request's names; each normalised like Docker. */
export function namesAttr(req: ExportRequest): ImageNames {
  const raw = req.attrs.name;
  const given = (raw === undefined ? [...req.names] : raw.split(","))
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const unique = [...new Set(given)];
  return { given: unique, parsed: unique.map(parseImageName) };
}

export type AnnotationTarget = "manifest" | "manifest-descriptor" | "index" | "index-descriptor";
export type Annotations = Record<AnnotationTarget, Record<string, string>>;

const ANNOTATION_RE =
  /^annotation(?:-(manifest|manifest-descriptor|index|index-descriptor))?(?:\[([^\]]+)\])?\.(.+)$/;

/**
 * `annotation.<k>` and `annotation-<target>[<platform>].<k>` attrs. Keys qualified with another
 * platform than the exported one are skipped.
 */
export function annotationAttrs(req: ExportRequest): Annotations {
  const out: Annotations = { manifest: {}, "manifest-descriptor": {}, index: {}, "index-descriptor": {} };
  for (const [key, value] of Object.entries(req.attrs)) {
    if (!key.startsWith("annotation")) continue;
    const m = ANNOTATION_RE.exec(key);
    if (!m) {
      throw new KilnError("INVALID_ARGUMENT", `invalid annotation attribute ${JSON.stringify(key)}`, {
        hint: "use annotation.<key>=<value> or annotation-<manifest|manifest-descriptor|index|index-descriptor>[<platform>].<key>",
      });
    }
    const [, target = "manifest", platform, name = ""] = m;
    if (platform !== undefined && !platformsEqual(parsePlatform(platform), req.platform)) continue;
    out[target as AnnotationTarget][name] = value;
  }
  return out;
}

/** RFC 3339 in UTC without fractional seconds (what index `org.opencontainers.image.created` uses). */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** RFC 3339 in UTC with fractional seconds only when there are any (Go's RFC3339Nano style). */
export function rfc3339Nano(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
