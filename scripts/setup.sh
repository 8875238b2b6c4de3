#!/usr/bin/env bash
# Installs everything kiln needs on a fresh Debian machine (as root), then builds the workspace.
# Idempotent: every step checks first and does nothing when its job is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=$(node -p 'require("./package.json").packageManager.split("@")[1]')
APT_PACKAGES=(busybox-static skopeo umoci runc tar gzip xz-utils bzip2 zstd docker-registry apache2-utils openssl git openssh-client)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "[setup] missing system packages: ${missing[*]} — run as root or install them with apt-get" >&2
    exit 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

# better-sqlite3 compiles from source against the machine's Node headers (no prebuilt downloads).
export npm_config_nodedir=${npm_config_nodedir:-/usr}
export TURBO_TELEMETRY_DISABLED=1
log "installing dependencies"
pnpm install --frozen-lockfile --reporter=silent

log "building"
pnpm exec turbo run build --output-logs=errors-only >/dev/null
log "ready: pnpm exec kiln --help"
