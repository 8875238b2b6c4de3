import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type ImmutableRef, KilnError, type NetworkMode, type Op, type Ref, sha256 } from "@kiln/core";
import type { pb } from "@kiln/llb";
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
      // The digest covers the command and its environment, not mount selectors (they key the deps).
      const normalized = { ...exec, mounts: mounts.map((m) => ({ ...m, selector: "" })) };
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
      if (extra.length > 0) {
        throw new KilnError(
          "NOT_IMPLEMENTED",
          "RUN mounts other than the root filesystem are not supported yet",
        );
      }
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
      try {
        const ref = await env.refs.build(
          base as ImmutableRef | undefined,
          description,
          async (dir) => {
            const { exitCode } = await executor.run(
              {
                rootfs: [{ type: "bind", source: dir, options: ["rbind", "rw"] }],
                mounts: [],
                process: {
                  args,
                  env: meta.env ?? [],
                  cwd: meta.cwd || "/",
                  ...(meta.user ? { user: meta.user } : {}),
                },
                network: networkMode(exec.network),
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
      }
    },
  };
}

function networkMode(mode: number | undefined): NetworkMode {
  return mode === 1 ? "host" : mode === 2 ? "none" : "sandbox";
}
