#!/usr/bin/env bash
# npm test: the whole suite on the real services — installs dependencies and services when missing, builds,
# lints (type-checking tests too) and runs every project's tests. Extra arguments go to Jest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
# two regions: the cross-region tests copy snapshots between two independent Swift endpoints
export ISLAND_LOCAL_REGIONS=${ISLAND_LOCAL_REGIONS:-"RegionOne RegionTwo"}
# and a Swift proxy behind Keystone (authtoken + keystoneauth) for the Swift-through-Keystone test
export ISLAND_SWIFT_KEYSTONE=${ISLAND_SWIFT_KEYSTONE:-1}
# and Barbican, for the Barbican key manager's test (libs/blockstore/src/crypto/barbican-kek.spec.ts)
export ISLAND_BARBICAN=${ISLAND_BARBICAN:-1}
scripts/services.sh up
scripts/services.sh test-packages
# Debian's Cinder services, for the real-Cinder end-to-end test (apps/api/test/real-cinder.e2e.spec.ts)
scripts/cinder.sh install
npx nx run-many -t build --output-style=static
npx nx run-many -t lint --output-style=static
# one formatting for the whole tree (npm run format writes it)
npx prettier --check . >/dev/null || { npx prettier --list-different .; echo 'formatting differs from Prettier: npm run format' >&2; exit 1; }
npx jest -c jest.config.js --ci "$@"
# the whole suite ends with the chaos slice (tools/chaos): one aimed fault of each kind, each checked to land,
# then everything restored and fsck'd. It restarts RabbitMQ and PostgreSQL, so it runs after Jest, alone.
# The long run is npm run chaos.
if [ $# -eq 0 ]; then
  node tools/chaos/dist/main.js --slice --seed "${ISLAND_CHAOS_SEED:-1}"
fi
