#!/usr/bin/perl
# The shared cache's behaviour: one origin fetch per key however many
# clients miss at once (across workers, HTTP/1.1 and HTTP/2), origin
# failures mapped to clear errors and never cached, malformed answers
# refused, stale copies served through origin failures and refreshed in
# the background, and the zone kept across reloads and crashed workers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TDX = '/tdx/certification/v4/qe/identity';
my $QVE = '/sgx/certification/v4/qve/identity';

my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '1s',
                               http => 'thim_fetch_timeout 4s;');

sub json_error {
    my ($r) = @_;
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    return $j ? $j->{error} : undef;
}

# --- coalescing: 50 concurrent clients on one cold key, 2 workers --------

my $key18 = "$QE?tcbEvaluationDataNumber=18";
$o->fault($key18, latency => 700);

my @res = $t->parallel(50, $key18);
my %bodies = map { $_->{content} => 1 } grep { $_->{status} == 200 } @res;
is(scalar(grep { $_->{status} == 200 } @res), 50, '50 clients: all 200');
is(scalar(keys %bodies), 1, '50 clients: one and the same body');
is($o->count($key18), 1, '50 clients: exactly one origin request');

my @lines = grep { $_->[3] =~ /tcbEvaluationDataNumber=18/ }
            ThimSetup::thim_log($t);
is(scalar(grep { $_->[2] eq 'MISS' } @lines), 1, 'one MISS in the log');
my %pids = map { $_->[0] => 1 } @lines;
is(scalar(keys %pids), 2, 'the 50 clients were served by both workers');

# the same over HTTP/2
my $key19 = "$QE?tcbEvaluationDataNumber=19";
$o->fault($key19, latency => 500);
@res = $t->parallel(12, $key19, http2 => 1);
is(scalar(grep { $_->{status} == 200 && $_->{proto} eq 'HTTP/2' } @res), 12,
   'HTTP/2: 12 concurrent clients all 200');
is($o->count($key19), 1, 'HTTP/2: one origin request');
$o->clear_faults;

# --- origin failures with nothing cached -----------------------------------

my $r = $t->get($QVE);
is($r->{status}, 404, 'origin 404 -> 404');
is($r->{headers}{'content-type'}, 'application/json', '404 is JSON');
is($r->{headers}{'error-code'}, 'NotFound', 'Error-Code header');
like(json_error($r), qr/no such collateral/, 'JSON error says why');
like($r->{headers}{'request-id'}, qr/^[0-9a-f]{32}$/, 'errors carry Request-ID');

# Retry-After far wider than the next request can take on a busy machine
$o->fault($TDX, status => 429, retry_after => 6);
$r = $t->get($TDX);
is($r->{status}, 503, 'origin 429 -> 503');
is($r->{headers}{'retry-after'}, 6, "origin's Retry-After passed on");

# the 429 holds every worker back from the origin until it has passed
$o->clear_faults;
my $asked = $o->total;
$r = $t->get("$QE?update=early");
is($r->{status}, 503, 'another key during the hold-off: 503 at once');
ok($r->{headers}{'retry-after'} >= 1 && $r->{headers}{'retry-after'} <= 6,
   '... with the remaining Retry-After');
is($o->total, $asked, '... and no origin request');
sleep 6.2;

$o->fault($TDX, status => 500);
is($t->get($TDX)->{status}, 502, 'origin 500 -> 502');

$o->fault($TDX, drop => 1);
is($t->get($TDX)->{status}, 502, 'connection dropped -> 502');

$o->fault($TDX, latency => 2500);
$r = $t->get($TDX);
is($r->{status}, 504, 'origin slower than proxy_read_timeout -> 504');
like(json_error($r), qr/in time/, '504 says the origin was too slow');

# --- malformed answers are refused, not cached ----------------------------

$o->reset;                       # counts and faults
$o->fault($TDX, truncate => 1, times => 1);
$r = $t->get($TDX);
is($r->{status}, 502, 'truncated body refused -> 502');
is($o->count($TDX), 1, 'the truncated body was fetched once');
$r = $t->get($TDX);
is($r->{status}, 200, 'next request fetches again and succeeds');
is($r->{headers}{'x-cache-status'}, 'MISS', '... as a MISS: nothing was cached');
is($o->count($TDX), 2, 'second origin request');

# a well-formed identity of the wrong kind for the route
$o->serve("$QE?update=early", file => 'intel/pcs/tdx/qe_identity_eval18_2026-01-07.json');
$r = $t->get("$QE?update=early");
is($r->{status}, 502, 'TD_QE identity on the SGX QE route refused');
like($t->error_log, qr/id TD_QE in the body, QE asked/,
     'refusal logged with its reason');
$o->clear_serves;

# --- the zone survives reload and a crashed worker ------------------------

$o->reset;
is($t->get($QE)->{status}, 200, 'cached before reload');
my $before = $o->total;
$t->reload;
$r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'HIT', 'HIT after reload');
$t->kill_worker;
$r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'HIT', 'HIT after a worker was killed');
is($o->total, $before, 'no origin request for either');

# --- origin entirely down: cached keys keep being served ------------------

$o->stop;
for my $path ($QE, $key18, $TDX) {
    $r = $t->get($path);
    is($r->{status}, 200, "origin down: $path still 200");
}
is($t->get("$QE?tcbEvaluationDataNumber=5")->{status}, 502,
   'origin down, nothing cached -> 502');
is($t->get($QVE)->{status}, 404,
   'origin down: the cached 404 of an unknown collateral is still served');

done_testing();
