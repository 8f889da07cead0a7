#!/usr/bin/perl
# Cold keys are refreshed ahead of expiry with nobody asking (issue 6): an
# elected worker sweeps the zone for entries past their refresh time and
# asks itself for each over loopback (thim_refresh, refresh= of the zone),
# which refreshes them in the background as a client's request would.
# Keys nobody asks for then never expire while the origin is up; with the
# origin down, the attempts are logged below [alert] and the copy stays.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TCB = '/sgx/certification/v4/tcb?fmspc=00906ed50000';

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_cache_valid 8s;',
    zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh refresh_interval=1s',
    server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }');

# evaluation 18 as first issued; reissued later (same number, new dates)
$o->serve($QE, file => 'intel/pcs/eval-series/qe_identity_eval18_2025-06-06.json');

my $r = $t->get($QE);
is($r->{status}, 200, 'QE identity fetched');
my $old = $r->{content};
is($t->get($TCB)->{status}, 200, 'tcb fetched');

my $newer = 'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json';
$o->serve($QE, file => $newer);
$o->reset;
my $want = ThimSetup::fixture($newer);
ok($want ne $old, 'the origin has a newer QE identity now');

# refresh time is 6 s after the fetch (8 s, minus a quarter); nobody asks
$t->mark_log;
ok($t->wait_for(sub { $o->count($QE) >= 1 && $o->count('/sgx/certification/v4/tcb') >= 1 },
                timeout => 12),
   'both keys are fetched again before they expire, with no client asking');
like($t->log_since_mark, qr/refreshing \d+ entries ahead of expiry/,
     'the sweep says so');

# the sweep's refresh runs detached: the origin has been asked, and its
# answer lands a moment later
ok($t->wait_for(sub { $t->get($QE)->{content} eq $want }, timeout => 15),
   'the refreshed collateral is served');
$r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'HIT', 'the next client gets a hit');
ok($r->{content} eq $want, '... with the refreshed collateral');

# the loopback location takes only keys, canonical ones
$r = $t->get('/_thim/refresh?key=intel%3A%2Fsgx%2Fcertification%2Fv4%2Fqe%2Fidentity%3Fupdate%3Dstandard',
             port => 'refresh', plain => 1);
is($r->{status}, 200, 'thim_refresh serves a key');
$r = $t->get('/_thim/refresh?key=intel%3A%2Fsgx%2Fcertification%2Fv4%2Fqe%2Fidentity',
             port => 'refresh', plain => 1);
is($r->{status}, 400, 'a key that is not canonical is refused');
$r = $t->get('/_thim/refresh?key=nothing', port => 'refresh', plain => 1);
is($r->{status}, 400, 'a key of no family is refused');

# origin down: the sweep's attempts fail calmly, the copies stay
$o->fault('/', drop => 1);
$t->mark_log;
ok($t->wait_for(sub { $t->log_since_mark =~ /refreshing \d+ entries ahead/ },
                timeout => 12), 'the sweep runs with the origin down');
sleep 1;
$r = $t->get($QE);
is($r->{status}, 200, 'the cached copy is still served');
ok($r->{content} eq $want, '... unchanged');

# the outage outlasts the copies' life (8 s): they are served stale
ok($t->wait_for(sub { ($t->get($QE)->{headers}{'x-cache-status'} // '')
                      =~ /^(STALE|UPDATING)$/ }, timeout => 20),
   'the outage outlasts the copy: it is served past its expiry');

# the origin back: the sweep brings expired copies back too, with nobody
# asking (before, it swept only copies not yet expired, and these stayed
# expired until a client asked)
$o->reset;
$o->clear_faults;
ok($t->wait_for(sub { $o->count($QE) >= 1
                      && $o->count('/sgx/certification/v4/tcb') >= 1 },
                timeout => 20),
   'the origin back, the sweep fetches both expired copies again');
ok($t->wait_for(sub { ($t->get($TCB)->{headers}{'x-cache-status'} // '')
                      eq 'HIT' }, timeout => 15),
   '... and they are fresh again');

# a worker that stops while its loopback request waits on a slow origin
# leaves no socket behind (the final check fails on "open socket left")
$o->fault('/', latency => 4000);
$t->mark_log;
ok($t->wait_for(sub { $t->log_since_mark =~ /refreshing \d+ entries ahead/ },
                timeout => 40), 'a sweep waits on a slow origin');
$t->stop;
unlike($t->log_since_mark, qr/open socket/, 'stopping then leaves no socket open');

done_testing();
