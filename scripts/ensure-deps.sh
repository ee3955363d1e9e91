#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or older than the lockfile.
# `npm install`, not `npm ci`: the registry this project is built against serves only the Linux builds of
# platform-specific optional packages (@swc/core-*, @nx/nx-*, …), so the lockfile cannot list the others and
# `npm ci` rejects it as out of sync. `npm install` honours the lockfile's versions and leaves it unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=lib/debian.sh
. scripts/lib/debian.sh

# native addons build with node-gyp: zstd-napi (on install) and island's AES-256-GCM (libs/blockstore/native, on build)
missing=()
command -v cc >/dev/null || missing+=(gcc g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] npm install (from package-lock.json)" >&2
  npm install --no-audit --no-fund --loglevel=error
fi
