#!/usr/bin/perl
# thim_refresh reads, fetches and checks a key with the configuration the
# zone registered for its origin (issue 12, item 6): a refresh location
# with no trust anchor of its own (here the Intel root CA is configured
# only in the thim_intel locations) still refreshes, where it used to
# refuse every answer for want of a root.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $KEY = 'intel%3A%2Fsgx%2Fcertification%2Fv4%2Fqe%2Fidentity%3Fupdate%3Dstandard';

my ($t, $o) = ThimSetup::start(workers => 2, root_in_locations => 1,
    http => 'thim_cache_valid 2s;',
    zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh refresh_interval=1h',
    server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }');

$o->serve($QE, file => 'intel/pcs/eval-series/qe_identity_eval18_2025-06-06.json');
my $r = $t->get($QE);
is($r->{status}, 200, 'QE identity fetched by a client');

my $newer = 'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json';
$o->serve($QE, file => $newer);
my $want = ThimSetup::fixture($newer);
ok($want ne $r->{content}, 'the origin has a newer QE identity now');

sleep 2.2;     # past its refresh time and its expiry
$t->mark_log;
my $n = $o->count($QE);
$r = $t->get("/_thim/refresh?key=$KEY", port => 'refresh', plain => 1);
is($r->{status}, 200, 'thim_refresh serves the key');

ok($t->wait_for(sub { $o->count($QE) > $n }, timeout => 10),
   'the refresh asked the origin');
# the answer is checked and stored as it arrives (under ASan on a busy
# machine that took more than the second this once waited)
ok($t->wait_for(sub {
        $r = $t->get($QE);
        ($r->{headers}{'x-cache-status'} // '') eq 'HIT' }, timeout => 15),
   'the next client gets a hit: the refresh stored the answer');
is($o->count($QE), $n + 1, '... the refresh\'s own fetch, no client\'s');
ok($r->{content} eq $want, '... the refreshed collateral, checked with '
   . 'the zone\'s trust anchor, not the refresh location\'s (none)');
unlike($t->log_since_mark, qr/refused origin answer/,
       'the refresh\'s answer was not refused');

done_testing();
