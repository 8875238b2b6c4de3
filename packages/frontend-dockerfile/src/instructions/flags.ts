/**
 * Instruction flags (`--name=value`). Each instruction declares the flags it accepts, then parses
 * the node's raw flag words: bool flags accept `--x`, `--x=true|false`; string flags need `=value`;
 * strings flags are repeatable; everything else is repeated-flag or unknown-flag error.
 */
import { fail } from "./errors.js";
import { withSuggestion } from "./suggest.js";

type FlagType = "bool" | "string" | "strings";

interface FlagState {
  readonly type: FlagType;
  value: string;
  readonly values: string[];
}

export interface FlagSet {
  /** Declares a boolean flag; the getter returns its value after `parse()`. */
  addBool(name: string, defaultValue?: boolean): () => boolean;
  /** Declares a string flag; the getter returns undefined when the flag was not given. */
  addString(name: string): () => string | undefined;
  /** Declares a repeatable string flag. */
  addStrings(name: string): () => string[];
  parse(): void;
  /** Names of the flags that were given (without `--`), in first-use order. */
  used(): string[];
  wasUsed(name: string): boolean;
}

export function createFlagSet(args: readonly string[]): FlagSet {
  const flags = new Map<string, FlagState>();
  const used = new Map<string, FlagState>();
  const declare = (name: string, type: FlagType, value = ""): FlagState => {
    const state: FlagState = { type, value, values: [] };
    flags.set(name, state);
    return state;
  };
  return {
    addBool(name, defaultValue = false) {
      const state = declare(name, "bool", defaultValue ? "true" : "false");
      return () => state.value === "true";
    },
    addString(name) {
      const state = declare(name, "string");
      return () => (used.has(name) ? state.value : undefined);
    },
    addStrings(name) {
      const state = declare(name, "strings");
      return () => [...state.values];
    },
    used: () => [...used.keys()],
    wasUsed: (name) => used.has(name),
    parse() {
      for (const arg of args) {
        if (arg === "--") return;
        if (!arg.startsWith("--")) fail(`arg should start with -- : ${arg}`, undefined, arg);
        const eq = arg.indexOf("=");
        const flagName = eq < 0 ? arg : arg.slice(0, eq);
        const hasValue = eq >= 0;
        const value = hasValue ? arg.slice(eq + 1) : "";
        const name = flagName.slice(2);
        const flag = flags.get(name);
        if (!flag) {
          const { message, hint } = withSuggestion(
            `unknown flag: ${flagName}`,
            name,
            [...flags.keys()],
            true,
          );
          fail(message, hint, arg);
        }
        if (used.has(name) && flag.type !== "strings")
          fail(`duplicate flag specified: ${flagName}`, undefined, arg);
        used.set(name, flag);
        if (flag.type === "bool") {
          if (hasValue && value === "") fail(`missing a value on flag: ${flagName}`, undefined, arg);
          const lower = value.toLowerCase();
          if (lower === "true" || lower === "") flag.value = "true";
          else if (lower === "false") flag.value = "false";
          else fail(`expecting boolean value for flag ${flagName}, not: ${value}`, undefined, arg);
        } else {
          if (!hasValue) fail(`missing a value on flag: ${flagName}`, undefined, arg);
          if (flag.type === "string") flag.value = value;
          else flag.values.push(value);
        }
      }
    },
  };
}
