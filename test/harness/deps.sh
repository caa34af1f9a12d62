#!/usr/bin/env bash
# Installs the Debian packages the test harness needs, when missing. Idempotent.
# Never starts the Debian rabbitmq-server service (a policy-rc.d that denies service starts
# is put in place for the duration of the install if none exists).
set -euo pipefail

PKGS=(rabbitmq-server haproxy socat iproute2 iputils-arping nftables chromium hatop prometheus-haproxy-exporter tmux curl)

die() { echo "deps.sh: ERROR: $*" >&2; exit 1; }

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "deps.sh: installing missing packages: ${missing[*]}" >&2
  [[ $(id -u) -eq 0 ]] || die "need root to install: ${missing[*]}"
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  cleanup_policy() { if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"
  for p in "${missing[@]}"; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || die "package $p still not installed"
  done
fi

for bin in /usr/lib/rabbitmq/bin/rabbitmq-server /usr/lib/rabbitmq/bin/rabbitmqctl /usr/bin/epmd /usr/sbin/haproxy /usr/bin/socat; do
  [[ -x "$bin" ]] || die "expected executable $bin is missing"
done
command -v ip >/dev/null || die "ip (iproute2) not found"

# The harness runs its own nodes on non-default ports with its own epmd; a Debian default
# node (rabbit@host on 5672) may be running and is left alone. Report ports we need if taken.
if command -v ss >/dev/null; then
  busy=$(ss -Htln 2>/dev/null | awk '{print $4}' | grep -E ':(5673|5674|5675|5676|15673|15674|15675|15676)$' || true)
  if [[ -n "$busy" ]]; then
    echo "deps.sh: WARNING: harness ports already in use: $busy" >&2
  fi
fi
echo "deps.sh: ok (${PKGS[*]} present)" >&2
