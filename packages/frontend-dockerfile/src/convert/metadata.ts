import { posix } from "node:path";
import { type HealthConfig as ImageHealthConfig, KilnError } from "@kiln/core";
import { mkdir } from "@kiln/llb";
import type { Command } from "../instructions/index.js";
import { goQuoteList } from "../parser/index.js";
import { goDuration, goList } from "./go-format.js";
import {
  addHistory,
  type ConvertContext,
  expansionEnv,
  type StageState,
  setEnv,
  stepName,
} from "./stage-state.js";

type MetadataCommand = Exclude<Command, { kind: "COPY" | "ADD" | "RUN" }>;

/** Instructions that change the image config (and WORKDIR, which also creates the directory). */
export function dispatchMetadata(ctx: ConvertContext, st: StageState, cmd: MetadataCommand): void {
  const env = expansionEnv(st);
  const expand = (word: string) => ctx.lexer.processWord(word, env);
  st.config.config ??= {};
  const config = st.config.config;
  switch (cmd.kind) {
    case "ENV": {
      const pairs = cmd.env.map((p) => ({ key: expand(p.key), value: expand(p.value) }));
      for (const { key, value } of pairs) {
        config.Env = setEnv(config.Env ?? [], key, value);
        st.state = st.state.addEnv(key, value);
      }
      addHistory(ctx, st, `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`, true);
      return;
    }
    case "ARG": {
      const parts: string[] = [];
      for (const def of cmd.args) {
        const given = ctx.buildArgs.get(def.key);
        const value = given ?? (def.value !== undefined ? expand(def.value) : ctx.globalArgs.get(def.key));
        if (value !== undefined) st.args.set(def.key, value);
        parts.push(def.value !== undefined || given !== undefined ? `${def.key}=${value ?? ""}` : def.key);
      }
      addHistory(ctx, st, `ARG ${parts.join(" ")}`, true);
      return;
    }
    case "LABEL": {
      const pairs = cmd.labels.map((p) => ({ key: expand(p.key), value: expand(p.value) }));
      config.Labels ??= {};
      for (const { key, value } of pairs) config.Labels[key] = value;
      addHistory(ctx, st, `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`, true);
      return;
    }
    case "MAINTAINER":
      st.config.author = expand(cmd.maintainer);
      addHistory(ctx, st, `MAINTAINER ${st.config.author}`, true);
      return;
    case "USER": {
      const user = expand(cmd.user);
      config.User = user;
      st.state = st.state.user(user);
      addHistory(ctx, st, `USER ${user}`, true);
      return;
    }
    case "EXPOSE": {
      const ports = cmd.ports.flatMap((p) => ctx.lexer.processWords(p, env));
      config.ExposedPorts ??= {};
      for (const port of ports) for (const key of exposedPortKeys(port, cmd)) config.ExposedPorts[key] = {};
      addHistory(ctx, st, `EXPOSE ${goList(ports)}`, true);
      return;
    }
    case "VOLUME": {
      const volumes = cmd.volumes.map(expand);
      config.Volumes ??= {};
      for (const v of volumes) {
        if (v.trim() === "") {
          throw new KilnError("INVALID_ARGUMENT", "VOLUME specified can not be an empty string", {
            location: cmd.location,
          });
        }
        config.Volumes[v] = {};
      }
      addHistory(ctx, st, `VOLUME ${goList(volumes)}`, true);
      return;
    }
    case "STOPSIGNAL": {
      const signal = expand(cmd.signal);
      if (!/^(SIG[A-Z0-9+-]+|[A-Z0-9+-]+|\d+)$/i.test(signal)) {
        throw new KilnError("INVALID_ARGUMENT", `invalid signal: ${signal}`, { location: cmd.location });
      }
      config.StopSignal = signal;
      addHistory(ctx, st, `STOPSIGNAL ${signal}`, true);
      return;
    }
    case "CMD":
    case "ENTRYPOINT": {
      const args = commandLine(st, cmd.cmdLine, cmd.prependShell);
      if (cmd.kind === "CMD") {
        config.Cmd = args;
        st.cmdSet = true;
      } else {
        config.Entrypoint = args;
        // A new ENTRYPOINT resets a CMD inherited from the base image, not one set in this stage.
        if (!st.cmdSet) config.Cmd = null;
      }
      addHistory(ctx, st, `${cmd.kind} ${goQuoteList(args)}`, true);
      return;
    }
    case "SHELL":
      config.Shell = [...cmd.shell];
      addHistory(ctx, st, `SHELL ${goList(cmd.shell)}`, true);
      return;
    case "HEALTHCHECK": {
      const h = cmd.health;
      const health: ImageHealthConfig = { Test: [...h.test] };
      if (h.interval) health.Interval = h.interval;
      if (h.timeout) health.Timeout = h.timeout;
      if (h.startPeriod) health.StartPeriod = h.startPeriod;
      if (h.startInterval) health.StartInterval = h.startInterval;
      if (h.retries) health.Retries = h.retries;
      config.Healthcheck = health;
      const text =
        `&{Test:${goList(h.test)} Interval:${goDuration(h.interval)} Timeout:${goDuration(h.timeout)} ` +
        `StartPeriod:${goDuration(h.startPeriod)} StartInterval:${goDuration(h.startInterval)} Retries:${h.retries}}`;
      addHistory(ctx, st, `HEALTHCHECK ${text}`, true);
      return;
    }
    case "ONBUILD":
      config.OnBuild = [...(config.OnBuild ?? []), cmd.expression];
      addHistory(ctx, st, `ONBUILD ${cmd.expression}`, true);
      return;
    case "WORKDIR": {
      const dir = expand(cmd.path);
      const current = config.WorkingDir || "/";
      const wd = posix.resolve(current, dir);
      config.WorkingDir = wd;
      st.state = st.state.dir(wd);
      if (wd !== "/") {
        const name = stepName(st, `WORKDIR ${wd}`);
        ctx.locate(name, cmd.location);
        const action = mkdirAction(wd, config.User);
        st.state = st.state.file(action, { customName: name });
      }
      addHistory(ctx, st, `WORKDIR ${wd}`, wd === "/");
      return;
    }
  }
}

/** Exec form as is; shell form prefixed with SHELL (default `/bin/sh -c`). */
export function commandLine(
  st: StageState,
  cmdLine: readonly string[] | undefined,
  prependShell: boolean,
): string[] {
  const args = [...(cmdLine ?? [])];
  if (!prependShell) return args;
  const shell = st.config.config?.Shell?.length ? st.config.config.Shell : ["/bin/sh", "-c"];
  return [...shell, args.join(" ")];
}

// --- Internal helpers ---

function mkdirAction(path: string, user: string | undefined) {
  return mkdir(path, 0o755, { makeParents: true, ...(user ? { owner: user } : {}) });
}

/** `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … (Docker's port-spec rules). */
function exposedPortKeys(spec: string, cmd: MetadataCommand): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/([a-zA-Z]+))?$/.exec(spec.trim());
  if (!match) {
    throw new KilnError("INVALID_ARGUMENT", `invalid containerPort: ${spec}`, { location: cmd.location });
  }
  const start = Number(match[1]);
  const end = match[2] ? Number(match[2]) : start;
  const proto = (match[3] ?? "tcp").toLowerCase();
  if (end < start || end > 65535) {
    throw new KilnError("INVALID_ARGUMENT", `invalid port range: ${spec}`, { location: cmd.location });
  }
  const keys: string[] = [];
  for (let p = start; p <= end; p++) keys.push(`${p}/${proto}`);
  return keys;
}
