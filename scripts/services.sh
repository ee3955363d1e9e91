#!/usr/bin/env bash
# Local services island runs against: PostgreSQL, RabbitMQ, memcached, one single-node Swift per
# region, Keystone and (ISLAND_BARBICAN=1) Barbican, on 127.0.0.1. Installs what is missing from Debian packages and
# starts what is not running.
#
#   scripts/services.sh up       install + start everything (idempotent, safe to run twice)
#   scripts/services.sh down     stop what this script started (Swift, memcached, Keystone, Barbican); PostgreSQL and
#                                RabbitMQ are left alone (they are the machine's)
#   scripts/services.sh status   one line per service
#   scripts/services.sh env      the ISLAND_* variables that point island at these services
#   scripts/services.sh env USER the OS_* variables of a Keystone user (admin, island, alice, bob, rita) for the
#                                openstack CLI: eval "$(scripts/services.sh env alice)"; openstack token issue
#   scripts/services.sh test-packages   install what only the tests need (python3-cinder)
#
# Keystone (v3, fernet tokens, database keystone) has: project admin (user admin, role admin), project service
# (user island with roles admin and service: it validates users' tokens), projects demo-a (alice: member,
# rita: reader) and demo-b (bob: member), and in RegionOne the catalog entries identity, island (type island,
# http://127.0.0.1:$ISLAND_API_PORT) and, with ISLAND_SWIFT_KEYSTONE=1, object-store, with ISLAND_BARBICAN=1
# key-manager. Passwords are generated once, in $ISLAND_SERVICES_DIR/keystone/secrets/<user>.
#
# Barbican (ISLAND_BARBICAN=1; v1 API on http://127.0.0.1:9311, database barbican) stores secrets with its
# simple_crypto plugin, under a key of its own generated once in $ISLAND_SERVICES_DIR/barbican (mode 0600); it
# validates tokens as Keystone user barbican. island's user island (admin in project service) may create, read
# and delete the secrets of project service.
#
# Settings (environment):
#   ISLAND_SERVICES_DIR   state directory (configs, Swift devices, logs)   default /var/tmp/island-services
#   ISLAND_LOCAL_REGIONS  space-separated region names, one Swift each     default "RegionOne"
#                         region k (1-based) listens on proxy 8080+10(k-1), backends 6200+10(k-1)+{0,1,2}
#   ISLAND_DB_NAME        database created for island                      default island
#   ISLAND_KEYSTONE_PORT  Keystone's port (public API, /v3)                default 5000
#   ISLAND_KEYSTONE_TOKEN_EXPIRATION  token lifetime, seconds              default 3600
#   ISLAND_SWIFT_KEYSTONE=1  RegionOne's Swift also gets a proxy on 8085 that authenticates with Keystone
#                         (authtoken + keystoneauth; account AUTH_<project id>) besides tempauth's on 8080
#   ISLAND_API_PORT       island's endpoint in Keystone's catalog          default 9660
#   ISLAND_BARBICAN=1     `up` also installs and starts Barbican (key-manager in Keystone's catalog), for island's
#                         Barbican key manager; `status` shows it then or while it runs, `down` stops it always
set -euo pipefail

SERVICES_DIR=${ISLAND_SERVICES_DIR:-/var/tmp/island-services}
REGIONS=${ISLAND_LOCAL_REGIONS:-RegionOne}
DB_NAME=${ISLAND_DB_NAME:-island}
SWIFT_USER=test:tester
SWIFT_KEY=testing
PY=/usr/bin/python3   # Debian's python: the one that has swift and oslo installed
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
KEYSTONE_PORT=${ISLAND_KEYSTONE_PORT:-5000}
KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT/v3
KEYSTONE_DIR=$SERVICES_DIR/keystone
KEYSTONE_DB=keystone
KEYSTONE_REGION=RegionOne
SWIFT_KEYSTONE=${ISLAND_SWIFT_KEYSTONE:-0}
SWIFT_KEYSTONE_PORT=8085
BARBICAN=${ISLAND_BARBICAN:-0}
BARBICAN_PORT=9311
BARBICAN_URL=http://127.0.0.1:$BARBICAN_PORT
BARBICAN_DIR=$SERVICES_DIR/barbican
BARBICAN_DB=barbican

PACKAGES=(swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached
  qemu-utils qemu-system-common libnbd-bin python3-oslo.messaging restic curl)
KEYSTONE_PACKAGES=(keystone python3-psycopg2 uwsgi-core uwsgi-plugin-python3 python3-keystonemiddleware)
# barbican-common has the code's commands (barbican-manage) and pulls in python3-barbican; barbican-api would add
# only Debian's own uwsgi service (and python3-openstackclient): this script runs its own uwsgi
BARBICAN_PACKAGES=(barbican-common python3-barbican)
# Only the tests need these: Cinder's own code, to check contrib/cinder against it
TEST_PACKAGES=(python3-cinder)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=lib/debian.sh
. "$(dirname "$0")/lib/debian.sh"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.3
  done
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

# island's own messages (jobs, events) go through a vhost and user of its own; Cinder's RPC stays on the
# default vhost (ISLAND_RPC_URL): whoever can publish on island's vhost can forge job results.
AMQP_VHOST=island
amqp_password() { generated_secret "$SERVICES_DIR/secrets/amqp-island"; }

ensure_island_vhost() {
  local password
  password=$(amqp_password)
  command -v rabbitmqctl >/dev/null || die "rabbitmqctl not found: island's vhost is created on the local RabbitMQ"
  if ! rabbitmqctl -q list_vhosts name 2>/dev/null | grep -qxF "$AMQP_VHOST"; then
    rabbitmqctl -q add_vhost "$AMQP_VHOST" >/dev/null || die "rabbitmqctl add_vhost $AMQP_VHOST failed"
  fi
  if ! rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qxF island; then
    rabbitmqctl -q add_user island "$password" >/dev/null || die "rabbitmqctl add_user island failed"
  elif ! rabbitmqctl -q authenticate_user island "$password" >/dev/null 2>&1; then
    rabbitmqctl -q change_password island "$password" >/dev/null || die "rabbitmqctl change_password island failed"
  fi
  rabbitmqctl -q set_permissions -p "$AMQP_VHOST" island '.*' '.*' '.*' >/dev/null || die "rabbitmqctl set_permissions on $AMQP_VHOST failed"
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
  proxy_config "$pp" 2 "$region" "$base" tempauth "[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
storage_url_scheme = default
token_life = 86400" >"$etc/proxy-server.conf"
}

# A proxy server's configuration over region $3's rings (state dir $4): port, workers, the auth filters of its
# pipeline ($5) and their sections ($6); everything else is the same for every proxy this script runs.
proxy_config() { # PORT WORKERS REGION BASE AUTH-PIPELINE AUTH-SECTIONS -> stdout
  local port=$1 workers=$2 region=$3 base=$4 auth=$5 sections=$6 f
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
swift_dir = $base/etc
user = $(id -un)
workers = $workers
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl $auth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# one device: never error-limit it after a single failure
error_suppression_interval = 0

$sections

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$(memcache_port "$region")

[filter:proxy-logging]
use = egg:swift#proxy_logging
EOF
  for f in catch_errors gatekeeper healthcheck listing_formats bulk tempurl copy slo dlo versioned_writes symlink; do
    printf '\n[filter:%s]\nuse = egg:swift#%s\n' "$f" "$f"
  done
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
    for s in proxy object container account; do stop_pidfile "$base/run/$s-server.pid" "$base/etc/$s-server.conf"; done
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
    stop_pidfile "$base/run/$s-server.pid" "$base/etc/$s-server.conf"
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

# A pid file outlives a reboot (state is under /var/tmp) and its pid may then belong to anything, CI's own
# shell included: a pid counts only while its command line still names what the file was written for.
pidfile_pid() { # FILE FRAGMENT -> the pid when that process runs and its command line holds FRAGMENT
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  echo "$pid"
}

stop_pidfile() { # FILE FRAGMENT (as pidfile_pid)
  local pid i
  if pid=$(pidfile_pid "$1" "$2"); then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# --- Keystone ---------------------------------------------------------------------------------------
# What Debian's keystone package does on install, and what we do about it:
# - its postinst enables the service at boot and starts it (invoke-rc.d: uwsgi on *:5000 with
#   /etc/keystone/keystone.conf): a policy-rc.d answering 101 stops the start, update-rc.d/systemctl disable
#   the boot start.
# - debconf asks whether to set up a database (dbconfig-common, then keystone-manage db_sync), to bootstrap an
#   admin (fernet keys in /etc/keystone, keystone-manage bootstrap after a 10 s sleep, openstack CLI calls) and
#   to register an endpoint: all answered no beforehand, so the postinst touches no database.
# - /etc/keystone is left as it is: uwsgi and keystone-manage read only $KEYSTONE_DIR/keystone.conf.
KEYSTONE_DEBCONF='keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false'

install_keystone() {
  [ "$(dpkg-query -W -f='${Status}\n' "${KEYSTONE_PACKAGES[@]}" 2>/dev/null | grep -c 'install ok installed')" \
    -lt ${#KEYSTONE_PACKAGES[@]} ] || return 0 # one dpkg-query for all: `up` runs this every time
  install_quietly "$KEYSTONE_DEBCONF" keystone "${KEYSTONE_PACKAGES[@]}"
}

secret() { generated_secret "$KEYSTONE_DIR/secrets/$1"; } # the password of Keystone user $1

keystone_users() {
  echo admin island alice bob rita
  [ "$SWIFT_KEYSTONE" != 1 ] || echo swift
  [ "$BARBICAN" != 1 ] || echo barbican
}

write_keystone_conf() { # -> stdout
  local expiration=${ISLAND_KEYSTONE_TOKEN_EXPIRATION:-3600}
  [[ $expiration =~ ^[0-9]+$ ]] || die "ISLAND_KEYSTONE_TOKEN_EXPIRATION must be a number of seconds (got '$expiration')"
  cat <<EOF
# written by scripts/services.sh up for keystone $(dpkg-query -W -f='${Version}' keystone): edits are overwritten
[DEFAULT]
log_dir = $KEYSTONE_DIR/log
log_file = keystone.log
use_stderr = false

[database]
connection = postgresql+psycopg2://postgres@127.0.0.1/$KEYSTONE_DB

[token]
provider = fernet
expiration = $expiration

[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys

[fernet_receipts]
key_repository = $KEYSTONE_DIR/fernet-keys

[credential]
key_repository = $KEYSTONE_DIR/credential-keys

[oslo_policy]
# Keystone's built-in rules: oslo.config's search path would otherwise find the package's /etc/keystone/policy.d
policy_file = $KEYSTONE_DIR/policy.yaml
policy_dirs = $KEYSTONE_DIR/policy.d

[identity]
# bcrypt's minimum: the default (12) costs ~0.3 s of CPU per token issued, and the passwords are random
password_hash_rounds = 4
# what bcrypt reads: with the default (4096) Keystone logs a warning at every password check
max_password_length = 72
EOF
}

# One thread per worker: eventlet is imported (osprofiler -> oslo.concurrency), so oslo.log swaps logging's lock
# for a green one, and two native threads logging at once deadlock the worker for good. lazy-apps: each worker
# loads Keystone itself, nothing opened before the fork is shared. die-on-term: without it uwsgi reloads on
# SIGTERM instead of exiting. need-app: a worker whose Keystone does not load exits instead of answering 500s.
# Keystone's wsgi script finds its config in OS_KEYSTONE_CONFIG_FILES.
# http-socket closes the connection after each response without saying so: "Connection: close" keeps clients
# (undici) from sending their next request on a socket that is being closed. skip-atexit-teardown: a worker's
# Python finalization crashes in greenlet (segfault and backtrace in the log) at every stop.
write_uwsgi() { # PORT APP-LINE ENV DIR -> stdout (Keystone's and Barbican's: both import eventlet)
  cat <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$1
$2
env = $3
chdir = $4
master = true
processes = 2
threads = 1
enable-threads = true
lazy-apps = true
need-app = true
die-on-term = true
buffer-size = 65535
add-header = Connection: close
skip-atexit-teardown = true
EOF
}

keystone_manage() {
  /usr/bin/keystone-manage --config-file "$KEYSTONE_DIR/keystone.conf" --log-file "$KEYSTONE_DIR/log/keystone-manage.log" "$@" \
    >>"$KEYSTONE_DIR/log/keystone-manage.stdout.log" 2>&1 || die "keystone-manage $1 failed; see $KEYSTONE_DIR/log/keystone-manage.log"
}

# bootstrap reads OS_BOOTSTRAP_* before its options: all of them are set here, so that no variable of the caller wins
keystone_bootstrap() {
  log "keystone-manage bootstrap"
  OS_BOOTSTRAP_USERNAME=admin OS_BOOTSTRAP_PASSWORD=$(secret admin) OS_BOOTSTRAP_PROJECT_NAME=admin \
    OS_BOOTSTRAP_ROLE_NAME=admin OS_BOOTSTRAP_SERVICE_NAME=keystone OS_BOOTSTRAP_REGION_ID=$KEYSTONE_REGION \
    OS_BOOTSTRAP_ADMIN_URL=$KEYSTONE_URL OS_BOOTSTRAP_PUBLIC_URL=$KEYSTONE_URL OS_BOOTSTRAP_INTERNAL_URL=$KEYSTONE_URL \
    keystone_manage bootstrap
}

# Keystone's and Barbican's uwsgi: each has a state directory DIR with uwsgi.ini, run/NAME.pid and log/uwsgi.log.
uwsgi_pid() { # DIR NAME -> its pid when it runs (checked against its command line, not only the pid file)
  pidfile_pid "$1/run/$2.pid" "--ini $1/uwsgi.ini"
}

start_uwsgi() { # DIR NAME WHAT: in a session of its own, whose process group stop_uwsgi signals
  rm -f "$1/run/$2.pid"
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$1/run/$2.pid" \
    /usr/bin/uwsgi-core --ini "$1/uwsgi.ini" >>"$1/log/uwsgi.log" 2>&1 </dev/null &
  wait_for 5 uwsgi uwsgi_pid "$1" "$2" >/dev/null || die "$3's uwsgi did not start; logs: $1/log/uwsgi.log"
}

# TERM to uwsgi's process group (master and workers), KILL after 10 s; returns once PORT is free
stop_uwsgi() { # DIR NAME PORT WHAT
  local pid i
  pid=$(uwsgi_pid "$1" "$2") || { rm -f "$1/run/$2.pid"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$1/run/$2.pid"
  wait_for 10 "$2-stop" port_closed "$3" || die "port $3 stays open after $4 (pid $pid) stopped"
}
port_closed() { ! port_open "$1"; }

keystone_pid() { uwsgi_pid "$KEYSTONE_DIR" keystone; }

keystone_ready() { curl -fsS -m 3 "$KEYSTONE_URL" 2>/dev/null | grep -q '"v3\.'; }

stop_keystone() { stop_uwsgi "$KEYSTONE_DIR" keystone "$KEYSTONE_PORT" Keystone; }

keystone_started() { # ready; or dies when uwsgi has exited (a port taken, a config it refuses)
  keystone_ready && return 0
  keystone_pid >/dev/null || { tail -n 20 "$KEYSTONE_DIR/log/uwsgi.log" >&2; die "Keystone's uwsgi exited; logs: $KEYSTONE_DIR/log/"; }
  return 1
}

ensure_keystone() {
  local dir=$KEYSTONE_DIR created=0 sum pid u synced
  install_keystone
  mkdir -p "$dir/log" "$dir/run"
  for u in $(keystone_users); do secret "$u" >/dev/null; done
  if [ -z "$(psql_q "select 1 from pg_database where datname='$KEYSTONE_DB'")" ]; then
    psql_q "create database \"$KEYSTONE_DB\"" >/dev/null || die "cannot create database $KEYSTONE_DB"
    log "created database $KEYSTONE_DB"
    created=1
  fi
  write_keystone_conf >"$dir/keystone.conf"
  write_uwsgi "$KEYSTONE_PORT" "wsgi-file = /usr/bin/keystone-wsgi-public" "OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_DIR/keystone.conf" "$KEYSTONE_DIR" >"$dir/uwsgi.ini"
  # what uwsgi runs with, recorded when it starts: a change (or a package upgrade) restarts it
  sum=$(cat "$dir/keystone.conf" "$dir/uwsgi.ini" | sha256sum | cut -d' ' -f1)
  pid=$(keystone_pid) || pid=
  if [ -n "$pid" ] && [ $created -eq 0 ] && [ "$sum" = "$(cat "$dir/run/keystone.sum" 2>/dev/null)" ]; then
    wait_for 90 keystone keystone_ready || die "Keystone (pid $pid) does not answer on $KEYSTONE_URL; logs: $dir/log/"
  else
    [ -n "$pid" ] || ! port_open "$KEYSTONE_PORT" || die "port $KEYSTONE_PORT (ISLAND_KEYSTONE_PORT) is taken by another process"
    [ -f "$dir/fernet-keys/0" ] || keystone_manage fernet_setup --keystone-user root --keystone-group root
    [ -f "$dir/credential-keys/0" ] || keystone_manage credential_setup --keystone-user root --keystone-group root
    # ~5 s of keystone-manage: only for a new database, another package version or another URL (its endpoints)
    synced="$(dpkg-query -W -f='${Version}' keystone) $KEYSTONE_DB $KEYSTONE_URL"
    if [ $created -eq 1 ] || [ "$synced" != "$(cat "$dir/synced" 2>/dev/null)" ]; then
      log "keystone-manage db_sync ($KEYSTONE_DB)"
      keystone_manage db_sync
      keystone_bootstrap
      echo "$synced" >"$dir/synced"
    fi
    if [ -n "$pid" ]; then
      log "restarting Keystone: its configuration changed"
      stop_keystone
    fi
    log "starting Keystone on $KEYSTONE_URL (state in $dir)"
    start_uwsgi "$dir" keystone Keystone
    echo "$sum" >"$dir/run/keystone.sum"
    wait_for 120 keystone keystone_started || die "Keystone did not answer on $KEYSTONE_URL within 120 s; logs: $dir/log/"
  fi
  keystone_provision
}

keystone_provision() {
  local rc=0 swift_url= barbican_url= args
  [ "$SWIFT_KEYSTONE" != 1 ] || swift_url=http://127.0.0.1:$SWIFT_KEYSTONE_PORT
  [ "$BARBICAN" != 1 ] || barbican_url=$BARBICAN_URL
  args=("$KEYSTONE_URL" "$KEYSTONE_DIR/secrets" "$KEYSTONE_DIR/provisioned.json" "http://127.0.0.1:${ISLAND_API_PORT:-9660}"
    "$swift_url" "$barbican_url")
  "$PY" "$SCRIPTS/keystone-provision.py" "${args[@]}" || rc=$?
  if [ $rc -eq 3 ]; then # admin's password is not ours: a database that an earlier state directory bootstrapped
    keystone_bootstrap
    rc=0
    "$PY" "$SCRIPTS/keystone-provision.py" "${args[@]}" || rc=$?
  fi
  [ $rc -eq 0 ] || die "setting up Keystone's projects, users and catalog failed (exit $rc); logs: $KEYSTONE_DIR/log/"
}

# --- RegionOne's Swift through Keystone (ISLAND_SWIFT_KEYSTONE=1) -------------------------------------------
# One more proxy over the region's rings and backend servers: authtoken validates the request's token with
# Keystone (as user swift), keystoneauth lets the project's admin and member users into account AUTH_<project id>.
write_swift_keystone_config() { # state dir of the region's Swift -> stdout
  local base=$1 password
  password=$(secret swift)
  proxy_config "$SWIFT_KEYSTONE_PORT" 1 "$KEYSTONE_REGION" "$base" "authtoken keystoneauth" "[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = swift
password = $password
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $KEYSTONE_REGION
interface = public
delay_auth_decision = true
cache = swift.cache
include_service_catalog = false

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_prefix = AUTH_"
}

# island's way in: a token of user island for project service, the catalog's public object-store URL of the
# region, then a HEAD of the account there
swift_keystone_ok() { island_reaches object-store HEAD ''; }

# island reaches a service of Keystone's catalog: a token of user island for project service, the public URL of
# the service type in the region, then METHOD on that URL + SUFFIX answers 2xx
island_reaches() { # SERVICE-TYPE METHOD SUFFIX
  PW=$(secret island) "$PY" - "$KEYSTONE_URL" "$KEYSTONE_REGION" "$@" 2>/dev/null <<'EOF'
import json, os, sys, urllib.request
url, region, service_type, method, suffix = sys.argv[1:6]
domain = {'name': 'Default'}
auth = {'identity': {'methods': ['password'],
                     'password': {'user': {'name': 'island', 'domain': domain, 'password': os.environ['PW']}}},
        'scope': {'project': {'name': 'service', 'domain': domain}}}
req = urllib.request.Request(url + '/auth/tokens', data=json.dumps({'auth': auth}).encode(),
                             headers={'Content-Type': 'application/json'})
with urllib.request.urlopen(req, timeout=10) as res:
    token, catalog = res.headers['X-Subject-Token'], json.load(res)['token']['catalog']
(endpoint,) = [e['url'] for s in catalog if s['type'] == service_type
               for e in s['endpoints'] if e['interface'] == 'public' and e['region_id'] == region]
urllib.request.urlopen(urllib.request.Request(endpoint + suffix, method=method, headers={'X-Auth-Token': token}), timeout=10)
EOF
}

start_swift_keystone() {
  local base=$SERVICES_DIR/swift/$KEYSTONE_REGION conf fresh pidf
  [[ " $REGIONS " == *" $KEYSTONE_REGION "* ]] || die "ISLAND_SWIFT_KEYSTONE=1 needs $KEYSTONE_REGION in ISLAND_LOCAL_REGIONS"
  conf=$base/etc/proxy-server-keystone.conf
  pidf=$base/run/proxy-keystone-server.pid
  fresh=$(write_swift_keystone_config "$base")
  if pidfile_pid "$pidf" "$conf" >/dev/null && swift_healthy "$SWIFT_KEYSTONE_PORT"; then
    [ "$fresh" != "$(cat "$conf" 2>/dev/null)" ] || return 0
    log "restarting Swift's Keystone proxy for $KEYSTONE_REGION: its configuration changed"
  fi
  stop_pidfile "$pidf" "$conf"
  port_open "$SWIFT_KEYSTONE_PORT" && die "port $SWIFT_KEYSTONE_PORT (Swift's Keystone proxy) is taken by another process"
  log "starting Swift's Keystone proxy for $KEYSTONE_REGION on 127.0.0.1:$SWIFT_KEYSTONE_PORT"
  (umask 077; printf '%s\n' "$fresh" >"$conf") # it holds user swift's password
  nohup "$PY" /usr/bin/swift-proxy-server "$conf" -v >>"$base/log/proxy-keystone.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  wait_for 60 swift swift_healthy "$SWIFT_KEYSTONE_PORT" \
    || die "Swift's Keystone proxy did not become healthy on port $SWIFT_KEYSTONE_PORT; log: $base/log/proxy-keystone.log"
  wait_for 30 swift-keystone swift_keystone_ok \
    || die "Swift's Keystone proxy is up but island's Keystone token does not open its account; log: $base/log/proxy-keystone.log"
}

# --- Barbican (ISLAND_BARBICAN=1) ------------------------------------------------------------------------
# Debian's barbican-common asks debconf about a database (dbconfig-common, then barbican-db-manage), RabbitMQ and
# keystone_authtoken credentials (written to /etc/barbican/barbican.conf): all answered no beforehand. Its code is
# run here by uwsgi with this script's configuration in $BARBICAN_DIR.
BARBICAN_DEBCONF='barbican-common barbican/configure_db boolean false
barbican-common barbican/configure_rabbit boolean false
barbican-common barbican/configure_ksat boolean false'

install_barbican() {
  [ "$(dpkg-query -W -f='${Status}\n' "${BARBICAN_PACKAGES[@]}" 2>/dev/null | grep -c 'install ok installed')" \
    -lt ${#BARBICAN_PACKAGES[@]} ] || return 0
  install_quietly "$BARBICAN_DEBCONF" "" "${BARBICAN_PACKAGES[@]}" # neither package has a service of its own
}

# The key simple_crypto seals every project's key with: 32 random bytes, base64, generated once. What Barbican
# stored under another key cannot be read, so the database starts over when this key is new.
ensure_barbican_kek() {
  local f=$BARBICAN_DIR/simple-crypto-kek
  [ -s "$f" ] && return 0
  if [ -n "$(psql_q "select 1 from pg_database where datname='$BARBICAN_DB'")" ]; then
    log "dropping database $BARBICAN_DB: its secrets are sealed by a key that $BARBICAN_DIR does not hold"
    psql_q "drop database \"$BARBICAN_DB\" with (force)" >/dev/null || die "cannot drop database $BARBICAN_DB"
  fi
  rm -f "$BARBICAN_DIR/synced"
  (umask 077; head -c 32 /dev/urandom | base64 -w0 >"$f.tmp" && mv "$f.tmp" "$f") || die "cannot write $f"
}

# Barbican's code reads its configuration from the first barbican.conf of ~/.barbican, ~, /etc/barbican, /etc
# (each plugin module parses it again, without arguments): HOME=$BARBICAN_DIR makes that ours, not the package's.
write_barbican_conf() { # -> stdout; holds user barbican's password and simple_crypto's key
  cat <<EOF
# written by scripts/services.sh up for barbican $(dpkg-query -W -f='${Version}' python3-barbican): edits are overwritten
[DEFAULT]
host_href = $BARBICAN_URL
sql_connection = postgresql+psycopg2://postgres@127.0.0.1/$BARBICAN_DB
db_auto_create = false
log_dir = $BARBICAN_DIR/log
log_file = barbican.log
use_stderr = false

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = barbican
password = $(secret barbican)
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $KEYSTONE_REGION
interface = public

[oslo_policy]
# the built-in rules: oslo.config's search path would otherwise find the package's /etc/barbican/policy.d
policy_file = $BARBICAN_DIR/policy.yaml
policy_dirs = $BARBICAN_DIR/policy.d

[secretstore]
enabled_secretstore_plugins = store_crypto

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = $(cat "$BARBICAN_DIR/simple-crypto-kek")
EOF
}

# The package's pipelines less cors (it wants a configuration of its own): the versions at /, the API behind
# Keystone's authtoken at /v1, a healthcheck.
write_barbican_paste() { # -> stdout
  cat <<EOF
[composite:main]
use = egg:Paste#urlmap
/: versions
/v1: api
/healthcheck: healthcheck

[pipeline:versions]
pipeline = http_proxy_to_wsgi microversion versionapp

[pipeline:api]
pipeline = http_proxy_to_wsgi authtoken context microversion apiapp

[app:versionapp]
paste.app_factory = barbican.api.app:create_version_app

[app:apiapp]
paste.app_factory = barbican.api.app:create_main_app

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = $BARBICAN_DIR/healthcheck_disable

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:context]
paste.filter_factory = barbican.api.middleware.context:ContextMiddleware.factory

[filter:microversion]
paste.filter_factory = barbican.api.middleware.microversion:MicroversionMiddleware.factory
EOF
}

# Barbican stores Python bytes (simple_crypto's sealed project keys, the secrets' ciphertext) in text columns.
# psycopg2 sends bytes as bytea, which PostgreSQL turns into its hex text (\x…) on the way into a text column,
# and Barbican cannot read them back (MySQL, which upstream tests with, keeps the bytes). These triggers store
# the text the bytes spell (always ASCII there: base64 and Fernet tokens), and the update repairs rows written
# before them.
barbican_db_fix() {
  PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -U postgres -d "$BARBICAN_DB" -v ON_ERROR_STOP=1 -1 -q \
    >/dev/null <<'EOF' \
    || die "installing the bytes-as-text triggers in database $BARBICAN_DB failed"
create or replace function bytes_as_text() returns trigger language plpgsql as $$
declare
  col text;
  val text;
begin
  foreach col in array TG_ARGV loop
    val := to_jsonb(NEW) ->> col;
    if left(val, 2) = '\x' then
      NEW := jsonb_populate_record(NEW, jsonb_build_object(col, convert_from(decode(substr(val, 3), 'hex'), 'UTF8')));
    end if;
  end loop;
  return NEW;
end $$;
drop trigger if exists bytes_as_text on encrypted_data;
create trigger bytes_as_text before insert or update on encrypted_data
  for each row execute function bytes_as_text('cypher_text', 'kek_meta_extended');
drop trigger if exists bytes_as_text on kek_data;
create trigger bytes_as_text before insert or update on kek_data
  for each row execute function bytes_as_text('plugin_meta');
update encrypted_data set cypher_text = cypher_text where left(cypher_text, 2) = '\x' or left(kek_meta_extended, 2) = '\x';
update kek_data set plugin_meta = plugin_meta where left(plugin_meta, 2) = '\x';
EOF
}

barbican_pid() { uwsgi_pid "$BARBICAN_DIR" barbican; }
stop_barbican() { stop_uwsgi "$BARBICAN_DIR" barbican "$BARBICAN_PORT" Barbican; }
barbican_ready() { curl -fsS -m 3 "$BARBICAN_URL/healthcheck" >/dev/null 2>&1; }

barbican_started() { # ready; or dies when uwsgi has exited (a port taken, a config it refuses, no database)
  barbican_ready && return 0
  barbican_pid >/dev/null || { tail -n 20 "$BARBICAN_DIR/log/uwsgi.log" >&2; die "Barbican's uwsgi exited; logs: $BARBICAN_DIR/log/"; }
  return 1
}

barbican_manage() {
  HOME=$BARBICAN_DIR /usr/bin/barbican-manage "$@" >>"$BARBICAN_DIR/log/barbican-manage.log" 2>&1 \
    || die "barbican-manage $* failed; see $BARBICAN_DIR/log/barbican-manage.log"
}

ensure_barbican() {
  local dir=$BARBICAN_DIR created=0 sum pid synced
  install_barbican
  mkdir -p "$dir/log" "$dir/run"
  chmod 700 "$dir"
  ensure_barbican_kek
  if [ -z "$(psql_q "select 1 from pg_database where datname='$BARBICAN_DB'")" ]; then
    psql_q "create database \"$BARBICAN_DB\"" >/dev/null || die "cannot create database $BARBICAN_DB"
    log "created database $BARBICAN_DB"
    created=1
  fi
  (umask 077; write_barbican_conf >"$dir/barbican.conf" && chmod 600 "$dir/barbican.conf")
  write_barbican_paste >"$dir/api-paste.ini"
  # Barbican finds barbican.conf in $HOME (and so does each of its plugins)
  write_uwsgi "$BARBICAN_PORT" "paste = config:$BARBICAN_DIR/api-paste.ini" "HOME=$BARBICAN_DIR" "$BARBICAN_DIR" >"$dir/uwsgi.ini"
  # what uwsgi runs with, recorded when it starts: a change (or a package upgrade) restarts it
  sum=$(cat "$dir/barbican.conf" "$dir/api-paste.ini" "$dir/uwsgi.ini" | sha256sum | cut -d' ' -f1)
  pid=$(barbican_pid) || pid=
  if [ -n "$pid" ] && [ $created -eq 0 ] && [ "$sum" = "$(cat "$dir/run/barbican.sum" 2>/dev/null)" ]; then
    wait_for 60 barbican barbican_ready || die "Barbican (pid $pid) does not answer on $BARBICAN_URL; logs: $dir/log/"
    return 0
  fi
  [ -n "$pid" ] || ! port_open "$BARBICAN_PORT" || die "port $BARBICAN_PORT (Barbican) is taken by another process"
  synced="$(dpkg-query -W -f='${Version}' python3-barbican) $BARBICAN_DB"
  if [ $created -eq 1 ] || [ "$synced" != "$(cat "$dir/synced" 2>/dev/null)" ]; then
    log "barbican-manage db upgrade ($BARBICAN_DB)"
    barbican_manage db upgrade
    echo "$synced" >"$dir/synced"
  fi
  barbican_db_fix
  if [ -n "$pid" ]; then
    log "restarting Barbican: its configuration changed"
    stop_barbican
  fi
  log "starting Barbican on $BARBICAN_URL (state in $dir)"
  start_uwsgi "$dir" barbican Barbican
  echo "$sum" >"$dir/run/barbican.sum"
  wait_for 120 barbican barbican_started || die "Barbican did not answer on $BARBICAN_URL within 120 s; logs: $dir/log/"
  wait_for 30 barbican-auth island_reaches key-manager GET '/v1/secrets?limit=1' \
    || die "Barbican is up but island's Keystone token does not list its secrets; logs: $dir/log/"
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
  local password
  password=$(secret island)
  echo "export ISLAND_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB_NAME"
  echo "export ISLAND_AMQP_URL=amqp://island:$(amqp_password)@127.0.0.1:5672/$AMQP_VHOST"
  echo "export ISLAND_RPC_URL=amqp://guest:guest@127.0.0.1:5672"
  echo "export ISLAND_REGIONS='$(regions_json)'"
  echo "export ISLAND_KEYSTONE_URL=$KEYSTONE_URL"
  echo "export ISLAND_KEYSTONE_USER=island"
  echo "export ISLAND_KEYSTONE_PASSWORD=$password"
  echo "export ISLAND_KEYSTONE_PROJECT=service"
  echo "export ISLAND_KEYSTONE_DOMAIN=Default"
  [ "$SWIFT_KEYSTONE" != 1 ] || echo "export ISLAND_KEYSTONE_SWIFT_URL=http://127.0.0.1:$SWIFT_KEYSTONE_PORT"
  # each Keystone user's OpenStack variables, as comments (eval-safe): `env USER` prints them to eval
  local user
  for user in admin alice bob rita; do
    echo "# $user ($(project_of "$user")): eval \"\$($0 env $user)\""
    print_user_env "$user" | sed -n 's/^export \(OS_[A-Z_]*\)=\(.*\)/#   \1=\2/p'
  done
}

project_of() { # the project Keystone user $1 works in
  case "$1" in
    admin) echo admin ;;
    island|swift|barbican) echo service ;;
    alice|rita) echo demo-a ;;
    bob) echo demo-b ;;
    *) die "unknown Keystone user '$1' (admin, island, alice, bob, rita, swift, barbican)" ;;
  esac
}

print_user_env() { # the openstack CLI's variables for Keystone user $1
  local project
  project=$(project_of "$1")
  [ -s "$KEYSTONE_DIR/secrets/$1" ] || die "no password for $1 yet: run $0 up first"
  cat <<EOF
unset OS_TOKEN OS_CLOUD OS_AUTH_TYPE OS_USER_ID OS_PROJECT_ID OS_TENANT_ID OS_TENANT_NAME OS_USER_DOMAIN_ID OS_PROJECT_DOMAIN_ID
export OS_AUTH_URL=$KEYSTONE_URL
export OS_USERNAME=$1
export OS_PASSWORD=$(cat "$KEYSTONE_DIR/secrets/$1")
export OS_PROJECT_NAME=$project
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=$KEYSTONE_REGION
EOF
}

cmd_up() {
  ensure_packages "${PACKAGES[@]}"
  ensure_postgres
  ensure_rabbitmq
  ensure_island_vhost
  ensure_keystone
  local r
  for r in $REGIONS; do
    ensure_memcached "$r"
    start_swift "$r"
  done
  [ "$SWIFT_KEYSTONE" != 1 ] || start_swift_keystone
  [ "$BARBICAN" != 1 ] || ensure_barbican
  log "ready:"
  log "  PostgreSQL  postgres://postgres@127.0.0.1:5432/$DB_NAME"
  log "  RabbitMQ    island's own traffic: vhost $AMQP_VHOST, user island; Cinder's RPC: amqp://guest:guest@127.0.0.1:5672"
  log "  Keystone    $KEYSTONE_URL  (eval \"\$($0 env admin)\"; openstack token issue)"
  for r in $REGIONS; do
    log "  Swift $r  http://127.0.0.1:$(proxy_port "$r")/auth/v1.0  user $SWIFT_USER  key $SWIFT_KEY"
  done
  [ "$SWIFT_KEYSTONE" != 1 ] || log "  Swift $KEYSTONE_REGION  http://127.0.0.1:$SWIFT_KEYSTONE_PORT  Keystone tokens (ISLAND_KEYSTONE_*)"
  [ "$BARBICAN" != 1 ] || log "  Barbican    $BARBICAN_URL  (key-manager; Keystone tokens, user island)"
}

cmd_down() {
  local d s
  if barbican_pid >/dev/null; then
    stop_barbican
    log "stopped Barbican"
  fi
  if keystone_pid >/dev/null; then
    stop_keystone
    log "stopped Keystone"
  fi
  for d in "$SERVICES_DIR"/swift/*/; do
    d=${d%/}
    [ -d "$d/run" ] || continue
    stop_pidfile "$d/run/proxy-keystone-server.pid" "$d/etc/proxy-server-keystone.conf"
    for s in proxy object container account; do stop_pidfile "$d/run/$s-server.pid" "$d/etc/$s-server.conf"; done
    log "stopped Swift $(basename "$d")"
  done
  for d in "$SERVICES_DIR"/run/memcached*.pid; do
    [ -f "$d" ] || continue
    stop_pidfile "$d" "-P $d"
    log "stopped memcached ($(basename "$d" .pid))"
  done
}

cmd_status() {
  local rc=0 r
  if pg_ready; then echo "postgresql  up    127.0.0.1:5432"; else echo "postgresql  down"; rc=1; fi
  if port_open 5672; then echo "rabbitmq    up    127.0.0.1:5672"; else echo "rabbitmq    down"; rc=1; fi
  if keystone_ready; then echo "keystone    up    $KEYSTONE_URL"; else echo "keystone    down"; rc=1; fi
  for r in $REGIONS; do
    if port_open "$(memcache_port "$r")"; then echo "memcached   up    $r 127.0.0.1:$(memcache_port "$r")"; else echo "memcached   down  $r"; rc=1; fi
    if swift_healthy "$(proxy_port "$r")"; then echo "swift       up    $r http://127.0.0.1:$(proxy_port "$r")/auth/v1.0"
    else echo "swift       down  $r"; rc=1; fi
  done
  if [ "$SWIFT_KEYSTONE" = 1 ] || [ -f "$SERVICES_DIR/swift/$KEYSTONE_REGION/run/proxy-keystone-server.pid" ]; then
    if swift_healthy "$SWIFT_KEYSTONE_PORT"; then echo "swift       up    $KEYSTONE_REGION http://127.0.0.1:$SWIFT_KEYSTONE_PORT (Keystone)"
    else echo "swift       down  $KEYSTONE_REGION (Keystone)"; rc=1; fi
  fi
  if [ "$BARBICAN" = 1 ] || [ -f "$BARBICAN_DIR/run/barbican.pid" ]; then
    if barbican_ready; then echo "barbican    up    $BARBICAN_URL"; else echo "barbican    down"; rc=1; fi
  fi
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  test-packages) ensure_packages "${TEST_PACKAGES[@]}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) if [ $# -ge 2 ]; then print_user_env "$2"; else print_env; fi ;;
  *) echo "usage: $0 up|down|status|env [USER]|test-packages" >&2; exit 64 ;;
esac
