#!/usr/bin/env node
// pnpm bench: runs kiln on the anchors' scenarios b (cold 20k-file context COPY), d (no-op rebuild) and
// e (edit a file of the later COPY), prints medians and, when the anchors' BuildKit results exist
// ($ANCHORS_DIR/results/raw.tsv, from ../shared/anchors/bench.sh buildkit), the kiln/BuildKit ratios.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..");
const anchors = process.env.ANCHORS_DIR || "/var/tmp/kiln-anchors";
const shared = resolve(repo, "..", "shared", "anchors");
const work = resolve(process.env.KILN_BENCH_DIR || join(repo, ".kiln-bench"));
const runs = Number(process.env.KILN_BENCH_RUNS || 3);
const kiln = join(repo, "packages", "cli", "bin", "kiln.js");
mkdirSync(work, { recursive: true });

const ctx = existsSync(join(anchors, "bench", "ctx-big", "files"))
  ? join(anchors, "bench", "ctx-big")
  : join(work, "ctx-big");
if (!existsSync(join(ctx, "files"))) run("python3", [join(shared, "bench", "gen-context.py"), ctx]);
const layout = join(work, "busybox");
run(process.execPath, [
  "--conditions=@kiln/source",
  "--import",
  "tsx",
  join(repo, "scripts", "make-busybox-layout.ts"),
  layout,
  "latest",
]);
const root = join(work, "store");
const df = join(repo, "bench", "b-bigctx.kiln.Dockerfile");
const build = (extra = []) =>
  timed(kiln, [
    "build",
    "--root",
    root,
    "--progress",
    "quiet",
    "-f",
    df,
    "--build-context",
    `busybox=oci-layout://${layout}:latest`,
    ...extra,
    ctx,
  ]);

const results = { b: [], d: [], e: [] };
for (let r = 0; r < runs; r++) {
  rmSync(root, { recursive: true, force: true });
  results.b.push(build(["--no-cache"]));
  build();
  results.d.push(build());
  writeFileSync(join(ctx, "app", "a0.txt"), `edited by kiln bench run ${r} at ${process.hrtime.bigint()}\n`);
  results.e.push(build());
}

const buildkit = readBuildkitMedians();
const targets = { b: "≤ 0.25× BuildKit", d: "≤ 0.3 s", e: "≤ 0.4 s" };
console.log(`\nkiln bench (${runs} runs, median [min-max]; context ${ctx})`);
console.log("scenario  kiln s                 peak RSS MB   BuildKit s   kiln/BuildKit   target");
for (const [name, samples] of Object.entries(results)) {
  const secs = samples.map((s) => s.seconds).sort((a, b) => a - b);
  const rss = Math.max(...samples.map((s) => s.rssMb ?? 0));
  const bk = buildkit[name];
  const ratio = bk ? (median(secs) / bk).toFixed(2) : "-";
  console.log(
    `${name.padEnd(9)} ${median(secs).toFixed(3)} [${secs[0].toFixed(3)}-${secs.at(-1).toFixed(3)}]`.padEnd(
      34,
    ) +
      `${rss ? rss.toFixed(0) : "-"}`.padEnd(14) +
      `${bk ? bk.toFixed(3) : "-"}`.padEnd(13) +
      `${ratio}`.padEnd(16) +
      targets[name],
  );
}
if (!Object.keys(buildkit).length) {
  console.log(
    "(no BuildKit numbers: run ../shared/anchors/setup.sh all && ../shared/anchors/bench.sh buildkit 3 b d e)",
  );
} else {
  console.log("(BuildKit's b/d/e Dockerfile also has two RUN steps that kiln's variant leaves out)");
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status})`);
}

function timed(cmd, args) {
  const hasTime = existsSync("/usr/bin/time");
  const start = process.hrtime.bigint();
  const r = hasTime
    ? spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], { cwd: repo, encoding: "utf8" })
    : spawnSync(cmd, args, { cwd: repo, encoding: "utf8" });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`kiln ${args.join(" ")} failed:\n${r.stderr}`);
  const rssKb = hasTime ? Number(r.stderr.trim().split("\n").at(-1)) : undefined;
  return { seconds, rssMb: rssKb ? rssKb / 1024 : undefined };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function readBuildkitMedians() {
  const file = join(anchors, "results", "raw.tsv");
  if (!existsSync(file)) return {};
  const rows = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split("\t"));
  const header = rows.shift() ?? [];
  const col = (n) => header.indexOf(n);
  const out = {};
  for (const name of ["b", "d", "e"]) {
    const xs = rows
      .filter((r) => r[col("builder")] === "buildkit" && r[col("scenario")] === name)
      .map((r) => Number(r[col("seconds")] ?? r[col("wall_s")]))
      .filter((x) => Number.isFinite(x));
    if (xs.length) out[name] = median(xs);
  }
  return out;
}
