import { type Definition, KilnError, type SourceLocation } from "@kiln/core";
import { loadDefinition } from "@kiln/llb";

/** buildx `--allow`: what a build may do beyond the sandbox. */
export type Entitlement = "security.insecure" | "network.host";

export const ENTITLEMENTS: readonly Entitlement[] = ["security.insecure", "network.host"];

const NET_HOST = 1;
const SECURITY_INSECURE = 1;
const MOUNT_SECRET = 1;
const MOUNT_SSH = 2;

export interface PreflightInput {
  readonly definition: Definition;
  /** Dockerfile locations by vertex digest. */
  readonly locations: Readonly<Record<string, SourceLocation>>;
  readonly allow: readonly Entitlement[];
  readonly secretIds: ReadonlySet<string>;
  readonly sshIds: ReadonlySet<string>;
}

/**
 * What must hold before any step runs (not halfway through a build): every RUN that asks for an
 * entitlement (`--security=insecure`, `--network=host`) has it granted, and every required secret
 * and SSH agent was given.
 */
export function preflight(input: PreflightInput): void {
  const missingSecrets = new Set<string>();
  const missingSsh = new Set<string>();
  // An empty definition (a scratch target with metadata only) has nothing to check.
  const ops = input.definition.def.length > 0 ? loadDefinition(input.definition).ops : new Map();
  for (const [digest, { op }] of ops) {
    if (op.op?.case !== "exec") continue;
    const exec = op.op.value;
    const location = input.locations[digest];
    if (exec.security === SECURITY_INSECURE) requireEntitlement(input.allow, "security.insecure", location);
    if (exec.network === NET_HOST) requireEntitlement(input.allow, "network.host", location);
    for (const m of exec.mounts ?? []) {
      const secret = m.secretOpt;
      if (m.mountType === MOUNT_SECRET && secret && !secret.optional && !input.secretIds.has(secret.id ?? ""))
        missingSecrets.add(secret.id ?? "");
      const ssh = m.sshOpt;
      const sshId = ssh?.id || "default";
      if (m.mountType === MOUNT_SSH && ssh && !ssh.optional && !input.sshIds.has(sshId))
        missingSsh.add(sshId);
    }
    for (const e of exec.secretenv ?? [])
      if (!e.optional && !input.secretIds.has(e.id ?? "")) missingSecrets.add(e.id ?? "");
  }
  if (missingSecrets.size > 0) {
    const ids = [...missingSecrets].sort();
    throw new KilnError("NOT_FOUND", `secret${ids.length > 1 ? "s" : ""} ${ids.join(", ")} not found`, {
      hint: ids.map((id) => `--secret id=${id},src=FILE`).join(" "),
    });
  }
  if (missingSsh.size > 0) {
    const ids = [...missingSsh].sort();
    throw new KilnError("NOT_FOUND", `no SSH key ${ids.join(", ")} forwarded from the client`, {
      hint: ids
        .map((id) => (id === "default" ? "--ssh default" : `--ssh ${id}=<socket or key file>`))
        .join(" "),
    });
  }
}

function requireEntitlement(
  allow: readonly Entitlement[],
  entitlement: Entitlement,
  location: SourceLocation | undefined,
): void {
  if (allow.includes(entitlement)) return;
  throw new KilnError("PERMISSION_DENIED", `entitlement ${entitlement} is not allowed`, {
    hint: `grant it with --allow ${entitlement} if you trust this Dockerfile`,
    ...(location ? { location } : {}),
  });
}
