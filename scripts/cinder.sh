#!/usr/bin/env bash
# Debian's Cinder (cinder-api, -scheduler, -volume, -backup) on this machine, with island as its only
# volume backend: for end-to-end tests and for operators trying island behind a real Cinder.
#
#   scripts/cinder.sh install    install the Debian packages (their own services neither start nor run at
#                                boot) and copy contrib/cinder/island_cinder into Python's dist-packages
#   scripts/cinder.sh up DIR     write DIR/cinder.conf, sync the database and start the four services (pids in
#                                DIR/*.pid, logs in DIR/log); waits until service-list shows them up.
#                                Idempotent: running services are kept unless the config or the driver changed
#   scripts/cinder.sh env DIR    the variables for the `cinder` CLI against that cinder-api (noauth):
#                                eval "$(scripts/cinder.sh env DIR)"; cinder service-list
#   scripts/cinder.sh down DIR   stop the services of DIR (installs, database and state are kept)
#
# DIR/cinder.conf is rewritten by every up; overrides that survive go in DIR/cinder.conf.d/*.conf (read
# after it), e.g. "[island]" "island_connection = file". A DIR is one Cinder: its own RabbitMQ vhost,
# state, locks, logs and backups (DIR/backup, posix backup driver).
#
# Settings (environment, read by `up`):
#   ISLAND_CINDER_TRANSPORT_URL  RabbitMQ island's RPC listens on   default rabbit://guest:guest@127.0.0.1:5672/
#   ISLAND_CINDER_RPC_TOPIC      island's ISLAND_RPC_TOPIC          default island-volume
#   ISLAND_CINDER_RPC_EXCHANGE   island's ISLAND_RPC_EXCHANGE       default openstack
#   ISLAND_CINDER_API_PORT       cinder-api on 127.0.0.1            default 8776
#   ISLAND_CINDER_DB             PostgreSQL database (created when absent; two instances need two)
#                                                                   default cinder
#   ISLAND_CINDER_UP_TIMEOUT     seconds `up` waits for the services  default 180
#   ISLAND_CINDER_DEBUG          Cinder's debug logging (true/false)  default false
# read by `env`:
#   ISLAND_CINDER_USER_ID, ISLAND_CINDER_PROJECT_ID                 default admin, demo
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIST_PACKAGES=/usr/lib/python3/dist-packages
SERVICES=(cinder-api cinder-scheduler cinder-volume cinder-backup)
# open-iscsi satisfies cinder-volume's "tgt | open-iscsi" without tgt, an iSCSI target daemon we do not use.
# dmidecode: os-brick's connector properties (cinder-backup attaching a volume) run it where sysfs has no
# DMI, as in VMs like this one, and fail the backup without it (FileNotFoundError, backup stuck "creating").
PACKAGES=("${SERVICES[@]}" python3-cinderclient python3-psycopg2 qemu-utils open-iscsi dmidecode)
RABBIT=rabbit://guest:guest@127.0.0.1:5672

log() { printf '[cinder] %s\n' "$*" >&2; }
die() { printf '[cinder] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# shellcheck source=lib/debian.sh
. "$(dirname "$0")/lib/debian.sh"

# --- install ------------------------------------------------------------------------------------
# What the packages do on install, and what we do about it:
# - every service package's postinst runs invoke-rc.d start (cinder-api: uwsgi on *:8776, cinder-volume
#   with the LVM backend of /etc/cinder/cinder.conf): a policy-rc.d that answers 101 stops that;
#   afterwards the services are disabled at boot too, or a reboot would start them.
# - cinder-common asks (debconf) whether to set up a database with dbconfig-common, RabbitMQ and Keystone
#   credentials, cinder-api whether to register Keystone endpoints: all answered no beforehand.
# - /etc/cinder/cinder.conf (LVM backend, keystone auth) is left as it is: our processes read only
#   DIR/cinder.conf (--config-file replaces the default files).
# No apache site is installed: cinder-api's init script runs uwsgi itself.
DEBCONF_ANSWERS='cinder-common cinder/configure_db boolean false
cinder-common cinder/configure_rabbit boolean false
cinder-common cinder/configure_ksat boolean false
cinder-api cinder/configure_api-endpoint boolean false'

cmd_install() {
  install_quietly "$DEBCONF_ANSWERS" "${SERVICES[*]}" "${PACKAGES[@]}"
  install_driver
}

install_driver() {
  local src=$REPO/contrib/cinder/island_cinder dst=$DIST_PACKAGES/island_cinder
  if [ -d "$dst" ] && diff -rq -x __pycache__ "$src" "$dst" >/dev/null 2>&1; then return 0; fi
  rm -rf "$dst"
  cp -r "$src" "$dst"
  rm -rf "$dst/__pycache__"
  log "copied island_cinder to $dst"
}

# --- up / down ----------------------------------------------------------------------------------
psql_q() { psql -h 127.0.0.1 -U postgres -d postgres -tAqc "$1"; }

ensure_database() {
  local db=$1
  [[ $db =~ ^[A-Za-z0-9_]+$ ]] || die "ISLAND_CINDER_DB must be letters, digits and _ (got '$db')"
  pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL does not answer on 127.0.0.1:5432 (scripts/services.sh up)"
  if [ -z "$(psql_q "select 1 from pg_database where datname='$db'")" ]; then
    psql_q "create database \"$db\"" >/dev/null || die "cannot create database $db"
    log "created database $db"
  fi
}

# Cinder's own RPC (api -> scheduler -> volume/backup) gets a RabbitMQ vhost of its own per DIR. A distinct
# control_exchange would not do: oslo.messaging names a topic's queue after the topic alone
# ("cinder-volume", "cinder-scheduler"), so two Cinders on one vhost would consume each other's requests
# whatever their exchanges. island's RPC stays where island listens (island_transport_url).
vhost_name() { # DIR (absolute)
  local base
  base=$(basename "$1" | tr -c 'A-Za-z0-9_\n-' '-')
  echo "cinder-$base-$(printf '%s' "$1" | cksum | cut -d' ' -f1)"
}

ensure_vhost() {
  local vhost=$1
  command -v rabbitmqctl >/dev/null || die "rabbitmqctl not found: Cinder's vhost is created on the local RabbitMQ"
  port_open 5672 || die "RabbitMQ does not answer on 127.0.0.1:5672 (scripts/services.sh up)"
  if ! rabbitmqctl -q list_vhosts name 2>/dev/null | grep -qxF "$vhost"; then
    rabbitmqctl -q add_vhost "$vhost" >/dev/null || die "rabbitmqctl add_vhost $vhost failed"
    log "created RabbitMQ vhost $vhost"
  fi
  rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null \
    || die "rabbitmqctl set_permissions on $vhost failed"
}

write_conf() { # DIR VHOST DB PORT -> stdout
  local dir=$1 vhost=$2 db=$3 port=$4
  cat <<EOC
# written by scripts/cinder.sh up: edits are overwritten at the next up
[DEFAULT]
my_ip = 127.0.0.1
state_path = $dir/state
log_dir = $dir/log
use_stderr = false
debug = ${ISLAND_CINDER_DEBUG:-false}
transport_url = $RABBIT/$vhost
auth_strategy = noauth
api_paste_config = /usr/share/cinder-common/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $port
osapi_volume_workers = 1
rootwrap_config = /etc/cinder/rootwrap.conf
enabled_backends = island
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = $dir/backup

[database]
connection = postgresql+psycopg2://postgres@127.0.0.1/$db

[oslo_concurrency]
lock_path = $dir/lock

[island]
volume_driver = island_cinder.driver.IslandDriver
volume_backend_name = island
island_transport_url = ${ISLAND_CINDER_TRANSPORT_URL:-$RABBIT/}
island_rpc_exchange = ${ISLAND_CINDER_RPC_EXCHANGE:-openstack}
island_rpc_topic = ${ISLAND_CINDER_RPC_TOPIC:-island-volume}
EOC
}

# pid of service $2 of DIR $1 when it runs (checked against its command line, not only the pid file)
service_pid() {
  local f=$1/$2.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "/usr/bin/$2 --config-file $1/cinder.conf " || return 1
  echo "$pid"
}

# Each service is the leader of its own process group (setsid): api and volume fork workers, and
# stopping the group stops them with it instead of waiting out oslo.service's graceful shutdown.
start_service() {
  local dir=$1 s=$2
  rm -f "$dir/$s.pid"
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$dir/$s.pid" \
    "/usr/bin/$s" --config-file "$dir/cinder.conf" --config-dir "$dir/cinder.conf.d" >>"$dir/log/$s.stdout.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [ -s "$dir/$s.pid" ] && return 0; sleep 0.1; done
  die "$s did not start (see $dir/log/$s.stdout.log)"
}

stop_services() { # DIR SERVICE...: TERM to every group at once (cinder-backup alone takes ~7 s), then KILL
  local dir=$1 s pid alive pids=() names=()
  shift
  for s in "$@"; do
    if pid=$(service_pid "$dir" "$s"); then
      kill -TERM -- "-$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$s")
    fi
    rm -f "$dir/$s.pid"
  done
  for _ in $(seq 1 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 1 ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  [ ${#names[@]} -eq 0 ] || log "stopped ${names[*]}"
}

cinder_cli() { # DIR ARGS...
  local dir=$1; shift
  (eval "$(print_env "$dir")"; /usr/bin/cinder "$@")
}

# the services that have reported (updated_at, UTC) since $2, one "binary host" per line; cinder-volume
# only once the scheduler has its backend's stats ("Backend State" up): its row is written before its
# driver is set up, and a driver that cannot reach island never sends them
services_up_since() {
  cinder_cli "$1" service-list 2>/dev/null | awk -F'|' -v since="$2" '
    NF > 10 { for (i = 2; i <= 10; i++) gsub(/ /, "", $i)
              if ($6 == "up" && $7 >= since && ($2 != "cinder-volume" || $10 == "up")) print $2, $3 }'
}

all_up() { # DIR SINCE
  local up
  up=$(services_up_since "$1" "$2")
  grep -q '^cinder-scheduler ' <<<"$up" && grep -q '^cinder-volume .*@island$' <<<"$up" \
    && grep -q '^cinder-backup ' <<<"$up"
}

# what the services run with: DIR/cinder.conf, the overrides in DIR/cinder.conf.d, the driver's code.
# Recorded at start, so that the next up restarts services of every DIR whose driver copy changed.
config_sum() {
  local f
  {
    cat "$1/cinder.conf"
    for f in "$1"/cinder.conf.d/*.conf; do [ ! -f "$f" ] || cat "$f"; done
    find "$DIST_PACKAGES/island_cinder" -name '*.py' -type f | sort | xargs cat
  } | sha256sum | cut -d' ' -f1
}

cmd_up() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  local db=${ISLAND_CINDER_DB:-cinder} port=${ISLAND_CINDER_API_PORT:-8776} vhost
  vhost=$(vhost_name "$dir")
  cmd_install
  mkdir -p "$dir/log" "$dir/state" "$dir/lock" "$dir/backup" "$dir/cinder.conf.d"
  ensure_database "$db"
  ensure_vhost "$vhost"

  # owner-only: it may hold the RabbitMQ password of island_transport_url
  (umask 077; write_conf "$dir" "$vhost" "$db" "$port" >"$dir/cinder.conf")
  local config s running=()
  config=$(config_sum "$dir")
  for s in "${SERVICES[@]}"; do service_pid "$dir" "$s" >/dev/null && running+=("$s"); done
  if [ ${#running[@]} -gt 0 ] && [ "$config" != "$(cat "$dir/config.sum" 2>/dev/null)" ]; then
    log "restarting ${running[*]}: the configuration or the driver changed"
    stop_services "$dir" "${running[@]}"
  fi

  log "cinder-manage db sync ($db)"
  /usr/bin/cinder-manage --config-file "$dir/cinder.conf" --config-dir "$dir/cinder.conf.d" db sync >>"$dir/log/cinder-manage.stdout.log" 2>&1 \
    || die "cinder-manage db sync failed; see $dir/log/cinder-manage.log"

  # a service counts once it has reported (updated_at, UTC) since it was started: rows in service-list
  # stay "up" for service_down_time (60 s) after their process is gone
  local since started=0
  since=$(date -u +%Y-%m-%dT%H:%M:%S)
  if ! service_pid "$dir" cinder-api >/dev/null && port_open "$port"; then
    die "port $port (ISLAND_CINDER_API_PORT) is taken by another process"
  fi
  for s in "${SERVICES[@]}"; do
    if service_pid "$dir" "$s" >/dev/null; then continue; fi
    log "starting $s"
    start_service "$dir" "$s"
    started=1
  done
  echo "$config" >"$dir/config.sum"
  # running ones report every report_interval (10 s)
  [ $started -eq 1 ] || since=$(date -u -d '-30 seconds' +%Y-%m-%dT%H:%M:%S)

  local timeout=${ISLAND_CINDER_UP_TIMEOUT:-180} end
  end=$((SECONDS + timeout))
  until all_up "$dir" "$since"; do
    if [ $SECONDS -ge $end ]; then
      log "timed out after ${timeout}s; service-list:"
      cinder_cli "$dir" service-list >&2 || true
      for s in "${SERVICES[@]}"; do
        log "--- tail of $dir/log/$s.log"
        tail -n 30 "$dir/log/$s.log" >&2 2>/dev/null || true
        tail -n 10 "$dir/log/$s.stdout.log" >&2 2>/dev/null || true
      done
      log "--- last errors (a traceback's first line):"
      grep -hE ' ERROR [A-Za-z0-9_.]+ \[' "$dir"/log/cinder-*.log 2>/dev/null | tail -n 5 >&2 || true
      die "Cinder did not come up (logs: $dir/log; the services keep running: $0 down $dir)"
    fi
    sleep 2
  done
  log "ready: cinder-api http://127.0.0.1:$port/v3, logs in $dir/log"
  log "  eval \"\$($0 env $dir)\"; cinder service-list"
}

cmd_down() {
  local dir=$1
  [ -d "$dir" ] || { log "nothing to stop: no $dir"; return 0; }
  dir=$(cd "$dir" && pwd -P)
  stop_services "$dir" "${SERVICES[@]}"
}

# --- env ----------------------------------------------------------------------------------------
# python3-cinderclient's noauth plugin sends the token "<user>:<project>", which cinder-api's noauth
# middleware turns into an admin context of that project. The project reaches island as the volumes'
# project_id: "demo" is the project of island's local token island-dev-token. 3.70 is the highest
# microversion of both Cinder 21 and cinderclient 9.1 (attachments with a connector: 3.54, revert: 3.40).
print_env() {
  local dir=$1 port
  [ -f "$dir/cinder.conf" ] || die "no $dir/cinder.conf: run $0 up $dir first"
  port=$(sed -n 's/^osapi_volume_listen_port = //p' "$dir/cinder.conf")
  cat <<EOE
unset OS_CLOUD OS_AUTH_URL OS_TOKEN OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_TENANT_NAME OS_TENANT_ID
export OS_AUTH_TYPE=noauth
export OS_USER_ID=${ISLAND_CINDER_USER_ID:-admin}
export OS_PROJECT_ID=${ISLAND_CINDER_PROJECT_ID:-demo}
export CINDER_ENDPOINT=http://127.0.0.1:$port/v3
export OS_VOLUME_API_VERSION=3.70
EOE
}

case "${1:-}" in
  install) cmd_install ;;
  up) [ $# -eq 2 ] || die "usage: $0 up DIR"; cmd_up "$2" ;;
  down) [ $# -eq 2 ] || die "usage: $0 down DIR"; cmd_down "$2" ;;
  env) [ $# -eq 2 ] || die "usage: $0 env DIR"; dir=$(cd "$2" 2>/dev/null && pwd -P) || die "no such directory: $2"; print_env "$dir" ;;
  *) echo "usage: $0 install|up DIR|env DIR|down DIR" >&2; exit 64 ;;
esac
