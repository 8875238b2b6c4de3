import { spawn } from "node:child_process";
import { mkdtemp, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshAgents } from "./agents.js";

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe("--ssh agents", () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir("ssh-agents");
  });
  afterAll(() => tmp.cleanup());

  it("checks every entry up front: paths exist, one socket or only key files", async () => {
    const socket = join(tmp.path, "s.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const key = join(tmp.path, "key");
    await writeFile(key, "not a key");
    try {
      await expect(openSshAgents({ default: { paths: [join(tmp.path, "nope")] } })).rejects.toMatchObject({
        code: "NOT_FOUND",
      });
      await expect(openSshAgents({ default: { paths: [""] } })).rejects.toThrow(
        /invalid empty ssh agent socket/,
      );
      await expect(openSshAgents({ x: { paths: [socket, key] } })).rejects.toThrow(
        /invalid combination of keys and sockets/,
      );
      const agents = await openSshAgents({ default: { paths: [socket] }, k: { paths: [key] } });
      expect(agents.has("")).toBe(true); // an empty id means default
      expect(agents.has("other")).toBe(false);
      expect(await agents.socket("default")).toBe(socket);
      // A file that is no private key: ssh-add refuses it, and the error names the entry.
      await expect(agents.socket("k")).rejects.toThrow(/--ssh k: failed to parse/);
      await agents.close();
    } finally {
      server.close();
    }
  });

  it("stops the agent of a killed kiln process and removes its directory", async () => {
    const child = spawn("true");
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid ?? 0)));
    const dir = await mkdtemp(join(tmpdir(), `kiln-ssh-agent-${deadPid}-`));
    const agent = spawn("ssh-agent", ["-D", "-a", join(dir, "agent.sock")], { stdio: "ignore" });
    const exited = new Promise((resolve) => agent.on("exit", resolve));
    await writeFile(join(dir, "agent.pid"), String(agent.pid));
    for (let i = 0; i < 250 && !(await exists(join(dir, "agent.sock"))); i++) await sleep(20);
    await (await openSshAgents({})).close();
    expect(await exists(dir)).toBe(false);
    await exited; // it was stopped (the test would time out otherwise)
  });
});
