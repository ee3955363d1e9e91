#!/usr/bin/env bash
# npm run chaos [-- options]: the fault suite (tools/chaos) on the real services — kills island's processes,
# restarts RabbitMQ and PostgreSQL, and puts Swift behind a fault proxy, then checks that nothing was lost or
# left unfinished. It restarts the machine's RabbitMQ and PostgreSQL: run it when nothing else uses them.
# Options: npm run chaos -- --help
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
export ISLAND_LOCAL_REGIONS=${ISLAND_LOCAL_REGIONS:-"RegionOne RegionTwo"}
case "$ISLAND_LOCAL_REGIONS" in *RegionTwo*) ;; *) echo 'npm run chaos needs RegionTwo (ISLAND_LOCAL_REGIONS="RegionOne RegionTwo")' >&2; exit 2 ;; esac
scripts/services.sh up
npx nx run-many -t build --output-style=static >/dev/null
exec node tools/chaos/dist/main.js "$@"
