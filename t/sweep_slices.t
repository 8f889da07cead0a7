#!/usr/bin/perl
# The refresh sweep walks the zone in slices of its hash table, one lock
# each, a millisecond apart (issue 14: at 100,000 entries a walk under
# one lock stopped every hit for milliseconds at each sweep).  A zone of
# 64 MB has 65,536 buckets, 8,192 per slice: every sweep takes 8 slices
# (the worker's debug lines), and the keys due are found wherever their
# buckets are: a fresh one and, with the origin gone for longer than its
# life, an expired one, each fetched again with nobody asking.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TCB = '/sgx/certification/v4/tcb';
my $FMSPC = '00906ed50000';

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_cache_valid 6s;',
    zone => '64m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh refresh_interval=1s',
    server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }');

is($t->get($QE)->{status}, 200, 'QE identity fetched');
is($t->get("$TCB?fmspc=$FMSPC")->{status}, 200, 'TCB info fetched');
$o->reset;

# slices per sweep, from the debug lines: each sweep's slices numbered
# from 1, so a sweep ends where the next begins at 1
sub sweeps {
    my @slices = $t->log_since_mark =~ /thim sweep of zone "thim": slice (\d+),/g;
    my @sweeps;
    for (@slices) {
        push @sweeps, 0 if $_ == 1 || !@sweeps;
        $sweeps[-1] = $_;
    }
    pop @sweeps;                        # the last may still be walking
    return @sweeps;
}

$t->mark_log;
ok($t->wait_for(sub { sweeps() >= 2 }, timeout => 15), 'the sweep runs');
my @n = sweeps();
is_deeply([ grep { $_ != 8 } @n ], [], "each sweep walks 8 slices (@n)");
my @ranges = $t->log_since_mark
    =~ /thim sweep of zone "thim": slice \d+, buckets (\d+-\d+),/g;
is_deeply([ @ranges[0 .. 7] ],
          [ map { ($_ * 8192) . '-' . ($_ * 8192 + 8191) } 0 .. 7 ],
          '... of 8,192 buckets each, the table in order');

# refresh time is 4.5 s after the fetch; nobody asks
ok($t->wait_for(sub { $o->count($QE) >= 1 && $o->count($TCB) >= 1 },
                timeout => 15),
   'both keys due are found in their slices and fetched again');

# the origin gone for longer than the life: both expire, then come back
$o->fault('/', drop => 1);
ok($t->wait_for(sub { ($t->get($QE)->{headers}{'x-cache-status'} // '')
                      =~ /^(STALE|UPDATING)$/ }, timeout => 20),
   'the origin gone: the copy expires and is served stale');
$o->reset;
$o->clear_faults;
$t->mark_log;
ok($t->wait_for(sub { $o->count($QE) >= 1 && $o->count($TCB) >= 1 },
                timeout => 20),
   'the origin back, the sweep finds the expired keys too');
ok($t->wait_for(sub { ($t->get("$TCB?fmspc=$FMSPC")->{headers}{'x-cache-status'}
                       // '') eq 'HIT' }, timeout => 15),
   '... and they are fresh again');

# a worker stopping between two slices leaves nothing behind
$t->stop;
$t->check_alerts;
done_testing();
