#!/usr/bin/env bash
# haproxy_chk.sh - the vrrp_script check of the classic HAProxy + Keepalived tutorials, made to
# work (theirs tests `${ps -C haproxy ...}`, a "bad substitution" in bash, so it always fails)
# and to know warren:
#   exit 0 when a `warren proxy` (or haproxy) process is running AND its health endpoint answers
#   2xx; exit 1 otherwise. The reason goes to stderr (warren vrrp logs it at debug level).
#
# You do not need this script with warren: the built-in tracker of the local proxy does the same
# HTTP check from inside `warren vrrp`, without forking a shell every interval:
#   vrrp_script:
#     chk_proxy: {proxy: "http://127.0.0.1:8888/healthz", interval: 0.5, timeout: 0.4, weight: -60}
# It is kept for configurations transcribed from keepalived.conf, and as a template.
#
# Usage: haproxy_chk.sh [URL]        URL default: http://127.0.0.1:8888/healthz (the monitor-uri)
# Environment: CHK_TIMEOUT   seconds for the HTTP check (default 2);
#              CHK_PROCESS   a `pgrep -f` pattern for the proxy process, instead of warren proxy
#                            or haproxy.
set -u

url="${1:-http://127.0.0.1:8888/healthz}"
timeout="${CHK_TIMEOUT:-2}"

fail() {
  echo "haproxy_chk: $*" >&2
  exit 1
}

# `warren proxy` runs as `node .../warren proxy ...` or `node .../cli.js proxy ...`.
proxy_running() {
  if [[ -n "${CHK_PROCESS:-}" ]]; then
    pgrep -f -- "$CHK_PROCESS" >/dev/null 2>&1
    return
  fi
  pgrep -f -- '(^|[ /])(warren|cli\.js) proxy( |$)' >/dev/null 2>&1 || pgrep -x haproxy >/dev/null 2>&1
}

# HTTP GET with curl, or with bash's /dev/tcp where curl is missing (plain http only).
http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time "$timeout" -- "$url"
    return
  fi
  local rest hostport path host port status
  case "$url" in
    http://*) rest="${url#http://}" ;;
    *) echo "haproxy_chk: without curl only http:// URLs can be checked" >&2; return 1 ;;
  esac
  hostport="${rest%%/*}"
  path="/"
  [[ "$rest" == */* ]] && path="/${rest#*/}"
  host="${hostport%:*}"
  port="${hostport##*:}"
  [[ "$hostport" == *:* ]] || port=80
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
  IFS= read -r -t "$timeout" status <&3 || status=""
  exec 3<&- 3>&-
  [[ "$status" =~ ^HTTP/[0-9.]+\ 2[0-9][0-9] ]]
}

proxy_running || fail "no warren proxy (or haproxy) process is running"
http_ok || fail "$url does not answer 2xx"
exit 0
