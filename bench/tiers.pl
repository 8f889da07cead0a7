#!/usr/bin/perl
# make bench, two tiers: the cold fill of N keys through one ngx_thim
# (client -> node -> origin) and through two (client -> edge -> regional
# -> origin), and the hit throughput of an edge against a one-tier node
# for the same key (wrk, HTTPS keep-alive).  The origin is the emulator;
# the keys are t/tiers.t's (t/lib/ThimTiers.pm).  Environment: BENCH_KEYS
# (N, up to 50; default 50), BENCH_DURATION (seconds of wrk, default 5),
# BENCH_CONNECTIONS (default 32).  On a shared machine the figures carry
# its load, which is printed with them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time);

use ThimSetup;
use ThimTiers;

my $n = $ENV{BENCH_KEYS} // 50;
my $duration = $ENV{BENCH_DURATION} // 5;
my $conns = $ENV{BENCH_CONNECTIONS} // 32;
my @keys = ThimTiers::real_keys();
push @keys, ThimTiers::unknown_keys(50 - @keys);
splice @keys, $n if $n < @keys;

my %common = (workers => 2, log_level => 'warn', read_timeout => '60s',
              connect_timeout => '20s', http => 'thim_fetch_timeout 90s;');

my $origin;                                 # the emulator, while it lives

sub node {
    my ($t, $o) = ThimSetup::start(%common, @_);
    $origin //= $o;
    $t->{check_alerts} = 0;                 # checked below, not as a test
    return $t;
}

sub load { (split ' ', `cat /proc/loadavg`)[0] }

# the cold fill of every key, one client per key, released together
sub fill {
    my ($t) = @_;
    my $t0 = time;
    my @res = ThimTiers::stampede($t->dir, map { [ $t, $_ ] } @keys);
    my $took = time - $t0;
    my $bad = grep { $_->[0] != 200 && $_->[0] != 404 } @res;
    die "bench: $bad of " . @keys . " keys failed (first: @{ $res[0] }[0, 1])\n"
        if $bad;
    return $took;
}

sub wrk {
    my ($t, $path) = @_;
    my $url = 'https://127.0.0.1:' . $t->port('https') . $path;
    my $out = `wrk -t2 -c$conns -d${duration}s '$url' 2>&1`;
    my ($rps) = $out =~ /^Requests\/sec:\s+([\d.]+)/m;
    die "bench: wrk: $out" unless defined $rps;
    return $rps;
}

# one tier: a node in front of the emulator
my $one = node();
my $pki = $one->pki;
my $origin_port = $origin->port;
my $load = load();
my $fill1 = fill($one);

# two tiers: an edge in front of a regional in front of the emulator
my $regional = node(pki => $pki, no_origin => 1, origin_port => $origin_port);
my $edge = node(pki => $pki, no_origin => 1, api_key_file => undef,
    upstream => 'server 127.0.0.1:' . $regional->port('https') . ';'
                . "\n        keepalive 16;",
    root_loc => 'rewrite ^ /sgx/certification/v4/rootcacrl break;');
my $fill2 = fill($edge);

my $hit = "$ThimTiers::V4/tcb?fmspc=00906ea10000";
my $rps1 = wrk($one, $hit);
my $rps2 = wrk($edge, $hit);

printf "ngx_thim tiers bench: %d cores, load average %s at the start "
     . "(a shared machine: compare the two columns, not absolute figures)\n",
     `nproc` =~ /(\d+)/ ? $1 : 0, $load;
printf "cold fill of %d keys, %d clients at once: one tier %.2f s, "
     . "two tiers %.2f s\n", scalar @keys, scalar @keys, $fill1, $fill2;
printf "hit throughput (wrk -t2 -c%d -d%ds, %s): one tier %.0f req/s, "
     . "edge %.0f req/s (ratio %.2f)\n", $conns, $duration, $hit, $rps1,
     $rps2, $rps2 / $rps1;

my @bad = map { ThimTest::bad_log_lines($_->error_log) }
              $one, $regional, $edge;
die "bench: alerts in the error logs:\n@bad\n" if @bad;
