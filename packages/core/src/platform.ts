import { KilnError } from "./errors.js";

/** OCI platform (image-spec image-index.md). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly "os.version"?: string;
  readonly "os.features"?: readonly string[];
}

const NODE_TO_OCI_ARCH: Readonly<Record<string, string>> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
};

/** The platform kiln runs on, normalised the way BuildKit normalises it. */
export function hostPlatform(): Platform {
  const architecture = NODE_TO_OCI_ARCH[process.arch] ?? process.arch;
  return normalizePlatform({ os: process.platform === "win32" ? "windows" : process.platform, architecture });
}

/** Applies containerd's normalisation: aarch64→arm64 (variant v8 dropped), x86_64→amd64, armhf→arm/v7. */
export function normalizePlatform(p: Platform): Platform {
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant;
  switch (architecture) {
    case "x86_64":
    case "x86-64":
      architecture = "amd64";
      break;
    case "aarch64":
      architecture = "arm64";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "i386":
      architecture = "386";
      break;
  }
  if (architecture === "arm64" && variant === "v8") variant = undefined;
  if (architecture === "amd64" && variant === "v1") variant = undefined;
  if (architecture === "arm" && variant === undefined) variant = "v7";
  const out: { -readonly [K in keyof Platform]: Platform[K] } = { os: p.os.toLowerCase(), architecture };
  if (variant) out.variant = variant;
  if (p["os.version"]) out["os.version"] = p["os.version"];
  if (p["os.features"]?.length) out["os.features"] = p["os.features"];
  return out;
}

/** Parses `linux/amd64`, `linux/arm/v7`, `linux/arm64/v8`. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split("/");
  const [os, architecture, variant] = parts;
  if (!os || !architecture || parts.length > 3) {
    throw new KilnError("INVALID_ARGUMENT", `invalid platform ${JSON.stringify(text)}`, {
      hint: "use os/arch[/variant], e.g. linux/amd64 or linux/arm/v7",
    });
  }
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

export function platformsEqual(a: Platform, b: Platform): boolean {
  return formatPlatform(normalizePlatform(a)) === formatPlatform(normalizePlatform(b));
}
