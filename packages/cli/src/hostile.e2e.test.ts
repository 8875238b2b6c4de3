import { existsSync } from "node:fs";
import { mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];
// Unique host paths that a build must never create.
const probe = `kiln-escape-probe-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  tmp = await makeTempDir("cli-hostile");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

describe("hostile Dockerfiles never touch the host", () => {
  it("WORKDIR and COPY through symlinks a RUN planted stay inside the image", async () => {
    const ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "payload.txt"), "payload\n");
    await writeFile(
      join(ctx, "Dockerfile"),
      [
        "FROM busybox",
        "RUN ln -s / /escape && ln -s ../../../../../../tmp /up && ln -s /tmp /abs",
        `WORKDIR /escape/tmp/${probe}-workdir`,
        `COPY payload.txt /up/${probe}-relative`,
        `COPY payload.txt /abs/${probe}-absolute`,
        `RUN cd /escape/tmp && touch ${probe}-run`,
      ].join("\n"),
    );
    const out = join(tmp.path, "out");
    const r = await kiln(["build", "--root", root, ...contextFlags, "-o", `type=local,dest=${out}`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    for (const name of ["workdir", "relative", "absolute", "run"]) {
      expect(existsSync(`/tmp/${probe}-${name}`), `host /tmp/${probe}-${name}`).toBe(false);
      expect(existsSync(join(out, "tmp", `${probe}-${name}`)), `image /tmp/${probe}-${name}`).toBe(true);
    }
    expect(await readlink(join(out, "escape"))).toBe("/");
    expect(await readFile(join(out, "tmp", `${probe}-relative`), "utf8")).toBe("payload\n");
  }, 120_000);
});
