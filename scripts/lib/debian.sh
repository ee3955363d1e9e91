# Shared by scripts/services.sh and scripts/cinder.sh (sourced; they define log and die).

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
apt_install() { # PACKAGE...
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

POLICY_RC=/usr/sbin/policy-rc.d
OUR_POLICY_RC=0
remove_policy_rc() { [ $OUR_POLICY_RC -eq 0 ] || rm -f "$POLICY_RC"; OUR_POLICY_RC=0; }

# Installs the missing ones of PACKAGES without letting their own services start or run at boot: OpenStack
# packages' postinsts start their daemons (on ports and configs island's scripts run their own instances
# with) and ask debconf about databases and endpoints (DEBCONF answers them beforehand, e.g. all "no").
install_quietly() { # DEBCONF "SERVICE…" PACKAGE...
  local debconf=$1 services=$2 missing=() p s
  shift 2
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}): run as root so they can be installed"
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# island scripts: no service starts while they install\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    OUR_POLICY_RC=1
    trap remove_policy_rc EXIT
  fi
  [ -z "$debconf" ] || echo "$debconf" | debconf-set-selections
  apt_install "${missing[@]}"
  remove_policy_rc
  for s in $services; do
    update-rc.d "$s" disable >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null; then systemctl --root=/ --quiet disable "$s.service" 2>/dev/null || true; fi
  done
}

# A secret generated once (192 random bits, hex) and kept in FILE, readable by root only.
generated_secret() { # FILE
  local f=$1
  if [ ! -s "$f" ]; then
    (umask 077; mkdir -p "$(dirname "$f")" && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f.tmp" && mv "$f.tmp" "$f") \
      || die "cannot write $f"
  fi
  cat "$f"
}
