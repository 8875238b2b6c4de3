import { posix } from "node:path";
import { KilnError } from "@kiln/core";
import {
  type CopyOptions,
  copy,
  type FileAction,
  merge,
  mkfile,
  redactUrl,
  type State,
  scratch,
} from "@kiln/llb";
import type { AddCommand, CopyCommand } from "../instructions/index.js";
import { remoteCopySource, validateChecksum } from "./copy-remote.js";
import { addHistory, type ConvertContext, expansionEnv, type StageState, stepName } from "./stage-state.js";
import { findStage } from "./stages.js";

/**
 * COPY and ADD: one FileOp with a copy action per source, reading from the build context, another
 * stage, an image, or (ADD) a downloaded URL or a git checkout. Options follow BuildKit's Dockerfile
 * conversion: sources are wildcards, directories copy their contents, destination parents are
 * created, symlinks are followed.
 */
export async function dispatchCopy(
  ctx: ConvertContext,
  st: StageState,
  cmd: CopyCommand | AddCommand,
): Promise<void> {
  const env = expansionEnv(st);
  const expand = (word: string) => ctx.lexer.processWord(word, env);
  const isAdd = cmd.kind === "ADD";

  let source: State = ctx.context;
  let fromContext = true;
  if (cmd.kind === "COPY" && cmd.from !== undefined) {
    const from = expand(cmd.from);
    const index = findStage(ctx.plan, from);
    source =
      index !== undefined
        ? ctx.stageResult(index).state
        : (await ctx.resolveImage(from, st.platform, cmd.location)).state;
    fromContext = false;
  }

  const sources = cmd.sourcePaths.map(expand);
  const checksum =
    isAdd && (cmd as AddCommand).checksum ? expand((cmd as AddCommand).checksum as string) : undefined;
  if (isAdd) validateChecksum(checksum, sources, cmd as AddCommand);
  const workdir = st.config.config?.WorkingDir || "/";
  const rawDest = expand(cmd.destPath);
  let dest = posix.isAbsolute(rawDest) ? rawDest : posix.join(workdir, rawDest);
  // An empty destination (`COPY f $empty`) is the workdir as a directory, as BuildKit reads it.
  if (
    (rawDest === "" || rawDest.endsWith("/") || rawDest === "." || rawDest.endsWith("/.")) &&
    !dest.endsWith("/")
  )
    dest += "/";
  if (sources.length + cmd.sourceContents.length > 1 && !dest.endsWith("/")) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `When using ${cmd.kind} with more than one source file, the destination must be a directory and end with a /`,
      { location: cmd.location },
    );
  }

  const chown = cmd.chown ? expand(cmd.chown) : undefined;
  const chmod = cmd.chmod ? expand(cmd.chmod) : undefined;
  const options: CopyOptions = {
    ...(chown ? { owner: chown } : {}),
    ...chmodOption(chmod, cmd),
    followSymlink: true,
    dirCopyContents: true,
    attemptUnpackDockerCompatibility: isAdd && fromContext && (cmd as AddCommand).unpack !== false,
    createDestPath: true,
    allowWildcard: true,
    allowEmptyWildcard: true,
    ...(cmd.excludePatterns.length ? { excludePatterns: cmd.excludePatterns.map(expand) } : {}),
  };

  // Names and history show URLs without their credentials.
  const text = redactUrl(cmd.original.replace(/^\S+/, cmd.kind));
  const name = stepName(st, text);
  let action: FileAction | undefined;
  const parents = cmd.kind === "COPY" && cmd.parents;
  for (const src of sources) {
    const remote = remoteCopySource(src, cmd, name, checksum);
    const from = remote?.state ?? source;
    const [path, perSource] = remote
      ? [remote.path, { ...options, attemptUnpackDockerCompatibility: remote.unpack, allowWildcard: false }]
      : parents
        ? parentsCopy(src, options)
        : [posix.join("/", src), options];
    action = action ? action.copy(from, path, dest, perSource) : copy(from, path, dest, perSource);
  }
  for (const content of cmd.sourceContents) {
    const data = content.expand ? expand(content.data) : content.data;
    const path = dest.endsWith("/") ? posix.join(dest, content.path) : dest;
    const mode = options.mode ?? 0o644;
    const fileOpts = chown ? { owner: chown } : {};
    action = action ? action.mkfile(path, mode, data, fileOpts) : mkfile(path, mode, data, fileOpts);
  }
  if (!action)
    throw new KilnError("INVALID_ARGUMENT", `${cmd.kind} needs a source`, { location: cmd.location });

  ctx.locate(name, cmd.location);
  const linked = cmd.link && chmod === undefined;
  st.state = linked
    ? merge([st.state, scratch().file(action, { customName: name })], { customName: name })
    : st.state.file(action, { customName: name });
  addHistory(ctx, st, `${text} # buildkit`, false);
}

/**
 * `COPY --parents a/b/c.txt /dest/` keeps `a/b/` under /dest. The copy reads from a pivot directory —
 * the part before `/./` in the source, else the root — and selects the rest with an include pattern,
 * so parent directories of every match are recreated. A literal path (no wildcard) must exist.
 */
function parentsCopy(src: string, options: CopyOptions): [string, CopyOptions] {
  const pivotAt = src.indexOf("/./");
  const pivot = pivotAt < 0 ? "/" : posix.join("/", src.slice(0, pivotAt));
  const pattern = posix.join("/", pivotAt < 0 ? src : src.slice(pivotAt + 3)).slice(1);
  const literal = !hasWildcard(pivot) && !hasWildcard(pattern);
  return [
    pivot,
    {
      ...options,
      includePatterns: [pattern],
      ...(literal ? { requiredPaths: [posix.join(pivot, pattern)] } : {}),
    },
  ];
}

const hasWildcard = (path: string): boolean => /(^|[^\\])[*?[]/.test(path);

function chmodOption(
  chmod: string | undefined,
  cmd: CopyCommand | AddCommand,
): Pick<CopyOptions, "mode" | "modeStr"> {
  if (chmod === undefined) return {};
  if (/^[0-7]{1,4}$/.test(chmod)) return { mode: Number.parseInt(chmod, 8) };
  if (/^([ugoa]*[-+=][rwxXst]*,?)+$/.test(chmod)) return { modeStr: chmod };
  throw new KilnError("INVALID_ARGUMENT", `invalid chmod parameter ${JSON.stringify(chmod)}`, {
    location: cmd.location,
    hint: "use an octal mode such as 0755 or a symbolic one such as u=rwX,go=rX",
  });
}
