import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { dirname, join } from "node:path";

/** A file the test server serves, with the headers that matter to download caching. */
export interface ServedFile {
  body: string | Uint8Array;
  lastModified?: Date;
  etag?: string;
  contentDisposition?: string;
}

export interface HttpFileServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Path → file; change it between builds to simulate an updated remote file. */
  readonly files: Map<string, ServedFile>;
  /** Path → redirect target (absolute or relative). */
  readonly redirects: Map<string, string>;
  /** Every request seen: method, path, and the headers a cache check depends on. */
  readonly requests: { method: string; path: string; ifNoneMatch?: string; authorization?: string }[];
  close(): Promise<void>;
}

/** A loopback http server for download tests: files, redirects, 404, Last-Modified, ETag and 304. */
export async function startHttpFileServer(): Promise<HttpFileServer> {
  const files = new Map<string, ServedFile>();
  const redirects = new Map<string, string>();
  const requests: HttpFileServer["requests"] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const ifNoneMatch = req.headers["if-none-match"];
    requests.push({
      method: req.method ?? "GET",
      path,
      ...(ifNoneMatch ? { ifNoneMatch } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const target = redirects.get(path);
    if (target) {
      res.writeHead(302, { location: target }).end();
      return;
    }
    const file = files.get(path);
    if (!file) {
      res.writeHead(404).end("not found");
      return;
    }
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (file.lastModified) headers["last-modified"] = file.lastModified.toUTCString();
    if (file.etag) headers.etag = file.etag;
    if (file.contentDisposition) headers["content-disposition"] = file.contentDisposition;
    if (file.etag && ifNoneMatch?.split(/,\s*/).includes(file.etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, headers).end(file.body);
  });
  const url = await listen(server);
  return { url, files, redirects, requests, close: () => close(server) };
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>`; a repository `<root>/x.git` is `<url>/x.git`. */
  readonly url: string;
  /** Requests seen (`/x.git/info/refs`, `/x.git/git-upload-pack`) and their Authorization header. */
  readonly requests: { path: string; authorization?: string }[];
  close(): Promise<void>;
}

/**
 * Git's smart HTTP protocol on loopback: each request runs `git http-backend` (CGI) for the
 * repositories under `root`. Port 0, so tests never collide.
 */
export async function startGitHttpServer(root: string): Promise<GitHttpServer> {
  const requests: GitHttpServer["requests"] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const authorization = req.headers.authorization;
    requests.push({ path: url.pathname, ...(authorization ? { authorization } : {}) });
    runHttpBackend(root, req, url, res);
  });
  const url = await listen(server);
  return { url, requests, close: () => close(server) };
}

export interface GitDaemon {
  /** `git://127.0.0.1:<port>`; a repository `<root>/x.git` is `<url>/x.git`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `git daemon` (the git:// protocol) on loopback. It needs a fixed port, so a free one is picked by
 * binding port 0 first; the daemon is up once it accepts connections.
 */
export async function startGitDaemon(root: string): Promise<GitDaemon> {
  const probe = createServer();
  const port = Number(new URL(await listen(probe)).port);
  await close(probe);
  const child = spawn(
    "git",
    [
      "daemon",
      "--export-all",
      "--reuseaddr",
      `--base-path=${root}`,
      "--listen=127.0.0.1",
      `--port=${port}`,
      root,
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; ; i++) {
    if (await canConnect(port)) break;
    if (i > 100 || child.exitCode !== null) {
      child.kill();
      throw new Error(`git daemon did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `git://127.0.0.1:${port}`,
    async close() {
      child.kill();
      await exited;
    },
  };
}

export interface GitFixture {
  readonly dir: string;
  /** Writes `files` (path → content), commits everything, returns the commit id. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  /** A lightweight tag, or an annotated one when `message` is given. */
  tag(name: string, message?: string): Promise<void>;
  git(...args: string[]): Promise<string>;
}

/** A repository to serve in tests: `<root>/<name>` (a non-bare repository with branch `main`). */
export async function createGitFixture(
  root: string,
  name: string,
  opts: { objectFormat?: "sha1" | "sha256" } = {},
): Promise<GitFixture> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const git = (...args: string[]) => runGit(dir, args);
  await git("init", "-q", "-b", "main", `--object-format=${opts.objectFormat ?? "sha1"}`);
  await git("config", "user.email", "test@example.com");
  await git("config", "user.name", "kiln test");
  await git("config", "http.receivepack", "false");
  return {
    dir,
    git,
    async commit(files, message = "commit") {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), content);
      }
      await git("add", "-A");
      await git("commit", "-q", "--allow-empty", "-m", message);
      return (await git("rev-parse", "HEAD")).trim();
    },
    async tag(tagName, message) {
      await git("tag", ...(message ? ["-a", "-m", message] : []), tagName);
    },
  };
}

// --- Internal helpers ---

function runHttpBackend(root: string, req: IncomingMessage, url: URL, res: ServerResponse): void {
  const child = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      GIT_CONFIG_NOSYSTEM: "1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_ADDR: "127.0.0.1",
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.statusCode = status;
    headersSent = true;
    res.write(head.subarray(end + 4));
  });
  child.on("close", () => {
    if (!headersSent) res.statusCode = 500;
    res.end();
  });
}

function runGit(cwd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`git ${args.join(" ")}: ${stderr}`)),
    );
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
