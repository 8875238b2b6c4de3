import { type FrontendRequest, KilnError } from "@kiln/core";
import type { ParseResult } from "../parser/index.js";

/** `# syntax=` values that name Docker's Dockerfile frontend, which kiln implements built in. */
const DOCKERFILE_FRONTEND =
  /^(docker\.io\/)?docker\/dockerfile(-upstream)?(:[\w.-]+)?(@sha256:[a-f0-9]{64})?$/;

/**
 * Applies the parser directives: `syntax` (Docker's frontend images select the built-in one, offline;
 * anything else is reported, since kiln does not run frontend images) and `check` (which build-check
 * warnings to skip, and whether they fail the build). The build arg `BUILDKIT_DOCKERFILE_CHECK`
 * overrides `check`, `BUILDKIT_SYNTAX` overrides `syntax`, as in BuildKit.
 */
export function applyDirectives(parsed: ParseResult, req: FrontendRequest): void {
  const directive = (name: string) => parsed.directives.find((d) => d.name === name);
  const syntax = req.attrs["build-arg:BUILDKIT_SYNTAX"] ?? directive("syntax")?.value;
  const syntaxRef = syntax?.split(/\s+/)[0];
  if (syntaxRef && syntaxRef !== "dockerfile.v0" && !DOCKERFILE_FRONTEND.test(syntaxRef)) {
    req.bridge.warn(
      `syntax ${syntaxRef} is not Docker's Dockerfile frontend; kiln builds with its built-in Dockerfile frontend`,
      { file: parsed.file, line: directive("syntax")?.line ?? 1 },
    );
  }

  const check = parseCheck(
    req.attrs["build-arg:BUILDKIT_DOCKERFILE_CHECK"] ?? directive("check")?.value ?? "",
  );
  const warnings = parsed.warnings.filter((w) => !check.skipAll && !check.skip.has(w.rule));
  for (const w of warnings) req.bridge.warn(`${w.rule}: ${w.message}`, w.location);
  if (check.error && warnings.length > 0) {
    const first = warnings[0];
    throw new KilnError(
      "FAILED_PRECONDITION",
      `lint violation found for rules: ${[...new Set(warnings.map((w) => w.rule))].join(", ")}`,
      {
        ...(first ? { location: first.location } : {}),
        hint: "fix the warnings above, or relax the check directive (# check=error=false)",
      },
    );
  }
}

function parseCheck(value: string): { skip: Set<string>; skipAll: boolean; error: boolean } {
  const out = { skip: new Set<string>(), skipAll: false, error: false };
  for (const part of value.split(";")) {
    const [key, raw = ""] = part.split("=", 2).map((s) => s.trim());
    if (!key) continue;
    if (key === "skip") {
      for (const rule of raw.split(",").map((r) => r.trim())) {
        if (rule === "all") out.skipAll = true;
        else if (rule) out.skip.add(rule);
      }
    } else if (key === "error") out.error = raw.toLowerCase() === "true";
  }
  return out;
}
