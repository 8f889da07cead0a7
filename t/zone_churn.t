#!/usr/bin/perl
# Unauthenticated clients cannot churn real collateral out of the zone: a
# small zone holding a handful of Intel and AMD collateral takes a flood
# of 100,000 distinct cold keys (random FMSPCs on tcb, random VCEK hwids),
# each answered 404 by the origin; then the origin stops, and every
# record held before the flood is still served.  With plain LRU the
# flood evicted every one of them.
#
# The flood's 404s come from a fast origin front (an nginx server that
# answers the flood's keys itself and passes the rest to the emulator):
# the emulator forks and takes a file lock per request, far too slow for
# 100,000 requests.  Clients are wrk (keep-alive, over TLS), with a Lua
# script that makes every key distinct and stops at the count.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use ThimSetup;

my $WRK = '/usr/bin/wrk';
plan(skip_all => 'wrk is not installed') unless -x $WRK;

my $FLOOD = $ENV{TEST_THIM_FLOOD} // 100_000;

my $SGX4 = '/sgx/certification/v4';
my $SGX3 = '/sgx/certification/v3';
my $TDX4 = '/tdx/certification/v4';
my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $M1975 = '19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca';
my $Q115 = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';

my @real = ("$SGX4/tcb?fmspc=00906ed50000", "$SGX3/tcb?fmspc=00906ea10000",
            "$TDX4/tcb?fmspc=00a06d080000", "$SGX4/qe/identity",
            "$TDX4/qe/identity", "$SGX4/pckcrl?ca=processor&encoding=der",
            "/vcek/v1/Milan/$MILAN?$Q115", "/vcek/v1/Milan/$M1975?$Q115",
            '/vcek/v1/Milan/cert_chain', '/vcek/v1/Milan/crl');

# the origin as the module sees it: a front that answers the flood's keys
# (FMSPC ff..., hwid ffff...) 404 at once and passes the rest on
my $front = <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_front%%;
        access_log off;

        location / {
            proxy_pass https://intel_pcs;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }

        location ~ ^/(sgx|tdx)/certification/v4/tcb$ {
            if ($arg_fmspc ~ ^ff) {
                return 404;
            }
            proxy_pass https://intel_pcs;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location ~ ^/vcek/v1/Milan/ffff {
            return 404;
        }
    }

    upstream thim_front {
        server 127.0.0.1:%%PORT_front%%;
        keepalive 32;
    }

    thim_intel_origin /_front/intel;
    thim_amd_origin /_front/amd;
    thim_intel_max_fetches 16;
    thim_amd_max_fetches 16;
EOF

my $locs = <<'EOF';
        location /_front/intel/ {
            internal;
            proxy_pass http://thim_front/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_headers off;
            subrequest_output_buffer_size 1m;
        }

        location /_front/amd/ {
            internal;
            proxy_pass http://thim_front/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_headers off;
            subrequest_output_buffer_size 1m;
        }

        location = /thim/status { thim_status; }
EOF

# 256k: 64 pages; the real records take about a third of it
# notice: at debug, the flood writes gigabytes of error log
my ($t, $o) = ThimSetup::start(workers => 2, zone => '256k',
                               log_level => 'notice',
                               http => $front, server => $locs);

sub log_lines {
    return (($t->read_file('logs/thim.log') // '') =~ tr/\n//);
}

sub status {
    my $r = $t->get('/thim/status');
    my $j = eval { JSON::PP::decode_json($r->{content}) } // {};
    return $j->{zones}{thim} // {};
}

my %body;
for my $p (@real) {
    my $r = $t->get($p);
    is($r->{status}, 200, "before the flood: $p -> 200")
        or diag(substr($r->{content}, 0, 300));
    $body{$p} = $r->{content};
}
my $before = status();
cmp_ok($before->{entries}, '>=', scalar(@real), 'the real records are held');

# --- the flood ---------------------------------------------------------------

my $lua = <<'EOF';
local threads = {}
local id = 0

function setup(thread)
    thread:set("id", id)
    id = id + 1
    table.insert(threads, thread)
end

function init(args)
    n = 0
    done_n = 0
    max = tonumber(args[1])
    st = {}
end

function request()
    n = n + 1
    local path
    if n % 2 == 0 then
        path = string.format("/sgx/certification/v4/tcb?fmspc=ff%02x%08x",
                             id, n)
    else
        path = string.format("/vcek/v1/Milan/ffff%02x%08x%s?%s", id, n,
                             string.rep("0", 114),
                             "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115")
    end
    return wrk.format("GET", path)
end

function response(status, headers, body)
    done_n = done_n + 1
    st[status] = (st[status] or 0) + 1
    if done_n >= max then
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local all = {}
    for _, thread in ipairs(threads) do
        local s = thread:get("st")
        for k, v in pairs(s) do
            all[k] = (all[k] or 0) + v
        end
    end
    for k, v in pairs(all) do
        io.write(string.format("status %d %d\n", k, v))
    end
end
EOF
$t->write_file('flood.lua', $lua);

# wrk runs for its duration even when its threads stopped at the count:
# once the access log has every answer, SIGINT ends wrk at once
my $threads = 2;
my $url = 'https://127.0.0.1:' . $t->port('https');
my $dir = $t->dir;
my $t0 = time;
my $pid = open(my $wrk, '-|', $WRK, '-t', $threads, '-c', 64, '-d', '300s',
               '--timeout', '20s', '-s', "$dir/flood.lua", $url, '--',
               int($FLOOD / $threads))
    or die "wrk: $!";
my $logged = log_lines();
$t->wait_for(sub { log_lines() >= $logged + $FLOOD },
             timeout => 290, interval => 1);
kill 'INT', $pid;
my $out = do { local $/; <$wrk> } // '';
close $wrk;
my $took = time - $t0;

my %st = $out =~ /^status (\d+) (\d+)$/mg;
my $answered = 0;
$answered += $_ for values %st;
diag("flood: $answered answers in ${took}s: "
     . join(', ', map { "$_: $st{$_}" } sort keys %st));
cmp_ok($answered, '>=', $FLOOD, "the flood was $FLOOD requests")
    or diag($out);
cmp_ok($st{404} // 0, '>=', $FLOOD * 0.99, 'the flood was answered 404')
    or diag($out);

my $after = status();
cmp_ok($after->{evictions}, '>', $FLOOD / 10,
       'the flood filled the zone many times over')
    or diag(explain($after));

# --- the origin goes away ------------------------------------------------------

$o->stop;

for my $p (@real) {
    my $r = $t->get($p);
    is($r->{status}, 200, "after the flood, origin down: $p -> 200");
    ok(defined $r->{content} && $r->{content} eq $body{$p},
       "... the same record");
    like($r->{headers}{'x-cache-status'} // '', qr/^(HIT|STALE|UPDATING)$/,
         '... from the zone');
}

done_testing();
