#!/usr/bin/perl
# bench/hitscale.pl [N ...]: cache-hit throughput and latency with zones
# of N entries (default: 100 and 100000), a random key per request, over
# HTTPS keep-alive with wrk (2 threads, BENCH_CONNECTIONS, default 32,
# for BENCH_DURATION seconds, default 10, BENCH_ROUNDS rounds alternating
# the sizes, default 2).  The zone is filled through the origin emulator
# with N unknown FMSPCs, each an origin 404 kept as a negative record (the
# only collateral of which any number of distinct keys passes the
# checks); every request is then a hit, served from the zone through the
# same lookup, pin and send as any record.  Also the workers' CPU time
# per request (/proc), which a busy machine disturbs less than
# throughput.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use POSIX ();
use Time::HiRes qw(time sleep);
use ThimSetup;

my @sizes = @ARGV ? @ARGV : (100, 100000);
my $duration = $ENV{BENCH_DURATION} // 10;
my $conns = $ENV{BENCH_CONNECTIONS} // 32;
my $rounds = $ENV{BENCH_ROUNDS} // 2;
my $TCB = '/sgx/certification/v4/tcb?fmspc=';

$ThimSetup::ROOT = "$FindBin::Bin/..";
$ThimSetup::DATA = "$ThimSetup::ROOT/t/data";
$ThimSetup::MODULE = $ENV{TEST_THIM_MODULE}
    || "$ThimSetup::ROOT/build/objs/ngx_http_thim_module.so";

my %inst;

# a Lua script for wrk: FMSPCs 1..n, in order ("fill") or at random
sub lua {
    my ($t, $n, $how) = @_;
    my $file = $t->dir . "/$how.lua";
    my $pick = $how eq 'fill' ? 'counter' : "math.random(1, $n)";
    open my $fh, '>', $file or die "$file: $!";
    print $fh <<"LUA";
math.randomseed(os.time())
counter = 0
request = function()
    counter = counter + 1
    if counter > $n then counter = 1 end
    return wrk.format("GET", string.format("$TCB%012x", $pick))
end
LUA
    close $fh;
    return $file;
}

# CPU seconds (user + system) the workers of $t used so far
sub cpu {
    my ($t) = @_;
    my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
    my $sum = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $st = <$fh>;
        my @f = split / /, substr($st, rindex($st, ')') + 2);
        $sum += ($f[11] + $f[12]) / $tck;
    }
    return $sum;
}

sub wrk {
    my ($t, $script, $secs, $c, $threads) = @_;
    my $url = 'https://127.0.0.1:' . $t->port('https');
    return `wrk -t$threads -c$c -d${secs}s --latency -s $script $url 2>&1`;
}

for my $n (@sizes) {
    my $mb = int($n / 1024) + 16;
    my ($t, $o) = ThimSetup::start(workers => 2, zone => "${mb}m",
        log_level => 'warn',
        server => 'location = /thim/status { thim_status; }',
        http => 'thim_cache_negative_valid 1h; access_log off;');

    # every unknown FMSPC is an origin 404, kept as a negative record;
    # one connection, so that each key is asked once
    my $t0 = time;
    wrk($t, lua($t, $n, "fill"), 1 + int($n / 1000), 8, 1)
        while ThimSetup::status_sum($t, 'entries') < $n && time - $t0 < 900;
    printf "%d entries: filled in %.1f s (%d entries)\n", $n, time - $t0,
           ThimSetup::status_sum($t, 'entries');
    lua($t, $n, 'random');
    $inst{$n} = $t;
}

my %res;
for my $round (1 .. $rounds) {
    for my $n (@sizes) {
        my $t = $inst{$n};
        my $c0 = cpu($t);
        my $out = wrk($t, $t->dir . '/random.lua', $duration, $conns, 2);
        my $cpu = cpu($t) - $c0;
        my ($reqs) = $out =~ /(\d+) requests in/;
        my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
        my ($p99, $unit) = $out =~ /\s99%\s+([\d.]+)(us|ms|s)\b/;
        $p99 *= { us => 0.001, ms => 1, s => 1000 }->{$unit} if defined $unit;
        my $us = $reqs ? $cpu * 1e6 / $reqs : 0;
        printf "round %d, %6d entries: %8.0f req/s, p99 %.2f ms, "
               . "%.1f us of worker CPU per request\n",
               $round, $n, $rps // 0, $p99 // -1, $us;
        push @{ $res{$n} }, [$rps // 0, $p99 // 0, $us];
    }
}

my ($small, $large) = @sizes[0, -1];
my $best = sub { my ($n, $i) = @_;
                 (sort { $b <=> $a } map { $_->[$i] } @{ $res{$n} })[0] };
my $low = sub { my ($n, $i) = @_;
                (sort { $a <=> $b } map { $_->[$i] } @{ $res{$n} })[0] };
printf "%d vs %d entries: throughput %.2f (best rounds), p99 %.2f, "
       . "CPU per request %.2f (lowest rounds)\n",
       $large, $small, $best->($large, 0) / ($best->($small, 0) || 1),
       $low->($large, 1) / ($low->($small, 1) || 1),
       $low->($large, 2) / ($low->($small, 2) || 1);

$_->stop for values %inst;
