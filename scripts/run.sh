#!/usr/bin/env bash
# npm start: island on this machine — services up (installed when missing), everything built, then the API,
# a node agent for this host, a snapshot worker and a GC worker, logs on the console. Ctrl-C stops island
# (the services keep running; `scripts/services.sh down` stops Swift and memcached; a host's
# qemu-storage-daemon keeps serving exported volumes, as it would for VMs: docs/attached-volumes.md).
#
# Settings: ISLAND_WORKERS (snapshot workers, default 2); any ISLAND_* variable (docs/configuration.md), among them
# ISLAND_HEAP_MIB, each process's V8 heap cap.
# Two regions on this machine: ISLAND_LOCAL_REGIONS="RegionOne RegionTwo" npm start — one Swift per region, and
# one more host per extra region (its own agent, worker, host name <host>-<region> and data directory).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
scripts/services.sh up
npx nx run-many -t build --output-style=static >/dev/null

# a failing env must stop here: evaluating nothing would start the API with static tokens
services_env=$(scripts/services.sh env)
eval "$services_env"
export ISLAND_HOST=${ISLAND_HOST:-$(hostname | cut -d. -f1 | tr -c 'A-Za-z0-9_\n-' '-')}
export ISLAND_DATA_DIR=${ISLAND_DATA_DIR:-${ISLAND_SERVICES_DIR:-/var/tmp/island-services}/hosts/$ISLAND_HOST}
mkdir -p "$ISLAND_DATA_DIR"
# the key-encryption key wrapping every project's key: made on the first run (mode 0600 in a 0700 directory).
# Without it no snapshot can be read: keep a copy apart from Swift (docs/security.md).
if [ "${ISLAND_KEK_MANAGER:-file}" = file ]; then
  export ISLAND_KEK_FILE=${ISLAND_KEK_FILE:-${ISLAND_SERVICES_DIR:-/var/tmp/island-services}/island/kek}
  node -e 'const { FileKekSource } = require("@island/blockstore");
    FileKekSource.create(process.env.ISLAND_KEK_FILE).then((k) => console.error(`[island] KEK ${k.id} in ${process.env.ISLAND_KEK_FILE}`));'
fi

# every process's V8 heap cap (ISLAND_HEAP_MIB, docs/configuration.md); a bad value stops here, as a process would
heap_flags=$(node -e 'try { console.log(require("@island/config").nodeHeapFlags().join(" ")) }
  catch (e) { console.error(`[island] ${e.message}`); process.exit(78) }')
read -r -a node_flags <<<"$heap_flags"

pids=()
start() { # start NAME PORT-VARIABLE PORT SCRIPT [VARIABLE=VALUE…]
  local name=$1 var=$2 port=$3 script=$4
  ( export "$var=$port" "${@:5}"; exec node "${node_flags[@]}" "$script" ) 2>&1 | sed -u "s/^/[$name] /" &
  pids+=($!)
}
stop() {
  trap - INT TERM EXIT
  echo "[island] stopping" >&2
  kill "${pids[@]}" 2>/dev/null || true
  pkill -P $$ 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

start api ISLAND_API_PORT "${ISLAND_API_PORT:-9660}" apps/api/dist/main.js
read -r -a regions <<<"${ISLAND_LOCAL_REGIONS:-RegionOne}"
export ISLAND_REGION=${ISLAND_REGION:-${regions[0]}}
start agent ISLAND_AGENT_PORT "${ISLAND_AGENT_PORT:-9661}" apps/node-agent/dist/main.js
for i in $(seq 1 "${ISLAND_WORKERS:-2}"); do
  start "worker-$i" ISLAND_WORKER_PORT $((${ISLAND_WORKER_PORT:-9662} + 10 * (i - 1))) apps/snapshot-worker/dist/main.js
done
start gc ISLAND_GC_PORT "${ISLAND_GC_PORT:-9663}" apps/gc-worker/dist/main.js
hosts="$ISLAND_HOST ($ISLAND_REGION)"
for k in $(seq 1 $((${#regions[@]} - 1))); do # one more host per extra region
  region=${regions[$k]}
  host="$ISLAND_HOST-$(echo "$region" | tr 'A-Z' 'a-z')"
  dir="$(dirname "$ISLAND_DATA_DIR")/$host"
  mkdir -p "$dir"
  env=("ISLAND_REGION=$region" "ISLAND_HOST=$host" "ISLAND_DATA_DIR=$dir")
  start "agent-$region" ISLAND_AGENT_PORT $((${ISLAND_AGENT_PORT:-9661} + 100 * k)) apps/node-agent/dist/main.js "${env[@]}"
  start "worker-$region" ISLAND_WORKER_PORT $((${ISLAND_WORKER_PORT:-9662} + 100 * k)) apps/snapshot-worker/dist/main.js "${env[@]}"
  hosts="$hosts, $host ($region)"
done

api=http://127.0.0.1:${ISLAND_API_PORT:-9660}
# ready: the API, and this host's agent (its first heartbeat puts the host online)
agent=http://127.0.0.1:${ISLAND_AGENT_PORT:-9661}
for _ in $(seq 1 120); do curl -fs "$api/readyz" >/dev/null 2>&1 && curl -fs "$agent/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
if [ -n "${ISLAND_KEYSTONE_URL:-}" ]; then
  cat >&2 <<MSG
[island] ready: hosts $hosts (images under $(dirname "$ISLAND_DATA_DIR")); callers authenticate with Keystone
[island]   eval "\$(scripts/services.sh env alice)"   # member of demo-a (bob: demo-b, rita: reader of demo-a)
[island]   eval "\$(scripts/services.sh env admin)"   # admin: every project, gc, fsck
[island]   API $api (docs: $api/docs)    try: npx island hosts --json
MSG
else
  cat >&2 <<MSG
[island] ready: hosts $hosts (images under $(dirname "$ISLAND_DATA_DIR")); static tokens (development mode)
[island]   export ISLAND_API_URL=$api
[island]   export ISLAND_TOKEN=${ISLAND_TOKEN:-island-dev-token}   (project demo; admin: island-admin-token)
[island]   API docs: $api/docs    try: npx island hosts --json
MSG
fi
wait
