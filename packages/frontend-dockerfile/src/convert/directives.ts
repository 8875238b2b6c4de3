import type { FrontendRequest } from "@kiln/core";
import { checkConfig } from "../lint/index.js";
import type { ParseResult } from "../parser/index.js";

/** `# syntax=` values that name Docker's Dockerfile frontend, which kiln implements built in. */
const DOCKERFILE_FRONTEND =
  /^(docker\.io\/)?docker\/dockerfile(-upstream)?(:[\w.-]+)?(@sha256:[a-f0-9]{64})?$/;

/**
 * Applies the parser directives: `syntax` (Docker's frontend images select the built-in one, offline;
 * anything else is reported, since kiln does not run frontend images) and validates `check` (which
 * `lintDockerfile` applies). The build arg `BUILDKIT_DOCKERFILE_CHECK` overrides `check`,
 * `BUILDKIT_SYNTAX` overrides `syntax`, as in BuildKit.
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

  // Fail early on a malformed check directive, like BuildKit; the rules run after conversion.
  checkConfig(parsed, req.attrs);
}
