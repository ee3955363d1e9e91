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
scripts/services.sh up
scripts/services.sh test-packages
# Debian's Cinder services, for the real-Cinder end-to-end test (apps/api/test/real-cinder.e2e.spec.ts)
scripts/cinder.sh install
npx nx run-many -t build --output-style=static
npx nx run-many -t lint --output-style=static
# one formatting for the whole tree (npm run format writes it)
npx prettier --check . >/dev/null || { npx prettier --list-different .; echo 'formatting differs from Prettier: npm run format' >&2; exit 1; }
exec npx jest -c jest.config.js --ci "$@"
