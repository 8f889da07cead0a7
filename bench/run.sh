#!/bin/bash
# make bench: throughput and latency of ngx_thim cache hits against nginx's
# own static-file serving of the same bytes and headers, from the same
# nginx (2 workers), in the same run, over HTTPS keep-alive, with wrk.
#
# Environment: BENCH_DURATION (seconds per run, default 10),
# BENCH_CONNECTIONS (default 32), BENCH_ROUNDS (alternating rounds, 3),
# BENCH_ROUTE (tcb: the 11 KB SGX tcbInfo of FMSPC 00906ea10000 with its
# two chain headers, the default; qe: the 1.4 KB QE identity; pckcert: a
# PCK certificate chosen for a raw TCB from the platform's cached set, the
# static twin being Intel's own pckcert answer for it).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$top/build/bench
module=$top/build/objs/ngx_http_thim_module.so
duration=${BENCH_DURATION:-10}
conns=${BENCH_CONNECTIONS:-32}
rounds=${BENCH_ROUNDS:-3}
key=$(cat "$top/t/lib/intel-api-key")
extra_headers=""
case ${BENCH_ROUTE:-tcb} in
pckcert)
    ppid=$(head -1 "$top/t/data/intel/pckcerts/pckid_retrieval.csv" | cut -d, -f1)
    route="/sgx/certification/v4/pckcert?encrypted_ppid=$ppid&cpusvn=0f0f0205ff8007000000000000000000&pcesvn=0900&pceid=0000"
    origin_query=$route
    chain_in=SGX-PCK-Certificate-Issuer-Chain
    chain_out=$chain_in
    extra_headers="SGX-TCBm SGX-FMSPC SGX-PCK-Certificate-CA-Type"
    ;;
tcb)
    route='/sgx/certification/v4/tcb?fmspc=00906ea10000'
    origin_query='/sgx/certification/v4/tcb?fmspc=00906ea10000&update=standard'
    chain_in=TCB-Info-Issuer-Chain
    chain_out="TCB-Info-Issuer-Chain SGX-TCB-Info-Issuer-Chain"
    ;;
qe)
    route=/sgx/certification/v4/qe/identity
    origin_query='/sgx/certification/v4/qe/identity?update=standard'
    chain_in=SGX-Enclave-Identity-Issuer-Chain
    chain_out=$chain_in
    ;;
*)
    echo "bench: BENCH_ROUTE is tcb, qe or pckcert" >&2
    exit 1
esac

rm -rf "$prefix"
mkdir -p "$prefix"/{logs,tmp,origin,html}
perl -I"$top/t/lib" -MThimPKI -e 'ThimPKI::make($ARGV[0])' "$prefix/pki"

exec 3< <(exec perl "$top/t/origin/emulator.pl" --port 0 \
              --cert "$prefix/pki/server.pem" --key "$prefix/pki/server.key" \
              --data "$top/t/data" --state "$prefix/origin" \
              --parent-pid $$ 2>>"$prefix/logs/origin.log")
read -r -t 30 word origin_port ctl_port <&3
[ "$word" = ready ]

# the static twin: the origin's body as a file, its headers as add_header
curl -sS --cacert "$prefix/pki/ca.pem" -D "$prefix/origin.hdr" \
     -H "Ocp-Apim-Subscription-Key: $key" \
     -o "$prefix/html/collateral.json" "https://127.0.0.1:$origin_port$origin_query"
chain=$(tr -d '\r' <"$prefix/origin.hdr" | grep -i "^$chain_in: " | cut -d' ' -f2-)
[ -n "$chain" ]
static_headers=""
for name in $chain_out; do
    static_headers="$static_headers            add_header $name \"$chain\";
"
done
for name in $extra_headers; do
    value=$(tr -d '\r' <"$prefix/origin.hdr" | grep -i "^$name: " | cut -d' ' -f2-)
    static_headers="$static_headers            add_header $name \"$value\";
"
done

port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport')
user=""
[ "$(id -u)" = 0 ] && user="user root;"

cat >"$prefix/nginx.conf" <<CONF
load_module $module;
worker_processes ${BENCH_WORKERS:-2};
pid $prefix/logs/nginx.pid;
error_log $prefix/logs/error.log warn;
$user
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    keepalive_requests 1000000;
    open_file_cache max=64;           # the static baseline at its best
    open_file_cache_valid 1h;

    thim_cache_zone name=thim:16m;
    thim_cache_valid 1d;
    thim_intel_root_ca $top/conf/intel/Intel_SGX_Root_CA.pem;
    thim_intel_api_key_file $top/t/lib/intel-api-key;

    upstream intel_pcs { server 127.0.0.1:$origin_port; keepalive 4; }

    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $prefix/pki/server.pem;
        ssl_certificate_key $prefix/pki/server.key;

        location /sgx/certification/ { thim_intel; }

        location = /static/collateral.json {
            alias $prefix/html/collateral.json;
            default_type application/json;
$static_headers            add_header Cache-Control "max-age=86400";
            add_header Request-ID \$request_id;
            add_header X-Cache-Status HIT;
        }

        location /_thim/intel/ {
            internal;
            proxy_pass https://intel_pcs/;
            proxy_set_header Ocp-Apim-Subscription-Key \$thim_intel_api_key;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $prefix/pki/ca.pem;
            proxy_ssl_name localhost;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_headers off;
            proxy_buffer_size 16k;
            proxy_buffers 4 16k;
            subrequest_output_buffer_size 1m;
        }

        # nginx -t wants every origin thim_intel may fetch from
        location /_thim/intel-root/ {
            internal;
            proxy_pass https://intel_pcs/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $prefix/pki/ca.pem;
            proxy_ssl_name localhost;
            proxy_pass_request_headers off;
        }
    }
}
CONF

# BENCH_PIN=1: nginx (one worker) on the first core, wrk on the second, so
# that each run measures nginx's own cost per request instead of how the
# scheduler shares two cores between three busy processes
pin_nginx=""
pin_wrk=""
if [ "${BENCH_PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_nginx="taskset -c 0"
    pin_wrk="taskset -c 1"
fi

nginx=${NGINX:-/usr/sbin/nginx}
"$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" -t -q
$pin_nginx "$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
trap 'kill -QUIT $(cat "$prefix/logs/nginx.pid") 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sk -o /dev/null "https://127.0.0.1:$port/static/collateral.json" && break
    sleep 0.1
done

base=https://127.0.0.1:$port
thim_url=$base$route
static_url=$base/static/collateral.json

# warm the cache, and check both targets answer 200 with the same bytes:
# a benchmark of an error page against a hit measures nothing
for t in thim static; do
    [ $t = thim ] && u=$thim_url || u=$static_url
    code=$(curl -sS --cacert "$prefix/pki/ca.pem" -o "$prefix/$t.body" \
                -w '%{http_code}' "$u")
    if [ "$code" != 200 ]; then
        echo "bench: $u answered $code" >&2
        exit 1
    fi
done
cmp -s "$prefix/thim.body" "$prefix/static.body" \
    || { echo "bench: cache and static bodies differ" >&2; exit 1; }

# the two answers must cost the network the same: same body, same headers
for u in "$static_url" "$thim_url"; do
    curl -sS --cacert "$prefix/pki/ca.pem" -o /dev/null \
         -w "response bytes (headers + body): %{size_header} + %{size_download}  $u\n" "$u"
done

run_wrk() {   # url -> "req_per_sec p99_ms"
    $pin_wrk wrk -t2 -c"$conns" -d"${duration}s" --latency "$1" >"$prefix/wrk.out"
    perl -ne '
        $r = $1 if /^Requests\/sec:\s+([\d.]+)/;
        if (/^\s+99%\s+([\d.]+)(us|ms|s)\b/) {
            $p = $1 * ($2 eq "us" ? 0.001 : $2 eq "s" ? 1000 : 1);
        }
        END { printf "%.0f %.3f\n", $r, $p }' "$prefix/wrk.out"
}

echo "ngx_thim bench: $(nproc) cores, wrk -t2 -c$conns -d${duration}s, HTTPS keep-alive, nginx 2 workers"
echo "body: $(stat -c %s "$prefix/html/collateral.json") bytes + ${#chain}-byte chain header as: $chain_out ($route)"
printf '%-6s %-8s %12s %10s\n' round target req/s p99_ms
results=()
for i in $(seq "$rounds"); do
    read -r rs ps < <(run_wrk "$static_url")
    printf '%-6s %-8s %12s %10s\n' "$i" static "$rs" "$ps"
    read -r rt pt < <(run_wrk "$thim_url")
    printf '%-6s %-8s %12s %10s\n' "$i" thim "$rt" "$pt"
    results+=("$rs $ps $rt $pt")
done

# medians over the rounds: one noisy round (wrk shares the cores with
# nginx) moves neither figure
printf '%s\n' "${results[@]}" | perl -e '
    my @r = map { [split] } <STDIN>;
    sub med { my @v = sort { $a <=> $b } @_; my $n = @v;
              $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    my ($s, $sp, $t, $tp) = map { my $i = $_; med(map { $_->[$i] } @r) } 0 .. 3;
    printf "median of %d rounds: static %.0f req/s (p99 %.3f ms), "
         . "thim %.0f req/s (p99 %.3f ms): throughput ratio %.2f, "
         . "p99 ratio %.2f\n", scalar(@r), $s, $sp, $t, $tp, $t / $s, $tp / $sp;'

grep -E '\[(alert|crit|emerg)\]' "$prefix/logs/error.log" && exit 1
exit 0
