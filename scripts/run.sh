#!/bin/bash
# make run: nginx with ngx_thim on https://127.0.0.1:8443, in the
# foreground, until Ctrl-C.  A cold zone is seeded from the bundle of real
# collateral in conf/bundle, the zone is kept in build/run/thim.snap
# across restarts, and refreshes go to the real Intel PCS, Intel root CRL
# host and AMD KDS; with no network it answers from the seed and logs the
# failed refreshes.  THIM_RUN_PORT, THIM_RUN_REFRESH_PORT (plain HTTP on
# loopback, for the refresh sweep; default the next port) and
# THIM_RUN_PREFIX override the ports and the directory (the tests use
# them).  THIM_INTEL_API_KEY_FILE names a file holding Intel's PCS API key,
# for PCK certificates of platforms the bundle does not hold.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${THIM_RUN_PREFIX:-$top/build/run}
port=${THIM_RUN_PORT:-8443}
refresh_port=${THIM_RUN_REFRESH_PORT:-$((port + 1))}
module=${TEST_THIM_MODULE:-$top/build/objs/ngx_http_thim_module.so}

mkdir -p "$prefix"/{logs,tmp}

perl -I"$top/t/lib" -MThimPKI -e 'ThimPKI::make($ARGV[0])' "$prefix/pki"

# nginx's resolver needs an address: the system's first nameserver
resolver=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf \
           2>/dev/null || true)
case "$resolver" in
    *:*) resolver="[$resolver]" ;;
    "") resolver=127.0.0.53 ;;
esac

user=""
[ "$(id -u)" = 0 ] && user="user root;"

api_key="# no THIM_INTEL_API_KEY_FILE: PCK certificates from the bundle only"
if [ -n "${THIM_INTEL_API_KEY_FILE:-}" ]; then
    api_key="thim_intel_api_key_file $(cd "$(dirname "$THIM_INTEL_API_KEY_FILE")" && pwd)/$(basename "$THIM_INTEL_API_KEY_FILE");"
fi

sed -e "s|@MODULE@|$module|g" -e "s|@PREFIX@|$prefix|g" -e "s|@TOP@|$top|g" \
    -e "s|@PORT@|$port|g" -e "s|@REFRESH_PORT@|$refresh_port|g" \
    -e "s|@RESOLVER@|$resolver|g" -e "s|@USER@|$user|g" \
    -e "s|@API_KEY@|$api_key|g" \
    "$top/conf/thim-run.conf.in" >"$prefix/nginx.conf"

cat <<MSG
ngx_thim on https://127.0.0.1:$port (seeded from conf/bundle; origins: Intel PCS, AMD KDS)
  try: curl --cacert $prefix/pki/ca.pem https://127.0.0.1:$port/sgx/certification/v4/qe/identity
  logs: $prefix/logs/   stop: Ctrl-C
MSG

nginx_bin=${NGINX:-${TEST_NGINX_BINARY:-/usr/sbin/nginx}}
"$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf" -e stderr -t -q
exec "$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf" -e stderr
