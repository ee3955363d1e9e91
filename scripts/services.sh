#!/usr/bin/env bash
# Local services island runs against: PostgreSQL, RabbitMQ, memcached and one single-node Swift per
# region, on 127.0.0.1. Installs what is missing from Debian packages and starts what is not running.
#
#   scripts/services.sh up       install + start everything (idempotent, safe to run twice)
#   scripts/services.sh down     stop what this script started (Swift, memcached); PostgreSQL and
#                                RabbitMQ are left alone (they are the machine's)
#   scripts/services.sh status   one line per service
#   scripts/services.sh env      the ISLAND_* variables that point island at these services
#   scripts/services.sh test-packages   install what only the tests need (python3-cinder)
#
# Settings (environment):
#   ISLAND_SERVICES_DIR   state directory (configs, Swift devices, logs)   default /var/tmp/island-services
#   ISLAND_LOCAL_REGIONS  space-separated region names, one Swift each     default "RegionOne"
#                         region k (1-based) listens on proxy 8080+10(k-1), backends 6200+10(k-1)+{0,1,2}
#   ISLAND_DB_NAME        database created for island                      default island
set -euo pipefail

SERVICES_DIR=${ISLAND_SERVICES_DIR:-/var/tmp/island-services}
REGIONS=${ISLAND_LOCAL_REGIONS:-RegionOne}
DB_NAME=${ISLAND_DB_NAME:-island}
SWIFT_USER=test:tester
SWIFT_KEY=testing
PY=/usr/bin/python3   # Debian's python: the one that has swift and oslo installed

PACKAGES=(swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached
  qemu-utils qemu-system-common python3-oslo.messaging restic curl)
# Only the tests need these: Cinder's own code, to check contrib/cinder against it
TEST_PACKAGES=(python3-cinder)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.3
  done
}

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages ($*): run as root so they can be installed"
  if [ $APT_UPDATED -eq 0 ]; then
    log "apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# --- PostgreSQL -------------------------------------------------------------------------------
ensure_postgres() {
  if ! pg_ready; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      apt_install postgresql
      local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
      # A development database on loopback: trust, like the machines island's CI runs on.
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
      || die "PostgreSQL did not start (see /var/log/postgresql)"
    wait_for 30 postgres pg_ready || die "PostgreSQL does not accept connections on 127.0.0.1:5432"
  fi
  if [ -z "$(psql_q "select 1 from pg_database where datname='$DB_NAME'")" ]; then
    psql_q "create database \"$DB_NAME\"" >/dev/null || die "cannot create database $DB_NAME"
    log "created database $DB_NAME"
  fi
}
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
psql_q() { psql -h 127.0.0.1 -U postgres -d postgres -tAqc "$1"; }

# --- RabbitMQ ---------------------------------------------------------------------------------
ensure_rabbitmq() {
  port_open 5672 && return 0
  is_installed rabbitmq-server || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for 90 rabbitmq port_open 5672 || die "RabbitMQ did not start listening on 127.0.0.1:5672"
}

# --- memcached, one per region (tempauth's tokens, the proxy's account and container info) ------
# Two Swifts sharing one memcached would share cache keys such as account/AUTH_test: a region would
# take the other's account for its own and never create it (its container PUTs then answer 404).
memcache_port() { echo $((11211 + 10 * $(region_index "$1"))); }

ensure_memcached() {
  local port
  port=$(memcache_port "$1")
  port_open "$port" && return 0
  mkdir -p "$SERVICES_DIR/run" "$SERVICES_DIR/log"
  log "starting memcached for $1 on 127.0.0.1:$port"
  memcached -d -l 127.0.0.1 -p "$port" -U 0 -m 64 -u "$(id -un)" -P "$SERVICES_DIR/run/memcached-$port.pid" \
    || die "memcached did not start"
  wait_for 10 memcached port_open "$port" || die "memcached is not listening on 127.0.0.1:$port"
}

# --- Swift, one all-in-one per region -------------------------------------------------------------
region_index() { # 0-based position of region $1 in REGIONS
  local i=0 r
  for r in $REGIONS; do [ "$r" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done
  die "unknown region $1"
}
proxy_port() { echo $((8080 + 10 * $(region_index "$1"))); }
backend_port() { echo $((6200 + 10 * $(region_index "$1") + $2)); } # 0 object, 1 container, 2 account

swift_healthy() { curl -fsS -m 2 "http://127.0.0.1:$1/healthcheck" >/dev/null 2>&1; }

write_swift_configs() { # region, state dir, where to write the .conf files (default: the state's etc)
  local region=$1 base=$2 etc=${3:-$2/etc}
  local pp op cp ap
  pp=$(proxy_port "$region"); op=$(backend_port "$region" 0); cp=$(backend_port "$region" 1); ap=$(backend_port "$region" 2)
  mkdir -p "$etc" "$base/srv/d1" "$base/run" "$base/log" "$base/cache"
  local common="bind_ip = 127.0.0.1
swift_dir = $base/etc
devices = $base/srv
mount_check = false
user = $(id -un)
workers = 1
recon_cache_path = $base/cache
log_level = INFO"
  cat >"$etc/object-server.conf" <<EOF
[DEFAULT]
bind_port = $op
$common

[pipeline:main]
pipeline = healthcheck object-server

[app:object-server]
use = egg:swift#object

[filter:healthcheck]
use = egg:swift#healthcheck

[object-updater]
interval = 5
EOF
  cat >"$etc/container-server.conf" <<EOF
[DEFAULT]
bind_port = $cp
$common

[pipeline:main]
pipeline = healthcheck container-server

[app:container-server]
use = egg:swift#container

[filter:healthcheck]
use = egg:swift#healthcheck

[container-updater]
interval = 5
EOF
  cat >"$etc/account-server.conf" <<EOF
[DEFAULT]
bind_port = $ap
$common

[pipeline:main]
pipeline = healthcheck account-server

[app:account-server]
use = egg:swift#account

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  {
    cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pp
swift_dir = $base/etc
user = $(id -un)
workers = 2
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# one device: never error-limit it after a single failure
error_suppression_interval = 0

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
storage_url_scheme = default
token_life = 86400

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$(memcache_port "$region")

[filter:proxy-logging]
use = egg:swift#proxy_logging
EOF
    local f
    for f in catch_errors gatekeeper healthcheck listing_formats bulk tempurl copy slo dlo versioned_writes symlink; do
      printf '\n[filter:%s]\nuse = egg:swift#%s\n' "$f" "$f"
    done
  } >"$etc/proxy-server.conf"
}

# the Swift of region $1 runs with the configuration this script writes now (not one an older version wrote)
swift_configs_current() {
  local region=$1 base=$2 fresh f
  fresh=$(mktemp -d)
  write_swift_configs "$region" "$base" "$fresh"
  for f in "$fresh"/*.conf; do
    cmp -s "$f" "$base/etc/$(basename "$f")" || { rm -rf "$fresh"; return 1; }
  done
  rm -rf "$fresh"
}

build_swift_rings() { # one Python process instead of nine swift-ring-builder calls (~1 s vs ~8 s)
  local region=$1 base=$2
  "$PY" - "$base/etc" "$(backend_port "$region" 0)" "$(backend_port "$region" 1)" "$(backend_port "$region" 2)" <<'EOF' \
    || die "building Swift rings for $region failed"
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], {'object': int(sys.argv[2]), 'container': int(sys.argv[3]), 'account': int(sys.argv[4])}
for name, port in ports.items():
    b = RingBuilder(8, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'replication_ip': '127.0.0.1',
               'replication_port': port, 'device': 'd1', 'weight': 100, 'meta': ''})
    b.rebalance()
    b.get_ring().save(f'{etc}/{name}.ring.gz')
    b.save(f'{etc}/{name}.builder')
EOF
}

start_swift() {
  local region=$1 base=$SERVICES_DIR/swift/$1 pp
  pp=$(proxy_port "$region")
  local s p
  if swift_healthy "$pp"; then
    swift_auth_ok "$pp" || die "something answers on 127.0.0.1:$pp but Swift auth fails there (not ours?)"
    swift_configs_current "$region" "$base" && return 0
    log "restarting Swift for $region: its configuration changed"
    for s in proxy object container account; do stop_pidfile "$base/run/$s-server.pid"; done
  fi
  for s in object container account; do
    p=$(backend_port "$region" $([ $s = object ] && echo 0 || ([ $s = container ] && echo 1 || echo 2)))
    port_open "$p" && die "port $p (Swift $s server for $region) is taken by another process"
  done
  port_open "$pp" && die "port $pp (Swift proxy for $region) is taken by another process"
  log "starting Swift for $region on 127.0.0.1:$pp (state in $base)"
  write_swift_configs "$region" "$base"
  [ -f "$base/etc/object.ring.gz" ] || build_swift_rings "$region" "$base"
  for s in account container object proxy; do
    stop_pidfile "$base/run/$s-server.pid"
    nohup "$PY" "/usr/bin/swift-$s-server" "$base/etc/$s-server.conf" -v >>"$base/log/$s.log" 2>&1 </dev/null &
    echo $! >"$base/run/$s-server.pid"
  done
  local port
  for port in "$(backend_port "$region" 2)" "$(backend_port "$region" 1)" "$(backend_port "$region" 0)" "$pp"; do
    wait_for 60 swift swift_healthy "$port" \
      || die "Swift for $region did not become healthy on port $port; logs: $base/log/"
  done
  wait_for 20 swift-auth swift_auth_ok "$pp" || die "Swift for $region is up but tempauth fails; logs: $base/log/proxy.log"
}

swift_auth_ok() {
  curl -fsS -m 5 -o /dev/null -H "X-Auth-User: $SWIFT_USER" -H "X-Auth-Key: $SWIFT_KEY" \
    "http://127.0.0.1:$1/auth/v1.0" 2>/dev/null
}

stop_pidfile() {
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

regions_json() {
  local out='[' sep='' r
  for r in $REGIONS; do
    out+="$sep{\"name\":\"$r\",\"authUrl\":\"http://127.0.0.1:$(proxy_port "$r")/auth/v1.0\",\"user\":\"$SWIFT_USER\",\"key\":\"$SWIFT_KEY\"}"
    sep=','
  done
  echo "$out]"
}

print_env() {
  echo "export ISLAND_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB_NAME"
  echo "export ISLAND_AMQP_URL=amqp://guest:guest@127.0.0.1:5672"
  echo "export ISLAND_REGIONS='$(regions_json)'"
}

cmd_up() {
  ensure_packages "${PACKAGES[@]}"
  ensure_postgres
  ensure_rabbitmq
  local r
  for r in $REGIONS; do
    ensure_memcached "$r"
    start_swift "$r"
  done
  log "ready:"
  log "  PostgreSQL  postgres://postgres@127.0.0.1:5432/$DB_NAME"
  log "  RabbitMQ    amqp://guest:guest@127.0.0.1:5672"
  for r in $REGIONS; do
    log "  Swift $r  http://127.0.0.1:$(proxy_port "$r")/auth/v1.0  user $SWIFT_USER  key $SWIFT_KEY"
  done
}

cmd_down() {
  local d s
  for d in "$SERVICES_DIR"/swift/*/; do
    [ -d "$d/run" ] || continue
    for s in proxy object container account; do stop_pidfile "$d/run/$s-server.pid"; done
    log "stopped Swift $(basename "$d")"
  done
  for d in "$SERVICES_DIR"/run/memcached*.pid; do
    [ -f "$d" ] || continue
    stop_pidfile "$d"
    log "stopped memcached ($(basename "$d" .pid))"
  done
}

cmd_status() {
  local rc=0 r
  if pg_ready; then echo "postgresql  up    127.0.0.1:5432"; else echo "postgresql  down"; rc=1; fi
  if port_open 5672; then echo "rabbitmq    up    127.0.0.1:5672"; else echo "rabbitmq    down"; rc=1; fi
  for r in $REGIONS; do
    if port_open "$(memcache_port "$r")"; then echo "memcached   up    $r 127.0.0.1:$(memcache_port "$r")"; else echo "memcached   down  $r"; rc=1; fi
    if swift_healthy "$(proxy_port "$r")"; then echo "swift       up    $r http://127.0.0.1:$(proxy_port "$r")/auth/v1.0"
    else echo "swift       down  $r"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  test-packages) ensure_packages "${TEST_PACKAGES[@]}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env|test-packages" >&2; exit 64 ;;
esac
