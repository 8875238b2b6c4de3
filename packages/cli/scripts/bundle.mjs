// Bundles the CLI into one ESM file so `kiln` starts without resolving and linking ~150 modules
// (a warm no-op rebuild is dominated by process start-up). Native and heavy optional dependencies
// stay external.
import { build } from "esbuild";

await build({
  entryPoints: [new URL("../src/main.ts", import.meta.url).pathname],
  outfile: new URL("../dist/kiln.mjs", import.meta.url).pathname,
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
