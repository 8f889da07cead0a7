#!/usr/bin/perl
# A failing origin is not hammered through many keys either (issue 12, 4):
# per-key back-off keeps one key from being asked for again and again, but
# a down origin fails every key.  Once it has failed 3 fetches in a row,
# whatever their keys, it backs off as a whole (thim_fetch_backoff's step,
# doubling): a flood of distinct cold keys costs it a handful of attempts,
# misses are answered 503 with Retry-After and a JSON reason at once,
# cached collateral keeps being served, another origin is not affected,
# and the first answer after a step ends it.
#
# Bounds come from the time the requests really took, so a slow machine
# only widens them: steps are 1..2 s, then 2..4 s (min 2s, max 4s, less up
# to half at random).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use ThimSetup;

my $TCB = '/sgx/certification/v4/tcb';
my $CACHED = "$TCB?fmspc=00906ed50000";
my $STATUS = '/thim/status';

my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '2s',
    backoff => '2s 4s',
    server => "location = $STATUS { thim_status; }");

# the most attempts $secs can cost: 3 before the origin backs off, then
# one probe per step (the shortest steps: 1 s, then 1 s, 2 s, 2 s, ...)
sub max_attempts {
    my ($secs) = @_;
    my ($n, $at, $step) = (3, 0, 1);
    while ($at + $step <= $secs) {
        $at += $step;
        $n++;
        $step = 2;
    }
    return $n;
}

sub tcb_attempts {
    my $c = $o->counts;
    my $n = 0;
    $n += $c->{$_} for grep { m{^\Q$TCB\E\?} && !/00906ed50000/ } keys %$c;
    return $n;
}

my $r = $t->get($CACHED);
is($r->{status}, 200, 'a TCB info cached before the outage');

my $chain = '/vcek/v1/Milan/cert_chain';

# --- Intel PCS refuses every TCB request: 40 distinct cold FMSPCs --------

$o->fault($TCB, drop => 1);

my $start = time;
my (%status, @reasons, @retry);
for my $i (1 .. 40) {
    my $fmspc = sprintf '00a0%08x', $i;
    my $q = $t->get("$TCB?fmspc=$fmspc", http2 => $i % 2);
    $status{$q->{status}}++;
    if ($q->{status} == 503) {
        push @reasons, eval { JSON::PP::decode_json($q->{content})->{error} }
                       // '';
        push @retry, $q->{headers}{'retry-after'};
    }
}
my $took = time - $start;
my $attempts = tcb_attempts();
my $bound = max_attempts($took);

cmp_ok($attempts, '<=', 2 * $bound,
       "40 cold keys in ${\ sprintf '%.1f', $took} s cost the origin "
       . "at most 2 x $bound attempts (a dropped request is retried once)")
    or diag(explain($o->counts));
cmp_ok($attempts, '>=', 3, '... it was asked until it had failed 3 times');
ok($status{503} && $status{503} >= 40 - $bound,
   'the other cold keys: 503 at once') or diag(explain(\%status));
ok(!grep({ $_ !~ /the origin is failing/ } @reasons),
   '... whose JSON says the origin is failing') or diag(explain(\@reasons));
ok(!grep({ !defined $_ || $_ !~ /^\d+$/ || $_ < 1 || $_ > 4 } @retry),
   '... with Retry-After 1..4') or diag(explain(\@retry));

$r = $t->get($CACHED);
is($r->{status}, 200, 'the cached TCB info is still served');

$r = $t->get($chain);
is($r->{status}, 200, 'AMD KDS is another origin: not held back');

like($t->error_log, qr/origin failed \d+ fetches in a row: not asked for \d+ ms/,
     'the back-off is logged');

# --- the origin comes back: after the step, one probe ends the back-off ---

$o->clear_faults;
sleep 4.5;

$r = $t->get("$TCB?fmspc=00606a000000");
is($r->{status}, 200, 'after the step the origin is asked again');
$r = $t->get("$TCB?fmspc=00a06d080000");
is($r->{status}, 200, '... and, answering, is no longer backed off');

done_testing();
