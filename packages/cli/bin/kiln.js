#!/usr/bin/env node
// Runs the built CLI; inside the workspace before a build (or with KILN_DEV=1) it runs the TypeScript
// sources through tsx instead.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/kiln.mjs", import.meta.url);
if (existsSync(dist) && !process.env.KILN_DEV) {
  await import(dist.href);
} else {
  const src = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const args = [
    "--conditions=@kiln/source",
    "--import",
    import.meta.resolve("tsx"),
    src,
    ...process.argv.slice(2),
  ];
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
