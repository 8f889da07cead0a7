#!/bin/bash
# make run: nginx with ngx_thim on https://127.0.0.1:8443, in the
# foreground, until Ctrl-C.  Until offline seeding exists, the origin it
# refreshes from is the bundled emulator of Intel PCS (t/origin), started
# beside it on a free loopback port and stopped with it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$top/build/run
module=$top/build/objs/ngx_http_thim_module.so

mkdir -p "$prefix"/{logs,tmp,origin}

perl -I"$top/t/lib" -MThimPKI -e 'ThimPKI::make($ARGV[0])' "$prefix/pki"

# the emulator: its first stdout line is "ready <port> <ctlport>"
exec 3< <(exec perl "$top/t/origin/emulator.pl" --port 0 \
              --cert "$prefix/pki/server.pem" --key "$prefix/pki/server.key" \
              --data "$top/t/data" --state "$prefix/origin" \
              --parent-pid $$ 2>>"$prefix/logs/origin.log")
read -r -t 30 word origin_port ctl_port <&3 || true
if [ "${word:-}" != ready ]; then
    echo "run: the origin emulator did not start; see $prefix/logs/origin.log" >&2
    exit 1
fi

user=""
[ "$(id -u)" = 0 ] && user="user root;"

sed -e "s|@MODULE@|$module|g" -e "s|@PREFIX@|$prefix|g" -e "s|@TOP@|$top|g" \
    -e "s|@ORIGIN_PORT@|$origin_port|g" -e "s|@USER@|$user|g" \
    "$top/conf/thim-run.conf.in" >"$prefix/nginx.conf"

cat <<MSG
ngx_thim on https://127.0.0.1:8443 (origin emulator on 127.0.0.1:$origin_port)
  try: curl --cacert $prefix/pki/ca.pem https://127.0.0.1:8443/sgx/certification/v4/qe/identity
  logs: $prefix/logs/   stop: Ctrl-C
MSG

nginx_bin=${NGINX:-/usr/sbin/nginx}
"$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf" -e stderr -t -q
exec "$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf" -e stderr
