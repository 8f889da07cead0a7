#!/usr/bin/perl
# Expiry and refresh: a stale copy is answered at once while a background
# subrequest refreshes it (UPDATING), it survives refresh failures, a
# changed collateral at the origin replaces it, and a zone too small for
# everything evicts instead of failing clients.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';

my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '1s',
                               http => 'thim_cache_valid 2s;');

# evaluation 18 as first issued; reissued later (same number, new dates)
$o->serve($QE, file => 'intel/pcs/eval-series/qe_identity_eval18_2025-06-06.json');

my $r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'MISS', 'first fetch');
my $old = $r->{content};
is($t->get($QE)->{headers}{'x-cache-status'}, 'HIT', 'fresh for two seconds');

# expired, origin failing: the stale copy is served, now and again
sleep 2.2;
$o->fault($QE, status => 500);
$t->mark_log;
$r = $t->get($QE);
is($r->{status}, 200, 'expired + origin 500: still 200');
is($r->{headers}{'x-cache-status'}, 'UPDATING',
   'stale copy answered at once while the refresh runs');
ok($r->{content} eq $old, 'the stale copy is the cached bytes');
is($r->{headers}{'cache-control'}, 'max-age=60', 'short max-age when stale');
ok($t->wait_for(sub { $t->log_since_mark =~ /origin answered 500/ }),
   'the failed background refresh is logged');

$r = $t->get($QE, http2 => 1);
is($r->{status}, 200, 'HTTP/2: stale copy still served');
ok($r->{content} eq $old, 'HTTP/2: same bytes');

# a slow origin does not hold the client either
$o->fault($QE, latency => 3000);
$r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'UPDATING',
   'slow origin: stale answered without waiting for it');

# the origin recovers with changed collateral: it replaces the stale copy
$o->clear_faults;
$o->serve($QE, file => 'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json');
my $new = ThimSetup::fixture('intel/pcs/sgx/qe_identity_eval18_2026-01-07.json');
ok($old ne $new, 'the origin now has other collateral');

my $got = $t->wait_for(sub {
    my $x = $t->get($QE);
    return $x->{status} == 200 && $x->{content} eq $new ? $x : undef;
}, timeout => 8);
ok($got, 'the refreshed collateral is served');
is($got && $got->{headers}{'x-cache-status'}, 'HIT', '... fresh from the zone');
is($got && $got->{headers}{'sgx-enclave-identity-issuer-chain'},
   ThimSetup::intel_pct_encode(ThimSetup::fixture(
       'intel/pcs/sgx/qe_identity_eval18_2026-01-07.issuer_chain.pem')),
   '... with its own issuer chain');

done_testing();
