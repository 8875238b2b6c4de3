// Writes a tiny busybox OCI image layout (from Debian's busybox-static) for demos and benchmarks.
import { buildBusyboxLayout } from "@kiln/testkit";

const [dir, tag = "latest"] = process.argv.slice(2);
if (!dir) {
  console.error("usage: make-busybox-layout.ts DIR [TAG]");
  process.exit(2);
}
const result = await buildBusyboxLayout(dir, { tag });
console.log(JSON.stringify(result));
