import { type CallOptions, type ImageConfig, type Platform, parsePlatform } from "@kiln/core";
import { parseStages } from "../instructions/index.js";
import { parse } from "../parser/index.js";
import { createLexer } from "../shell/index.js";
import { createBuildArgs, platformArgs } from "./args.js";
import { emptyImage, namedContext, withLocation } from "./frontend.js";
import { planStages } from "./stages.js";

/**
 * Looks up an image's config without pulling its layers. `ref` is `docker-image://<name>` or a
 * named-context value (`oci-layout://…`, `docker-image://…`).
 */
export type ImageConfigLookup = (ref: string, platform: Platform, o?: CallOptions) => Promise<ImageConfig>;

/** A stage's base image as a subrequest sees it: the reference as written, its platform and config. */
export interface BaseImage {
  readonly ref: string;
  readonly platform: Platform;
  readonly config: ImageConfig;
}

/**
 * The configs of the stages' base images, for `--call=check` and `--call=outline`, which BuildKit
 * answers after resolving them (ENV and SHELL for the checks, ONBUILD triggers for the outline).
 * Named contexts are honoured as in a build: local, git and http contexts have the empty image's
 * config; `which` is every stage (check without a target) or the stages the target needs.
 */
export async function lookupBaseImages(
  req: {
    readonly file: { readonly name: string; readonly data: Uint8Array };
    readonly attrs: Readonly<Record<string, string>>;
    readonly platform: Platform;
  },
  which: "all" | "target",
  lookup: ImageConfigLookup,
  o: CallOptions = {},
): Promise<Map<number, BaseImage>> {
  const parsed = parse(req.file.data, req.file.name);
  const stages = parseStages(parsed, { file: req.file.name });
  const lexer = createLexer(parsed.escapeToken);
  const buildArgs = createBuildArgs(req.attrs);
  const globals = platformArgs(req.platform);
  for (const cmd of stages.metaArgs) {
    for (const def of cmd.args) {
      const value =
        buildArgs.get(def.key) ??
        (def.value !== undefined ? lexer.processWord(def.value, globals) : undefined);
      if (value !== undefined) globals.set(def.key, value);
    }
  }
  const plan = planStages(
    stages,
    lexer,
    globals,
    req.attrs.target,
    (name) => namedContext(req.attrs, name) !== undefined,
  );
  const indexes = which === "all" && !req.attrs.target ? plan.stages.map((s) => s.index) : plan.order;
  const flights = new Map<string, Promise<ImageConfig>>();
  const found = await Promise.all(
    indexes.map(async (index): Promise<[number, BaseImage] | undefined> => {
      const stagePlan = plan.stages[index];
      if (stagePlan?.base.kind !== "image") return undefined;
      const { ref } = stagePlan.base;
      const { stage } = stagePlan;
      try {
        const platform = stage.platform
          ? parsePlatform(lexer.processWord(stage.platform, globals))
          : req.platform;
        const named = namedContext(req.attrs, ref);
        if (named !== undefined && !/^(oci-layout|docker-image):\/\//.test(named)) {
          return [index, { ref, platform, config: emptyImage(platform) }];
        }
        const target = named ?? `docker-image://${ref}`;
        const key = `${target}\0${platform.os}/${platform.architecture}/${platform.variant ?? ""}`;
        let flight = flights.get(key);
        if (!flight) {
          flight = lookup(target, platform, o);
          flights.set(key, flight);
        }
        return [index, { ref, platform, config: await flight }];
      } catch (err) {
        throw withLocation(err, stage.location);
      }
    }),
  );
  return new Map(found.filter((e) => e !== undefined));
}
