import { stat } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentProxy } from "./agent-proxy.js";

/** A message of the agent protocol: uint32 length, type byte, body. */
const message = (type: number, body: Buffer = Buffer.alloc(0)) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
};

describe("read-only SSH agent forwarding", () => {
  let tmp: TempDir;
  let agent: Server;
  const seen: number[] = [];
  let agentPath: string;

  beforeAll(async () => {
    tmp = await makeTempDir("agent-proxy");
    agentPath = join(tmp.path, "agent.sock");
    // An agent that answers every request with SSH_AGENT_IDENTITIES_ANSWER (12) carrying its type,
    // split over two writes to exercise reassembly.
    agent = createServer((c) => {
      let buf = Buffer.alloc(0);
      c.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          const type = buf[4] as number;
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          seen.push(type);
          const reply = message(12, Buffer.from([type, 0, 0, 0, 0]));
          c.write(reply.subarray(0, 3));
          setTimeout(() => c.write(reply.subarray(3)), 5);
        }
      });
    });
    await new Promise<void>((resolve) => agent.listen(agentPath, resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => agent.close(resolve));
    await tmp.cleanup();
  });

  it("forwards listing and signing, answers mutating requests itself with failure, in order", async () => {
    const proxy = await startAgentProxy(agentPath, tmp.path, { uid: 0, gid: 0, mode: 0o640 });
    expect((await stat(proxy.path)).mode & 0o777).toBe(0o640);
    const client = createConnection(proxy.path);
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      client.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          replies.push(buf.subarray(4, 4 + buf.readUInt32BE(0)));
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          if (replies.length === 6) resolve();
        }
      });
    });
    // list, add identity, sign, remove all, lock, extension — in one write.
    client.write(
      Buffer.concat([
        message(11),
        message(17, Buffer.from("key")),
        message(13),
        message(19),
        message(22),
        message(27),
      ]),
    );
    await done;
    expect(replies.map((r) => [...r.subarray(0, 2)])).toEqual([[12, 11], [5], [12, 13], [5], [5], [5]]);
    expect(seen).toEqual([11, 13]);
    client.destroy();
    await proxy.close();
    await expect(stat(proxy.path)).rejects.toThrow();
  });

  it("drops a connection that sends an oversized message", async () => {
    const proxy = await startAgentProxy(agentPath, tmp.path, { uid: 0, gid: 0, mode: 0o600 });
    const client = createConnection(proxy.path);
    const closed = new Promise<void>((resolve) => client.on("close", () => resolve()));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(1 << 30, 0);
    client.write(head);
    await closed;
    await proxy.close();
  });
});
