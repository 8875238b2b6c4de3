import { KilnError } from "@kiln/core";

/** Parses buildx's CSV attribute form `type=oci,dest=out.tar` (values may be quoted). */
export function parseCsvAttrs(text: string, flag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const field of splitCsv(text)) {
    const eq = field.indexOf("=");
    if (eq <= 0) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `${flag}: invalid value ${JSON.stringify(field)}: expected key=value`,
      );
    }
    attrs[field.slice(0, eq).trim().toLowerCase()] = field.slice(eq + 1);
  }
  return attrs;
}

export interface OutputSpec {
  type: string;
  attrs: Record<string, string>;
}

/** `-o type=oci,dest=x.tar`, or buildx's shorthands `-o dir` (local) and `-o -` (tar to stdout). */
export function parseOutput(text: string): OutputSpec {
  if (!text.includes("=")) {
    return text === "-" ? { type: "tar", attrs: { dest: "-" } } : { type: "local", attrs: { dest: text } };
  }
  const { type, ...attrs } = parseCsvAttrs(text, "--output");
  if (!type) throw new KilnError("INVALID_ARGUMENT", `--output ${JSON.stringify(text)}: type is required`);
  return { type, attrs };
}

export interface CacheFlagSpec {
  type: string;
  attrs: Record<string, string>;
}

/**
 * buildx's `--cache-to` / `--cache-from`: `type=local,dest=DIR,mode=max`, or a bare value, which
 * means a registry ref (`--cache-from user/app:cache` = `type=registry,ref=user/app:cache`). Without
 * `type`, a `ref` implies registry, as in buildx.
 */
export function parseCacheSpec(text: string, flag: string): CacheFlagSpec {
  if (!text.includes("=")) return { type: "registry", attrs: { ref: text } };
  const { type, ...attrs } = parseCsvAttrs(text, flag);
  const resolved = type ?? (attrs.ref !== undefined ? "registry" : undefined);
  if (!resolved) {
    throw new KilnError("INVALID_ARGUMENT", `${flag} ${JSON.stringify(text)}: type is required`, {
      hint: `e.g. ${flag} type=local,${flag.includes("from") || flag.includes("import") ? "src" : "dest"}=DIR`,
    });
  }
  return { type: resolved, attrs };
}

/** `KEY=VALUE`, or `KEY` alone to take the value from the environment (like docker build). */
export function parseKeyValues(
  values: readonly string[],
  flag: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new KilnError("INVALID_ARGUMENT", `${flag}: invalid value ${JSON.stringify(v)}`);
    if (eq < 0) {
      const fromEnv = env[v];
      if (fromEnv !== undefined) out[v] = fromEnv;
      continue;
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** `name=value` pairs of --build-context, where the value must be given. */
export function parseBuildContexts(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0 || eq === v.length - 1) {
      throw new KilnError("INVALID_ARGUMENT", `--build-context: invalid value ${JSON.stringify(v)}`, {
        hint: "use name=path, name=oci-layout:///path:tag, name=docker-image://ref, name=https://host/file or name=https://host/repo.git#ref",
      });
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** buildx's `--secret id=ID,src=FILE` / `id=ID,env=VAR` (`type=file|env`; `id` alone reads env ID). */
export function parseSecrets(
  values: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Record<string, { file: string } | { env: string }> {
  const out: Record<string, { file: string } | { env: string }> = {};
  for (const value of values) {
    const attrs = parseCsvAttrs(value, "--secret");
    const id = attrs.id;
    if (!id)
      throw new KilnError(
        "INVALID_ARGUMENT",
        `--secret ${JSON.stringify(value.replace(/=.*$/, "=…"))}: id is required`,
      );
    const src = attrs.src ?? attrs.source;
    const type =
      attrs.type ??
      (attrs.env !== undefined ? "env" : src !== undefined ? "file" : env[id] !== undefined ? "env" : "file");
    if (type === "env") out[id] = { env: attrs.env ?? src ?? id };
    else if (type === "file") {
      if (!src)
        throw new KilnError("INVALID_ARGUMENT", `--secret id=${id}: src=FILE (or env=VAR) is required`);
      out[id] = { file: src };
    } else
      throw new KilnError(
        "INVALID_ARGUMENT",
        `--secret id=${id}: unknown type ${JSON.stringify(type)} (file or env)`,
      );
  }
  return out;
}

/**
 * buildx's `--ssh default|<id>[=<socket>|<key>[,<key>]]`. Without paths the id forwards the agent
 * at $SSH_AUTH_SOCK.
 */
export function parseSsh(
  values: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Record<string, { paths: string[] }> {
  const out: Record<string, { paths: string[] }> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    const id = eq < 0 ? value : value.slice(0, eq);
    if (!id) throw new KilnError("INVALID_ARGUMENT", `--ssh ${JSON.stringify(value)}: the id is empty`);
    if (out[id]) throw new KilnError("INVALID_ARGUMENT", `--ssh: duplicate agent ID ${JSON.stringify(id)}`);
    const paths = eq < 0 ? [] : value.slice(eq + 1).split(",");
    out[id] = {
      paths:
        paths.length === 0 || (paths.length === 1 && paths[0] === "") ? [env.SSH_AUTH_SOCK ?? ""] : paths,
    };
  }
  return out;
}

/** buildx's `--allow`: entitlements, each flag one or a comma-separated list. */
export function parseAllow<T extends string>(values: readonly string[], known: readonly T[]): T[] {
  const out: T[] = [];
  for (const value of values.flatMap((v) => v.split(","))) {
    const name = value.trim();
    if (!known.includes(name as T)) {
      throw new KilnError("INVALID_ARGUMENT", `--allow: unknown entitlement ${name}`, {
        hint: `known entitlements: ${known.join(", ")}`,
      });
    }
    if (!out.includes(name as T)) out.push(name as T);
  }
  return out;
}

// --- Internal helpers ---

function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === ",") {
      fields.push(current);
      current = "";
    } else current += ch;
  }
  if (quote) throw new KilnError("INVALID_ARGUMENT", `unterminated quote in ${JSON.stringify(text)}`);
  if (current !== "" || fields.length > 0) fields.push(current);
  return fields.filter((f) => f.trim() !== "");
}
