#!/usr/bin/env node
// pnpm bench: runs kiln on the anchors' scenarios with their own Dockerfiles (../shared/anchors/bench):
//   a  4 parallel CPU stages (cold)      b  20k-file context COPY + RUNs (cold)     c  RUN writing 500 MB (cold)
//   d  no-op rebuild of b                e  rebuild of b after editing a file of its later COPY
//   p  push of c's image vs skopeo       g  remote cache: export (inline, pushed) then import on an empty store
// The Dockerfiles' base image (127.0.0.1:PORT/busybox:latest) is given as a named context pointing at a
// busybox OCI layout, so kiln needs no registry. Prints medians and, when ../shared/anchors/bench.sh has
// recorded BuildKit runs ($ANCHORS_DIR/results/raw.tsv), the kiln/BuildKit ratios.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..");
const anchors = process.env.ANCHORS_DIR || "/var/tmp/kiln-anchors";
const shared = resolve(repo, "..", "shared", "anchors");
const work = resolve(process.env.KILN_BENCH_DIR || join(repo, ".kiln-bench"));
const runs = Number(process.env.KILN_BENCH_RUNS || 3);
const scenarios = (process.env.KILN_BENCH_SCENARIOS || "a b c d e p g").split(/\s+/).filter(Boolean);
const kiln = join(repo, "packages", "cli", "bin", "kiln.js");
const port = process.env.ANCHORS_REGISTRY_PORT || "5000";
mkdirSync(work, { recursive: true });

const dockerfile = (name) => {
  const path = join(work, `${name}.Dockerfile`);
  writeFileSync(
    path,
    readFileSync(join(shared, "bench", name, "Dockerfile"), "utf8").replaceAll(
      "127.0.0.1:5000",
      `127.0.0.1:${port}`,
    ),
  );
  return path;
};
const ctxBig = existsSync(join(anchors, "bench", "ctx-big", "files"))
  ? join(anchors, "bench", "ctx-big")
  : join(work, "ctx-big");
if (!existsSync(join(ctxBig, "files"))) run("python3", [join(shared, "bench", "gen-context.py"), ctxBig]);
const ctxEmpty = join(work, "ctx-empty");
mkdirSync(ctxEmpty, { recursive: true });
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
const base = ["--build-context", `127.0.0.1:${port}/busybox:latest=oci-layout://${layout}:latest`];
const build = (df, ctx, extra = []) =>
  timed(kiln, ["build", "--root", root, "--progress", "quiet", "-f", df, ...base, ...extra, ctx]);
// As the anchors reset BuildKit (prune, then sync): the deletion is written out before the timed build.
const reset = () => {
  rmSync(root, { recursive: true, force: true });
  spawnSync("sync");
};

const dfA = dockerfile("a-parallel");
const dfB = dockerfile("b-bigctx");
const dfC = dockerfile("c-biglayer");
const results = Object.fromEntries(scenarios.map((s) => [s, []]));
for (let r = 0; r < runs; r++) {
  const cold = (name, df, ctx) => {
    if (!results[name]) return;
    reset();
    results[name].push(build(df, ctx, ["--no-cache"]));
  };
  cold("a", dfA, ctxEmpty);
  cold("c", dfC, ctxEmpty);
  cold("b", dfB, ctxBig);
  if (results.d || results.e) build(dfB, ctxBig);
  if (results.d) results.d.push(build(dfB, ctxBig));
  if (results.e) {
    writeFileSync(
      join(ctxBig, "app", "a0.txt"),
      `edited by kiln bench run ${r} at ${process.hrtime.bigint()}\n`,
    );
    results.e.push(build(dfB, ctxBig));
  }
}

// p: push the 500 MB image of scenario c to a loopback registry; compared with `skopeo copy` of the
// same image (the target: ≤ 1.2×). Layer blobs are computed by an export first, so only the
// push itself is timed.
const pushResults = { kiln: [], skopeo: [] };
if (results.p && existsSync("/usr/bin/docker-registry") && existsSync("/usr/bin/skopeo")) {
  const archive = join(work, "c.tar");
  build(dfC, ctxEmpty, ["-o", `type=oci,dest=${archive}`]);
  // A fresh registry for every push, so neither tool can skip or mount blobs it pushed before.
  for (let r = 0; r < runs; r++) {
    const forKiln = await startRegistry();
    try {
      pushResults.kiln.push(build(dfC, ctxEmpty, ["-t", `${forKiln.host}/kiln-c:latest`, "--push"]));
    } finally {
      await forKiln.stop();
    }
    const forSkopeo = await startRegistry();
    try {
      pushResults.skopeo.push(
        timed("skopeo", [
          "copy",
          "--quiet",
          "--dest-tls-verify=false",
          `oci-archive:${archive}`,
          `docker://${forSkopeo.host}/skopeo-c:latest`,
        ]),
      );
    } finally {
      await forSkopeo.stop();
    }
  }
}
delete results.p;

// g: remote cache, as the anchors measure BuildKit: g-export = cold build of b that pushes its image
// with an inline cache to a loopback registry; g-import = build b on an empty store with only
// `--cache-from` that image (every step should be CACHED and, lazily, no layer downloaded).
if (results.g && existsSync("/usr/bin/docker-registry")) {
  results["g-export"] = [];
  results["g-import"] = [];
  for (let r = 0; r < runs; r++) {
    const registry = await startRegistry();
    try {
      const ref = `${registry.host}/kiln-cache:b-${r}`;
      reset();
      results["g-export"].push(
        build(dfB, ctxBig, ["--no-cache", "-t", ref, "--push", "--cache-to", "type=inline"]),
      );
      reset();
      results["g-import"].push(build(dfB, ctxBig, ["--cache-from", `type=registry,ref=${ref}`]));
    } finally {
      await registry.stop();
    }
  }
}
delete results.g;

const buildkit = readMedians("buildkit");
const targets = {
  a: "≤ 0.9× BuildKit",
  b: "≤ 0.25× BuildKit",
  c: "≤ 0.9× BuildKit",
  d: "≤ 0.3 s",
  e: "≤ 0.4 s",
  "g-export": "≤ 0.6× BuildKit",
  "g-import": "≤ 0.5× BuildKit",
};
console.log(`\nkiln bench (${runs} runs, median [min-max]; context ${ctxBig})`);
console.log("scenario  kiln s                    peak RSS MB   BuildKit s   kiln/BuildKit   target");
for (const [name, samples] of Object.entries(results)) {
  const secs = samples.map((s) => s.seconds).sort((x, y) => x - y);
  const rss = Math.max(...samples.map((s) => s.rssMb ?? 0));
  const bk = buildkit[name];
  const ratio = bk ? (median(secs) / bk).toFixed(2) : "-";
  const kilnCol = `${median(secs).toFixed(3)} [${secs[0].toFixed(3)}-${secs.at(-1).toFixed(3)}]`;
  console.log(
    `${name.padEnd(10)}${kilnCol.padEnd(26)}${(rss ? rss.toFixed(0) : "-").padEnd(14)}` +
      `${(bk ? bk.toFixed(3) : "-").padEnd(13)}${ratio.padEnd(16)}${targets[name]}`,
  );
}
if (pushResults.kiln.length) {
  const k = median(pushResults.kiln.map((x) => x.seconds));
  const sk = median(pushResults.skopeo.map((x) => x.seconds));
  console.log(
    `p (push 500 MB)  kiln ${k.toFixed(3)} s, skopeo copy ${sk.toFixed(3)} s, kiln/skopeo ${(k / sk).toFixed(2)} (target ≤ 1.2)`,
  );
}
if (!Object.keys(buildkit).length) {
  console.log(
    "(no BuildKit numbers: run ../shared/anchors/setup.sh all && ../shared/anchors/bench.sh buildkit 3 a b c d e)",
  );
}

async function startRegistry() {
  const port = await new Promise((resolvePort) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port: p } = srv.address();
      srv.close(() => resolvePort(p));
    });
  });
  const dir = join(work, "registry");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () =>
    new Promise((resolveStop) => {
      child.once("exit", resolveStop);
      child.kill();
    });
  return { host: `127.0.0.1:${port}`, stop };
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
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  const rssKb = hasTime ? Number(r.stderr.trim().split("\n").at(-1)) : undefined;
  return { seconds, rssMb: rssKb ? rssKb / 1024 : undefined };
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median seconds per scenario for one builder from the anchors' results file. */
function readMedians(builder) {
  const file = join(anchors, "results", "raw.tsv");
  if (!existsSync(file)) return {};
  const rows = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split("\t"));
  const header = rows.shift() ?? [];
  const col = (n) => header.indexOf(n);
  const out = {};
  for (const name of ["a", "b", "c", "d", "e", "g-export", "g-import"]) {
    const xs = rows
      .filter((r) => r[col("builder")] === builder && r[col("scenario")] === name && r[col("rc")] === "0")
      .map((r) => Number(r[col("wall_s")]))
      .filter((x) => Number.isFinite(x));
    if (xs.length) out[name] = median(xs);
  }
  return out;
}
