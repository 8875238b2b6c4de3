import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { KilnError } from "@kiln/core";
import { checkDockerfile, listTargets } from "@kiln/frontend-dockerfile";

/**
 * `kiln build --call=targets|check` (and `--check`): answers from the Dockerfile alone, without
 * building — like buildx's subrequests. Returns the exit code: `check` fails when it found warnings.
 */
export async function runCall(call: string, context: string, file: string | undefined): Promise<number> {
  const path = resolve(file ?? join(context, "Dockerfile"));
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (cause) {
    throw new KilnError("NOT_FOUND", `cannot read Dockerfile ${path}`, { cause });
  }
  if (call === "targets") {
    const targets = listTargets({ name: path, data });
    const width = Math.max(6, ...targets.map((t) => t.name.length + (t.isDefault ? 10 : 0)));
    process.stdout.write(`${"TARGET".padEnd(width)}  DESCRIPTION\n`);
    for (const t of targets) {
      process.stdout.write(
        `${`${t.name}${t.isDefault ? " (default)" : ""}`.padEnd(width)}  ${t.description ?? ""}\n`,
      );
    }
    return 0;
  }
  if (call === "check") {
    const warnings = checkDockerfile({ attrs: {}, file: { name: path, data } });
    for (const w of warnings) {
      const where = w.location ? `${w.location.file}:${w.location.line}` : path;
      process.stdout.write(`WARNING: ${w.message}\n  ${where}\n`);
    }
    process.stdout.write(
      warnings.length === 0
        ? "Check complete, no warnings found.\n"
        : `Check complete, ${warnings.length} warning(s) have been found!\n`,
    );
    return warnings.length === 0 ? 0 : 1;
  }
  throw new KilnError("INVALID_ARGUMENT", `--call: unknown request ${JSON.stringify(call)}`, {
    hint: "kiln supports --call=build (default), --call=check and --call=targets",
  });
}
