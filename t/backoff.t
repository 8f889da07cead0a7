#!/usr/bin/perl
# A failing origin is not hammered (issue 12, 4): after a failed fetch a
# key backs off (thim_fetch_backoff, exponential with jitter), so however
# many clients ask, the origin sees at most one attempt per key per step.
# An expired copy is served STALE meanwhile (UPDATING only while a fetch
# is under way), a cold key gets the last failure with Retry-After at
# once, a 503 with Retry-After holds the origin off as a 429 does, the
# error log has a line per attempt, not per request, the refresh sweeper
# moves on to other keys, and thim_status shows the keys backing off.
#
# Bounds are computed from the time the load really took, so a slow
# machine only widens them: the steps are 0.5..1 s, 1..2 s, 2..3 s (min
# 1s, max 3s, less up to half at random); N seconds allow at most
# 1 + the number of minimal steps that fit in N attempts.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TCB = '/sgx/certification/v4/tcb';
my $FMSPC = '00906ed50000';
my $STATUS = '/thim/status';

my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '2s',
    backoff => '1s 3s',
    http => 'thim_cache_valid 2s;',
    zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh '
            . 'refresh_interval=1s',
    server => "location = $STATUS { thim_status; }
        listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }");

my $WRK = `command -v wrk 2>/dev/null`;
chomp $WRK;

# the most attempts a key may cost in $secs: one, then one per step
sub max_attempts {
    my ($secs) = @_;
    my ($n, $at, $step) = (1, 0, 0.5);
    while ($at + $step <= $secs) {
        $at += $step;
        $n++;
        $step = $step * 2 > 1.5 ? 1.5 : $step * 2;
    }
    return $n;
}

# many requests for $path for about $secs: wrk (4 connections) if
# installed, else rounds of parallel clients; the X-Cache-Status and the
# status of each come from the access log.  Returns the seconds it took.
sub load {
    my ($path, $secs) = @_;
    my $start = time;
    if ($WRK) {
        my $port = $t->port('https');
        system("$WRK -t1 -c4 -d${secs}s --timeout 5s "
               . "'https://127.0.0.1:$port$path' >/dev/null 2>&1");
    } else {
        $t->parallel(8, $path) while time - $start < $secs;
    }
    return time - $start;
}

# the access log lines for $uri since line $from: [status, cache status]
sub answers {
    my ($from, $uri) = @_;
    my @l = ThimSetup::thim_log($t);
    return map { [$_->[1], $_->[2]] }
           grep { ($_->[3] // '') =~ /^GET \Q$uri\E / } @l[$from .. $#l];
}

sub log_lines { scalar(my @l = ThimSetup::thim_log($t)) }

sub status_zone {
    my $r = $t->get($STATUS);
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    return $j ? $j->{zones}{thim} : {};
}

sub count_re {
    my ($text, $re) = @_;
    my $n = () = $text =~ /$re/g;
    return $n;
}

diag('no wrk: parallel clients make the load') unless $WRK;

# --- an expired key, the origin answering 500, under load ----------------

my $r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'MISS', 'QE identity fetched');
my $good = $r->{content};

# counted from the fault on: the request that finds the copy expired
# makes the first failing attempt
$t->mark_log;
my $before = $o->count($QE);
my $from = log_lines();
my $start = time;
$o->fault($QE, status => 500);
ok($t->wait_for(sub { $t->get($QE)->{headers}{'x-cache-status'} ne 'HIT' },
                timeout => 10),
   'the copy expires (thim_cache_valid 2s)');
load($QE, 4);
my $took = time - $start;
my $n = $o->count($QE) - $before;
my @a = answers($from, $QE);
shift @a while @a && $a[0][1] eq 'HIT';     # before the copy expired

cmp_ok(scalar(@a), '>', 20, 'the load made many requests (' . @a . ')');
cmp_ok($n, '>=', 1, 'the origin was asked again');
cmp_ok($n, '<=', max_attempts($took),
       "origin 500: $n origin requests in ${\ sprintf '%.1f', $took} s, "
       . 'at most one per back-off step');
is(scalar(grep { $_->[0] != 200 } @a), 0, 'every client got 200');
my $stale = grep { $_->[1] eq 'STALE' } @a;
my $updating = grep { $_->[1] eq 'UPDATING' } @a;
is(scalar(grep { $_->[1] !~ /^(STALE|UPDATING)$/ } @a), 0,
   'every answer was the expired copy');
cmp_ok($stale, '>', $updating,
       "mostly STALE while backing off ($stale STALE, $updating UPDATING)");
$r = $t->wait_for(sub {
    my $x = $t->get($QE);
    return $x->{headers}{'x-cache-status'} eq 'STALE' ? $x : undef;
});
ok($r, 'X-Cache-Status STALE');
ok($r && $r->{content} eq $good, '... the good copy');

my $log = $t->log_since_mark;
my $lines = count_re($log, qr/origin answered 500 for "[^"]*qe\/identity/);
$n = $o->count($QE) - $before;
cmp_ok($lines, '>=', 1, 'the failures are logged');
cmp_ok($lines, '<=', $n,
       "one error line per attempt ($lines for $n), not per request");

my $z = status_zone();
cmp_ok($z->{backoff}{intel} // 0, '>=', 1, 'thim_status: a key backing off');
is($z->{backoff}{amd}, 0, '... not at AMD');
my $prom = $t->get("$STATUS?format=prometheus")->{content};
like($prom, qr/^thim_origin_backoff_keys\{zone="thim",origin="intel"\} [1-9]/m,
     'Prometheus: thim_origin_backoff_keys');

# --- the origin recovers: the key is refreshed after the step ---------------

$o->clear_faults;
$before = $o->count($QE);
my $got = $t->wait_for(sub {
    my $x = $t->get($QE);
    return $x->{headers}{'x-cache-status'} eq 'HIT' ? $x : undef;
}, timeout => 15, interval => 0.2);
ok($got, 'after the origin recovers and the step passes, the key is '
         . 'refreshed: HIT');
cmp_ok($o->count($QE) - $before, '>=', 1, '... by an origin request');
ok($got && $got->{content} eq $good, '... the same collateral');
ok($t->wait_for(sub { (status_zone()->{backoff}{intel} // -1) == 0 },
                timeout => 5),
   'thim_status: no key backing off any more');

# --- the origin dropping connections ----------------------------------------

$t->mark_log;
$before = $o->count($QE);
$from = log_lines();
$start = time;
$o->fault($QE, drop => 1);
ok($t->wait_for(sub { $t->get($QE)->{headers}{'x-cache-status'} ne 'HIT' },
                timeout => 10),
   'the copy expires again');
load($QE, 4);
$took = time - $start;
$n = $o->count($QE) - $before;
@a = answers($from, $QE);
shift @a while @a && $a[0][1] eq 'HIT';

# nginx tries a dropped keep-alive connection's request once more on a new
# one (proxy_next_upstream): an attempt may reach the emulator twice
cmp_ok($n, '<=', 2 * max_attempts($took),
       "origin dropping connections: $n origin requests in "
       . sprintf('%.1f', $took) . ' s');
is(scalar(grep { $_->[0] != 200 } @a), 0, '... every client got 200');
$log = $t->log_since_mark;
$lines = () = $log =~ /\[error\]/g;
cmp_ok($lines, '<=', 3 * max_attempts($took),
       "... a few error lines per attempt ($lines), not per request");
$o->clear_faults;

# the dropped attempts made Intel's origin back off as a whole (3 failures
# in a row: t/backoff_origin.t); its step passes and an answer ends it, so
# that what follows is the back-off of one key alone
ok($t->wait_for(sub { $t->get("$TCB?fmspc=0000000000aa")->{status} == 404 },
                timeout => 10),
   'the origin answers again (an unknown FMSPC: 404)');

# --- a cold key: the last failure, at once, with Retry-After ---------------

my $cold = "$TCB?fmspc=$FMSPC";
$o->fault($TCB, status => 500);
$before = $o->count($TCB);
$start = time;
$r = $t->get($cold);
is($r->{status}, 502, 'cold key, origin 500: 502');
my @p = $t->parallel(10, $cold);
$took = time - $start;
$n = $o->count($TCB) - $before;
is(scalar(grep { $_->{status} == 502 } @p), 10,
   '... the clients after it: 502 too');
is(scalar(grep { ($_->{headers}{'content-type'} // '') =~ /json/ } @p), 10,
   '... as JSON');
# (but for a client whose request made a new attempt, after a step)
cmp_ok(scalar(grep { ($_->{headers}{'retry-after'} // '') =~ /^[1-9]\d*$/ }
              @p),
       '>=', 10 - ($o->count($TCB) - $before - 1),
       '... with Retry-After');
cmp_ok($n, '<=', max_attempts($took),
       "... costing $n origin requests in " . sprintf('%.1f', $took)
       . ' s, not one per client');
$o->clear_faults;

# --- a 503 with Retry-After holds the origin off, as a 429 -----------------

my $cold2 = "$TCB?fmspc=00606a000000";
$o->fault($TCB, status => 503, retry_after => 20);
$before = $o->count($TCB);
my $now = time;
$r = $t->get($cold2);
is($r->{status}, 503, '503 with Retry-After: 503');
cmp_ok($r->{headers}{'retry-after'} // 0, '>=', 10, '... with its Retry-After');
@p = $t->parallel(6, "$TCB?fmspc=00906ea10000");
is(scalar(grep { $_->{status} == 503 } @p), 6,
   'another key of the origin: 503 at once (hold-off)');
is($o->count($TCB) - $before, 1, '... costing no origin request');
$z = status_zone();
cmp_ok($z->{holdoff}{intel}, '>=', int($now) + 10,
       'thim_status: the origin held off');
$o->clear_faults;


# --- the refresh sweeper moves past failing keys ---------------------------

# three keys due for refresh together (thim_cache_valid 20s: from 15 s on,
# expired at 20 s); two fail at the origin.  The good one is refreshed, and
# a failing one is neither asked for on every pass nor picked on every
# pass: its refresh time is pushed past its back-off step (3 s .. 10 s).
{
    my ($t2, $o2) = ThimSetup::start(workers => 2,
        backoff => '3s 10s',
        http => 'thim_cache_valid 20s;',
        zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh '
                . 'refresh_interval=1s',
        server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }');

    my $TDXQE = '/tdx/certification/v4/qe/identity';
    my $t0 = time;
    is($t2->get($_)->{status}, 200, "sweeper: $_ fetched")
        for $QE, $TDXQE, $cold;
    $o2->reset;
    $o2->fault($QE, status => 500);
    $o2->fault($TDXQE, status => 500);
    $t2->mark_log;

    ok($t2->wait_for(sub { $o2->count($TCB) >= 1 }, timeout => 25,
                     interval => 0.2),
       'sweeper: the good key is refreshed while two others fail');

    # until the copies expire (20 s after the first fetch): nobody asks
    my $left = $t0 + 20.5 - time;
    sleep $left if $left > 0;
    my $sweeps = $t2->log_since_mark;
    my $picked = 0;
    $picked += $1 while $sweeps =~ /refreshing (\d+) entries ahead/g;
    my $passes = () = $sweeps =~ /refreshing \d+ entries ahead/g;
    for my $k ($QE, $TDXQE) {
        cmp_ok($o2->count($k), '<=', 3,
               "sweeper: $k asked " . $o2->count($k)
               . ' times in its refresh window, not on every pass');
    }
    # the good key once and each failing one at most three times (back-off
    # steps of 1.5-3 s, then 3-6 s, from a pass ~15 s after the fetch);
    # two more for a key whose refresh a busy machine (ASan in CI) has
    # not finished by the next pass.  Picked on every pass, the failing
    # keys alone would make two per pass: 10 and more in this window.
    cmp_ok($picked, '<=', 1 + 2 * 3 + 2,
           "sweeper: failing keys are not re-picked on every pass "
           . "($picked picks in $passes sweeps)");
}

done_testing();
