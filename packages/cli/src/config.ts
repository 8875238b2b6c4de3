import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KilnError } from "@kiln/core";
import { parseRegistryConfig, type RegistryConfig } from "@kiln/registry";

/**
 * kiln.toml: `--config FILE`, else `$KILN_CONFIG`, else `/etc/kiln/kiln.toml` for root and
 * `$XDG_CONFIG_HOME/kiln/kiln.toml` (`~/.config/kiln/kiln.toml`) for others. A missing default file is
 * fine; a missing file that was asked for by name is an error.
 */
export interface KilnConfig {
  readonly registry?: RegistryConfig;
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0 && !env.XDG_CONFIG_HOME) return "/etc/kiln/kiln.toml";
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "kiln", "kiln.toml");
}

export function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): KilnConfig {
  const file = explicit ?? env.KILN_CONFIG ?? defaultConfigPath(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && explicit === undefined && !env.KILN_CONFIG)
      return {};
    throw new KilnError("NOT_FOUND", `cannot read the config file ${file}`, { cause: err });
  }
  return { registry: parseRegistryConfig(text, { file }) };
}
