import { PassThrough, Writable } from "node:stream";
import { parallelGzipStream } from "@kiln/oci";
import { writeLayerDiff } from "@kiln/snapshotter";

const conc = Number(process.argv[2]);
let n = 0;
const sink = new Writable({
  write(c, _e, cb) {
    n += c.length;
    cb();
  },
});
const t0 = performance.now();
const tar = new PassThrough();
const p = new Promise((r) =>
  tar
    .pipe(parallelGzipStream({ concurrency: conc, chunkSize: Number(process.argv[3] ?? 4194304) }))
    .pipe(sink)
    .on("finish", r),
);
const res = await writeLayerDiff(undefined, "/var/tmp/kiln-anchors/bench/ctx-big/files", tar);
await p;
console.log(
  "conc",
  conc,
  process.argv[3] ?? "",
  ((performance.now() - t0) / 1000).toFixed(2),
  "s",
  n,
  res.size,
);
