import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { type CallOptions, KilnError, throwIfAborted } from "@kiln/core";

/** A user name and a password (or token) for a registry. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Where the client gets credentials for a registry host (`docker.io`, `127.0.0.1:5000`). */
export interface CredentialStore {
  get(host: string, o?: CallOptions): Promise<Credentials | undefined>;
}

/** `~/.docker/config.json` as a credential store, with `kiln login`/`logout`. */
export interface DockerCredentialStore extends CredentialStore {
  readonly configPath: string;
  login(host: string, username: string, password: string, o?: CallOptions): Promise<void>;
  /** True when something was removed. */
  logout(host: string, o?: CallOptions): Promise<boolean>;
}

export interface DockerCredentialStoreOptions {
  /** Default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  readonly configPath?: string;
  /** PATH used to find `docker-credential-<helper>` programs (default: the process's PATH). */
  readonly helperPath?: string;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** Docker Hub's key in config.json and for credential helpers. */
const DOCKER_HUB_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_NAMES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** The host part of a config.json key: `https://host:5000/v1/` → `host:5000`; Docker Hub → `docker.io`. */
export function normalizeAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return DOCKER_HUB_NAMES.has(host) ? "docker.io" : host;
}

export function createDockerCredentialStore(
  options: DockerCredentialStoreOptions = {},
): DockerCredentialStore {
  const configPath =
    options.configPath ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");

  const load = async (): Promise<DockerConfigFile> => {
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      return typeof parsed === "object" && parsed !== null ? (parsed as DockerConfigFile) : {};
    } catch (err) {
      throw new KilnError("INVALID_ARGUMENT", `${configPath} is not valid JSON`, { cause: err });
    }
  };

  const save = async (config: DockerConfigFile): Promise<void> => {
    await mkdir(dirname(configPath), { recursive: true, mode: 0o700 });
    const temp = `${configPath}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
      await chmod(temp, 0o600);
      await rename(temp, configPath);
    } finally {
      await rm(temp, { force: true });
    }
  };

  const helperFor = (config: DockerConfigFile, host: string): string | undefined => {
    for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
      if (normalizeAuthKey(key) === host) return helper;
    }
    return config.credsStore || undefined;
  };

  const serverUrl = (host: string): string => (host === "docker.io" ? DOCKER_HUB_KEY : host);
  const helper = (name: string, action: string, input: string, o?: CallOptions) =>
    runHelper(name, action, input, options.helperPath, o?.signal);

  return {
    configPath,
    async get(hostText, o) {
      throwIfAborted(o?.signal);
      const host = normalizeAuthKey(hostText);
      const config = await load();
      const name = helperFor(config, host);
      if (name) {
        const out = await helper(name, "get", serverUrl(host), o);
        if (out === undefined) return undefined;
        const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
        return parsed.Secret ? { username: parsed.Username ?? "", password: parsed.Secret } : undefined;
      }
      for (const [key, entry] of Object.entries(config.auths ?? {})) {
        if (normalizeAuthKey(key) !== host) continue;
        if (entry.auth) {
          const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
          const colon = decoded.indexOf(":");
          if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
        }
        if (entry.username && entry.password) return { username: entry.username, password: entry.password };
        if (entry.identitytoken) return { username: "<token>", password: entry.identitytoken };
      }
      return undefined;
    },
    async login(hostText, username, password, o) {
      throwIfAborted(o?.signal);
      const host = normalizeAuthKey(hostText);
      const config = await load();
      const name = helperFor(config, host);
      if (name) {
        await helper(
          name,
          "store",
          JSON.stringify({ ServerURL: serverUrl(host), Username: username, Secret: password }),
          o,
        );
        return;
      }
      const auths = { ...(config.auths ?? {}) };
      for (const key of Object.keys(auths)) if (normalizeAuthKey(key) === host) delete auths[key];
      auths[serverUrl(host)] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
      await save({ ...config, auths });
    },
    async logout(hostText, o) {
      throwIfAborted(o?.signal);
      const host = normalizeAuthKey(hostText);
      const config = await load();
      let removed = false;
      const name = helperFor(config, host);
      if (name) removed = (await helper(name, "erase", serverUrl(host), o)) !== undefined;
      const auths = { ...(config.auths ?? {}) };
      for (const key of Object.keys(auths)) {
        if (normalizeAuthKey(key) === host) {
          delete auths[key];
          removed = true;
        }
      }
      if (removed && config.auths) await save({ ...config, auths });
      return removed;
    },
  };
}

/**
 * Runs `docker-credential-<name> <action>` with `input` on stdin; stdout on success, undefined when the
 * helper says it has no credentials. Its output is never put in an error (it may hold secrets).
 */
function runHelper(
  name: string,
  action: string,
  input: string,
  path: string | undefined,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], {
      stdio: ["pipe", "pipe", "pipe"],
      env: path === undefined ? process.env : { ...process.env, PATH: path },
      ...(signal ? { signal } : {}),
    });
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.resume();
    child.on("error", (err) => {
      reject(
        new KilnError("FAILED_PRECONDITION", `credential helper ${program} could not be run`, {
          cause: (err as NodeJS.ErrnoException).code,
          hint: `install ${program} or remove it from credsStore/credHelpers in the Docker config`,
        }),
      );
    });
    child.on("close", (code) => {
      const text = Buffer.concat(out).toString("utf8").trim();
      if (code === 0) resolve(text);
      else if (/credentials not found/i.test(text)) resolve(undefined);
      else
        reject(
          new KilnError("FAILED_PRECONDITION", `credential helper ${program} ${action} exited with ${code}`),
        );
    });
    child.stdin.on("error", () => {}); // a helper that exits without reading stdin
    child.stdin.end(input);
  });
}
