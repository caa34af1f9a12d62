#!/usr/bin/env bash
# Installs the Debian packages the performance suite (test/bench/perf) needs, when missing:
# haproxy (a subject), iperf3 (bulk throughput), wrk (connection rate, latency), nginx-light (the
# HTTP backend). Idempotent. Never starts Debian's services: for the duration of the install a
# policy-rc.d that denies every service start is in place (an existing one that already denies
# starts is left alone; any other is moved aside and restored afterwards). The suite runs its own
# iperf3 server, nginx and haproxy processes on 127.0.0.1.
set -euo pipefail

PKGS=(haproxy iperf3 wrk nginx-light)
BINS=(/usr/sbin/haproxy /usr/bin/iperf3 /usr/bin/wrk /usr/sbin/nginx)
POLICY=/usr/sbin/policy-rc.d

die() { echo "perf-deps.sh: ERROR: $*" >&2; exit 1; }

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

missing=()
for p in "${PKGS[@]}"; do
  # Any nginx flavour with the binary will do as a static-file backend.
  if [[ $p == nginx-light && -x /usr/sbin/nginx ]]; then continue; fi
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "perf-deps.sh: installing missing packages: ${missing[*]}" >&2
  [[ $(id -u) -eq 0 ]] || die "need root to install: ${missing[*]} (or install them yourself)"
  backup=
  created=0
  if [[ -e $POLICY ]] && grep -qx 'exit 101' "$POLICY" && [[ -x $POLICY ]]; then
    : # already denies every start
  else
    if [[ -e $POLICY ]]; then
      backup="$(mktemp /tmp/policy-rc.d.XXXXXX)"
      cp -p "$POLICY" "$backup"
    fi
    printf '#!/bin/sh\n# perf-deps.sh: no service starts while installing\nexit 101\n' > "$POLICY"
    chmod +x "$POLICY"
    created=1
  fi
  restore_policy() {
    if ((created)); then
      if [[ -n $backup ]]; then mv -f "$backup" "$POLICY"; else rm -f "$POLICY"; fi
    fi
  }
  trap restore_policy EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"
  for p in "${missing[@]}"; do installed "$p" || die "package $p still not installed"; done
fi

for bin in "${BINS[@]}"; do
  [[ -x $bin ]] || die "expected executable $bin is missing"
done
echo "perf-deps.sh: ok (${PKGS[*]} present)" >&2
