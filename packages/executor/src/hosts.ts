import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** BuildKit's default container hostname (`BUILDKIT_SANDBOX_HOSTNAME`). */
export const DEFAULT_HOSTNAME = "buildkitsandbox";

export interface EtcFile {
  /** Container path the file is bind-mounted at. */
  readonly dest: string;
  /** Host path of the per-run copy in the bundle. */
  readonly source: string;
}

/**
 * Writes the per-run `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` into `<bundle>/etc`. They are
 * mounted read-only over the image's files, so a RUN step never changes (or commits) them.
 */
export async function writeEtcFiles(bundle: string, hostname: string): Promise<EtcFile[]> {
  const dir = join(bundle, "etc");
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ["hosts", hostsFile(hostname)],
    ["resolv.conf", await hostResolvConf()],
    ["hostname", `${hostname}\n`],
  ];
  const out: EtcFile[] = [];
  for (const [name, content] of files) {
    const source = join(dir, name);
    await writeFile(source, content, { mode: 0o644 });
    out.push({ dest: `/etc/${name}`, source });
  }
  return out;
}

/** Loopback names plus the container's own hostname, so `ping $(hostname)` resolves offline. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}

/**
 * The host's resolver configuration as it is. The sandbox network currently is the host's network, so
 * even a local stub resolver (127.0.0.53) is reachable; with `none` the file is kept so tools that
 * parse it still find one. An empty file when the host has none.
 */
async function hostResolvConf(): Promise<string> {
  try {
    return await readFile("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}
