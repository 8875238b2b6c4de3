import type { ProgressEvent, ProgressWriter } from "@kiln/core";
import { createProgressModel, seconds, type VertexView } from "./model.js";

export type ProgressMode = "auto" | "tty" | "plain" | "rawjson" | "quiet";

export interface ProgressRenderer extends ProgressWriter {
  /** Stops timers and prints the final state. */
  done(): void;
}

export function createRenderer(
  mode: ProgressMode,
  out: NodeJS.WriteStream = process.stderr,
): ProgressRenderer {
  const resolved = mode === "auto" ? (out.isTTY ? "tty" : "plain") : mode;
  switch (resolved) {
    case "rawjson":
      return { write: (e) => void out.write(`${JSON.stringify(e)}\n`), done() {} };
    case "quiet":
      return { write() {}, done() {} };
    case "tty":
      return createTtyRenderer(out);
    default:
      return createPlainRenderer(out);
  }
}

/** BuildKit's plain format: `#N name`, then `#N CACHED` / `#N DONE 0.1s` / `#N ERROR: …`. */
export function createPlainRenderer(out: { write(s: string): unknown }): ProgressRenderer {
  const model = createProgressModel();
  const announced = new Set<string>();
  const announce = (v: VertexView) => {
    if (announced.has(v.digest)) return;
    announced.add(v.digest);
    out.write(`#${v.number} ${v.name}\n`);
  };
  return {
    write(event: ProgressEvent) {
      const v = model.apply(event);
      if (event.type === "warning") {
        out.write(`WARNING: ${model.warnings.at(-1)}\n`);
        return;
      }
      if (!v) return;
      switch (event.type) {
        case "vertex.started":
          announce(v);
          break;
        case "vertex.cached":
          announce(v);
          out.write(`#${v.number} CACHED\n\n`);
          break;
        case "vertex.completed":
          announce(v);
          if (v.error) out.write(`#${v.number} ERROR: ${v.error}\n\n`);
          else out.write(`#${v.number} DONE ${seconds((v.completed ?? 0) - (v.started ?? 0))}\n\n`);
          break;
        case "vertex.log":
          announce(v);
          for (const line of event.data.split("\n")) {
            if (line !== "")
              out.write(`#${v.number} ${seconds(event.time - (v.started ?? event.time))} ${line}\n`);
          }
          break;
      }
    },
    done() {
      out.write(warningSummary(model.warnings));
    },
  };
}

/** Like buildx after a build: the warnings again, each with its file:line, once the steps are done. */
export function warningSummary(warnings: readonly string[]): string {
  if (warnings.length === 0) return "";
  const n = warnings.length;
  return `\n${n} warning${n === 1 ? "" : "s"} found:\n${warnings.map((w) => ` - ${w}\n`).join("")}`;
}

/** A live view redrawn in place: one line per step with `CACHED`, timings and a running clock. */
export function createTtyRenderer(out: NodeJS.WriteStream): ProgressRenderer {
  const model = createProgressModel();
  let drawnLines = 0;
  const draw = (final: boolean) => {
    const now = Date.now();
    const all = [...model.vertices.values()];
    const finished = all.filter((v) => v.completed !== undefined).length;
    const lines = [
      `${final ? "[+] Building" : "[+] Building"} ${seconds(now - model.startedAt)} (${finished}/${all.length})${final ? " FINISHED" : ""}`,
    ];
    for (const v of all) {
      const time = v.cached ? "0.0s" : seconds((v.completed ?? now) - (v.started ?? now));
      const name = `${v.cached ? "CACHED " : ""}${v.error ? "ERROR " : ""}${v.name}`;
      const width = Math.max(20, (out.columns ?? 100) - 12);
      lines.push(` => ${name.length > width ? `${name.slice(0, width - 1)}…` : name.padEnd(width)} ${time}`);
      if (!v.cached && v.completed === undefined) {
        for (const log of v.logs.slice(-6)) lines.push(` => => # ${log.slice(0, width)}`);
      }
    }
    for (const w of model.warnings) lines.push(`WARNING: ${w}`);
    let text = drawnLines > 0 ? `\x1b[${drawnLines}F` : "";
    for (const line of lines) text += `\x1b[2K${line}\n`;
    out.write(text);
    drawnLines = lines.length;
  };
  const timer = setInterval(() => draw(false), 150);
  timer.unref();
  return {
    write(event) {
      model.apply(event);
    },
    done() {
      clearInterval(timer);
      draw(true);
    },
  };
}
