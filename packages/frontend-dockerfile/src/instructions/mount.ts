/**
 * `RUN --mount=<csv>` values. The value is a CSV record of `key=value` fields (keys
 * case-insensitive); type-dependent keys are validated against the `type` seen so far, so
 * `type=` should come first, as in BuildKit.
 */
import { goQuote } from "../parser/go-quote.js";
import { fail } from "./errors.js";
import { withSuggestion } from "./suggest.js";

export type MountType = "bind" | "cache" | "tmpfs" | "secret" | "ssh";
export type CacheSharing = "shared" | "private" | "locked";

export interface RunMount {
  readonly type: MountType;
  readonly from: string | undefined;
  readonly source: string | undefined;
  readonly target: string | undefined;
  /** Explicit `ro`/`rw`, else cache/tmpfs are writable and bind/secret/ssh read-only. */
  readonly readOnly: boolean;
  /** tmpfs `size` in bytes. */
  readonly sizeLimit: number | undefined;
  /** `id=` (cache id, secret/ssh id). */
  readonly id: string | undefined;
  /** Cache sharing; undefined means the default (`shared`). */
  readonly sharing: CacheSharing | undefined;
  /** secret/ssh `required`. */
  readonly required: boolean;
  /** secret `env=` target variable. */
  readonly env: string | undefined;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

const MOUNT_TYPES: readonly MountType[] = ["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARING_MODES: readonly CacheSharing[] = ["shared", "private", "locked"];
// Suggestion candidates for unknown keys.
const ALL_KEYS = [
  ...[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
  ],
  ...["src", "dst", "destination", "ro", "rw", "readwrite", "env"],
];

/**
 * One CSV record (Go `encoding/csv` rules, comma separated): a field may be double-quoted, with
 * `""` for a quote inside; a quote inside an unquoted field is an error.
 */
export function splitCsvRecord(text: string): string[] {
  const line = text.replace(/\r?\n$/, "");
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) fail(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        field += line.slice(i, q);
        i = q + 1;
        if (line[i] === '"') {
          field += '"';
          i++;
        } else if (i === line.length || line[i] === ",") break;
        else fail(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
      }
    } else {
      const comma = line.indexOf(",", i);
      const end = comma < 0 ? line.length : comma;
      field = line.slice(i, end);
      if (field.includes('"')) fail(`failed to parse csv mounts: bare " in non-quoted-field`);
      i = end;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/** Go `strconv.ParseBool`. */
export function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/** docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `100` (binary multiples). */
export function ramInBytes(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value);
  if (!m) return undefined;
  const size = Number(m[1]);
  if (Number.isNaN(size)) return undefined;
  const power = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.trunc(size * 1024 ** power);
}

function parseUint32(value: string, radix: 8 | 10): number | undefined {
  const digits = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(value)) return undefined;
  const n = Number.parseInt(value, radix);
  return n <= 0xffffffff ? n : undefined;
}

/** Validation done when the instruction is parsed (before expansion): `from` must be literal. */
export function literalMountFrom(raw: string): string | undefined {
  let from: string | undefined;
  for (const field of splitCsvRecord(raw)) {
    const eq = field.indexOf("=");
    if (eq < 0 || field.slice(0, eq).toLowerCase() !== "from") continue;
    const value = field.slice(eq + 1);
    const dollar = value.indexOf("$");
    if (dollar >= 0 && dollar !== value.length - 1) {
      fail("'from' doesn't support variable expansion, define alias stage instead", undefined, field);
    }
    from = value;
  }
  return from;
}

/**
 * Parses a `--mount` value. `expand` is applied to every value (conversion passes the shell
 * lexer's `processWord` with the stage env); without it values are taken literally.
 */
export function parseMount(raw: string, expand: (value: string) => string = (v) => v): RunMount {
  const m = {
    type: "bind" as MountType,
    readOnly: false,
    required: false,
  } as { -readonly [K in keyof RunMount]: RunMount[K] };
  let roAuto = true;
  const invalid = (key: string, value: string): never => fail(`invalid value for ${key}: ${value}`);
  const typeOnly = (key: string, allowed: boolean): void => {
    if (!allowed) fail(`unexpected key '${key}' for mount type '${m.type}'`);
  };

  for (const field of splitCsvRecord(raw)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === "readonly" || key === "ro" || key === "readwrite" || key === "rw") {
        m.readOnly = key === "readonly" || key === "ro";
        roAuto = false;
      } else if (key === "required") {
        typeOnly(key, m.type === "secret" || m.type === "ssh");
        m.required = true;
      } else {
        fail(`invalid field '${field}' must be a key=value pair`);
      }
      continue;
    }
    const value = expand(field.slice(eq + 1));
    switch (key) {
      case "type": {
        const type = value.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(type)) {
          const { message, hint } = withSuggestion(
            `unsupported mount type ${goQuote(value)}`,
            value,
            MOUNT_TYPES,
            true,
          );
          fail(message, hint);
        }
        m.type = type;
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
      case "readwrite":
      case "rw": {
        const b = parseGoBool(value);
        if (b === undefined) invalid(key, value);
        m.readOnly = key === "readonly" || key === "ro" ? (b as boolean) : !b;
        roAuto = false;
        break;
      }
      case "required":
        typeOnly(key, m.type === "secret" || m.type === "ssh");
        m.required = parseGoBool(value) ?? invalid(key, value);
        break;
      case "size":
        typeOnly(key, m.type === "tmpfs");
        m.sizeLimit = ramInBytes(value) ?? invalid(key, value);
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const sharing = value.toLowerCase() as CacheSharing;
        if (!SHARING_MODES.includes(sharing)) {
          const { message, hint } = withSuggestion(
            `unsupported sharing value ${goQuote(value)}`,
            value,
            SHARING_MODES,
            true,
          );
          fail(message, hint);
        }
        m.sharing = sharing;
        break;
      }
      case "mode":
        m.mode = parseUint32(value, 8) ?? fail(`invalid value ${value} for mode`);
        break;
      case "uid":
      case "gid":
        m[key] = parseUint32(value, 10) ?? fail(`invalid value ${value} for ${key}`);
        break;
      case "env":
        m.env = value;
        break;
      default: {
        const { message, hint } = withSuggestion(
          `unexpected key '${key}' in '${field}'`,
          key,
          ALL_KEYS,
          true,
        );
        fail(message, hint);
      }
    }
  }

  if (m.type !== "secret" && m.type !== "ssh" && m.type !== "cache") {
    for (const key of ["mode", "uid", "gid"] as const) {
      if (m[key] !== undefined) fail(`${key} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = !(m.type === "cache" || m.type === "tmpfs");
  if (m.type === "secret") {
    if (m.from) fail("secret mount should not have a from");
    if (m.sharing) fail("secret mount should not define sharing");
    if (!m.source && !m.target && !m.id) fail("invalid secret mount. one of source, target required");
    if (m.source && m.id) fail("both source and id can't be set");
  }
  if (m.sharing && m.type !== "cache") fail(`invalid cache sharing set for ${m.type} mount`);
  return {
    type: m.type,
    from: m.from,
    source: m.source,
    target: m.target,
    readOnly: m.readOnly,
    sizeLimit: m.sizeLimit,
    id: m.id,
    sharing: m.sharing,
    required: m.required,
    env: m.env,
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
  };
}
