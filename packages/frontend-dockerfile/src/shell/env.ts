/**
 * Environment sources accepted by the lexer. Conversion code holds env as ordered `KEY=value`
 * lists (image config order) or maps; both are normalised to a lookup function here.
 */

/** Returns the value of a variable, or `undefined` when it is not set (set-but-empty is `""`). */
export type EnvLookup = (name: string) => string | undefined;

/**
 * - a lookup function;
 * - a `Map` or plain record;
 * - an ordered list of `"KEY=value"` strings (a bare `"KEY"` means set to empty, like BuildKit's
 *   `EnvsFromSlice`) or of `[key, value]` pairs. In lists the last occurrence of a key wins.
 */
export type EnvSource =
  | EnvLookup
  | ReadonlyMap<string, string>
  | Readonly<Record<string, string>>
  | readonly string[]
  | readonly (readonly [string, string])[];

export function toEnvLookup(env: EnvSource): EnvLookup {
  if (typeof env === "function") return env;
  if (env instanceof Map) return (name) => env.get(name);
  if (Array.isArray(env)) {
    const map = new Map<string, string>();
    for (const entry of env as readonly (string | readonly [string, string])[]) {
      if (typeof entry === "string") {
        const eq = entry.indexOf("=");
        if (eq < 0) map.set(entry, "");
        else map.set(entry.slice(0, eq), entry.slice(eq + 1));
      } else {
        map.set(entry[0], entry[1]);
      }
    }
    return (name) => map.get(name);
  }
  const record = env as Readonly<Record<string, string>>;
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}
