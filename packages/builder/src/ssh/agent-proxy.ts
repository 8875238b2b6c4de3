import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { join } from "node:path";

/**
 * A per-step socket that forwards the SSH agent protocol to an agent on the host, read-only like
 * BuildKit's forwarding: a step may list identities and ask for signatures, but requests that change
 * the agent (add or remove keys, lock, extensions) get SSH_AGENT_FAILURE and never reach it.
 *
 * The protocol is strict request/response (draft-miller-ssh-agent): each message is a uint32 length
 * and a type byte. Requests of one connection are handled one at a time, in order.
 */
export interface AgentProxy {
  /** The socket to bind-mount into the container. */
  readonly path: string;
  close(): Promise<void>;
}

const REQUEST_IDENTITIES = 11;
const SIGN_REQUEST = 13;
const FAILURE = Buffer.from([0, 0, 0, 1, 5]);
/** OpenSSH's own limit for one agent message. */
const MAX_MESSAGE = 256 * 1024;

export async function startAgentProxy(
  agentSocket: string,
  dir: string,
  owner: { uid: number; gid: number; mode: number },
): Promise<AgentProxy> {
  const home = await mkdtemp(join(dir, `kiln-ssh-${process.pid}-`));
  await chmod(home, 0o700);
  const path = join(home, "agent.sock");
  const clients = new Set<Socket>();
  const server = createServer((client) => {
    clients.add(client);
    client.on("close", () => clients.delete(client));
    serveClient(client, agentSocket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  await chown(path, owner.uid, owner.gid);
  await chmod(path, owner.mode);
  return {
    path,
    async close() {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(home, { recursive: true, force: true });
    },
  };
}

function serveClient(client: Socket, agentSocket: string): void {
  const fromClient = frameReader(client);
  let agent: Socket | undefined;
  let fromAgent: ReturnType<typeof frameReader> | undefined;
  const finish = () => {
    client.destroy();
    agent?.destroy();
  };
  (async () => {
    for (;;) {
      const request = await fromClient.next();
      if (!request) break;
      const type = request[4];
      if (type !== REQUEST_IDENTITIES && type !== SIGN_REQUEST) {
        client.write(FAILURE);
        continue;
      }
      if (!agent) {
        agent = createConnection(agentSocket);
        agent.on("error", finish);
        fromAgent = frameReader(agent);
      }
      agent.write(request);
      const reply = await fromAgent?.next();
      if (!reply) break;
      client.write(reply);
    }
  })().then(finish, finish);
  client.on("error", finish);
}

/** Whole messages from a stream (length prefix included); undefined at the end or on a bad length. */
function frameReader(socket: Socket): { next(): Promise<Buffer | undefined> } {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  const stop = () => {
    ended = true;
    wake?.();
  };
  socket.on("end", stop);
  socket.on("close", stop);
  return {
    async next() {
      for (;;) {
        if (buffered.length >= 4) {
          const length = buffered.readUInt32BE(0);
          if (length === 0 || length > MAX_MESSAGE) return undefined;
          if (buffered.length >= 4 + length) {
            const frame = buffered.subarray(0, 4 + length);
            buffered = buffered.subarray(4 + length);
            return frame;
          }
        }
        if (ended) return undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}
