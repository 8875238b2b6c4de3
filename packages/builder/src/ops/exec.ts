import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type ImmutableRef, KilnError, type NetworkMode, type Op, type Ref, sha256 } from "@kiln/core";
import type { pb } from "@kiln/llb";
import { type PreparedMount, prepareMount, secretValue } from "./exec-mounts.js";
import type { DecodedOp, OpEnvironment } from "./types.js";

const TAIL_LINES = 20;

/**
 * ExecOp (RUN): runs the command in a container on a writable copy of the root mount's input and
 * commits the result. Output streams to progress as it comes and, in full, to a log file in the store.
 */
export function execOp(op: DecodedOp, env: OpEnvironment, description: string, vertex: string): Op<Ref> {
  const exec = op.exec as pb.ExecOp;
  const meta = exec.meta ?? {};
  const mounts = exec.mounts ?? [];
  const root = mounts.find((m) => (m.dest ?? "") === "/");
  return {
    async cacheMap() {
      // The digest covers the command and its environment, not mount selectors (they key the deps) and
      // not the proxy settings (a step stays cached when only the proxy changes), as in BuildKit.
      const normalized = {
        ...exec,
        meta: { ...meta, proxyEnv: undefined },
        mounts: mounts.map((m) => ({ ...m, selector: "" })),
      };
      const platform = op.platform ?? {};
      return {
        digest: sha256(
          JSON.stringify({
            Type: "buildkit.exec.v0",
            Exec: normalized,
            OS: platform.os ?? "",
            Arch: platform.architecture ?? "",
          }),
        ),
        deps: (op.inputs ?? []).map((_, i) => {
          const selectors = mounts.filter((m) => m.input === i && m.selector).map((m) => m.selector);
          return selectors.length ? { selector: sha256(selectors.join("\0")) } : {};
        }),
      };
    },
    async exec(inputs, o) {
      const executor = env.executor;
      if (!executor) {
        throw new KilnError("FAILED_PRECONDITION", "RUN needs an OCI runtime, and none is configured", {
          hint: "install runc (apt-get install runc) or pass --oci-runtime",
        });
      }
      const extra = mounts.filter((m) => m !== root);
      const base = root && (root.input ?? 0) >= 0 ? inputs[root.input ?? 0] : undefined;
      if (base && "directory" in base) {
        throw new KilnError("NOT_IMPLEMENTED", "RUN directly on a local directory is not supported");
      }
      const logDir = join(env.storeRoot, "logs");
      await mkdir(logDir, { recursive: true });
      const logPath = join(logDir, `${vertex.replace("sha256:", "")}-${Date.now()}.log`);
      const log = createWriteStream(logPath);
      const tail: string[] = [];
      // Unfinished last lines, per stream: stdout and stderr chunks interleave.
      const partial: Record<1 | 2, string> = { 1: "", 2: "" };
      const collect = (stream: 1 | 2) => (chunk: Uint8Array) => {
        log.write(chunk);
        const text = Buffer.from(chunk).toString("utf8");
        o.progress.write({ type: "vertex.log", vertex, stream, data: text, time: Date.now() });
        const lines = (partial[stream] + text).split("\n");
        partial[stream] = lines.pop() ?? "";
        tail.push(...lines);
        if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
      };
      const args = meta.args ?? [];
      const prepared: PreparedMount[] = [];
      const processEnv = [...(meta.env ?? []), ...proxyEnvList(meta.proxyEnv)];
      try {
        for (const sec of exec.secretenv ?? []) {
          const value = await secretValue(env, sec.id ?? "", sec.optional === true);
          if (value !== undefined) processEnv.push(`${sec.name}=${Buffer.from(value).toString("utf8")}`);
        }
        for (const m of extra) {
          const mount = await prepareMount(m, inputs, env, o, op.inputs);
          if (mount) prepared.push(mount);
        }
        const ref = await env.refs.build(
          base as ImmutableRef | undefined,
          description,
          async (dir) => {
            const { exitCode } = await executor.run(
              {
                rootfs: [{ type: "bind", source: dir, options: ["rbind", "rw"] }],
                mounts: prepared.map((p) => p.mount),
                process: {
                  args,
                  env: processEnv,
                  cwd: meta.cwd || "/",
                  ...(meta.user ? { user: meta.user } : {}),
                },
                network: networkMode(exec.network),
                ...(exec.security === 1 ? { security: "insecure" as const } : {}),
                ...(meta.hostname ? { hostname: meta.hostname } : {}),
                stdout: collect(1),
                stderr: collect(2),
              },
              o,
            );
            const valid = meta.validExitCodes?.length ? meta.validExitCodes : [0];
            if (!valid.includes(exitCode)) {
              for (const rest of [partial[1], partial[2]]) if (rest) tail.push(rest);
              throw new KilnError(
                "FAILED_PRECONDITION",
                `process "${args.join(" ")}" did not complete successfully: exit code: ${exitCode}`,
                { details: { exitCode, logTail: tail.slice(-TAIL_LINES), logPath } },
              );
            }
          },
          o,
        );
        return [ref];
      } finally {
        await new Promise((resolve) => log.end(resolve));
        for (const p of prepared.reverse()) await p.release().catch(() => {});
      }
    },
  };
}

function networkMode(mode: number | undefined): NetworkMode {
  return mode === 1 ? "host" : mode === 2 ? "none" : "sandbox";
}

/** BuildKit passes each proxy setting under both spellings. */
function proxyEnvList(proxy: pb.ProxyEnv | undefined): string[] {
  if (!proxy) return [];
  const out: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value) out.push(`${name}=${value}`, `${name.toLowerCase()}=${value}`);
  };
  add("HTTP_PROXY", proxy.httpProxy);
  add("HTTPS_PROXY", proxy.httpsProxy);
  add("FTP_PROXY", proxy.ftpProxy);
  add("NO_PROXY", proxy.noProxy);
  add("ALL_PROXY", proxy.allProxy);
  return out;
}
