// Bundles the CLI into one ESM entry file so `kiln` starts without resolving and linking ~150 modules
// (a warm no-op rebuild is dominated by process start-up). Native and heavy optional dependencies
// stay external. Modules the CLI imports dynamically (the AWS SDK behind `--cache-to type=s3`) become
// separate chunks under dist/chunks/, parsed only when a build uses them.
import { rm } from "node:fs/promises";
import { build } from "esbuild";

const dist = new URL("../dist/", import.meta.url).pathname;
await rm(new URL("chunks", `file://${dist}`), { recursive: true, force: true });

await build({
  entryPoints: { kiln: new URL("../src/main.ts", import.meta.url).pathname },
  outdir: dist,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@kiln/source"],
  external: ["better-sqlite3"],
  banner: {
    js: "import { createRequire as __kilnCreateRequire } from 'node:module'; const require = __kilnCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
});
