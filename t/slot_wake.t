#!/usr/bin/perl
# Requests waiting for a fetch slot of a bounded origin
# (thim_intel_max_fetches) are woken when a slot frees, as requests that
# wait on a key's fetch are woken when it lands (issue 14, 3), not found
# by a poll every 20 ms.  With one slot and a slow origin, distinct cold
# keys asked at once are fetched one after another; each waiter's wait
# event says in the debug log whether it was woken or its timer ran out.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Time::HiRes qw(time);
use Test::More;
use ThimSetup;

my $TCB = '/sgx/certification/v4/tcb';
my $N = 4;

my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '20s',
    http => 'thim_intel_max_fetches 1; thim_fetch_timeout 60s;');

# unknown FMSPCs, each answered 404 after 600 ms
$o->fault($TCB, latency => 600);
my @cold = map { sprintf("$TCB?fmspc=ee00000001%02x", $_) } 1 .. $N;

# one client process each, all at once; HTTP/2 for every other one
my $t0 = time;
my @kids;
for my $i (0 .. $#cold) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $r = eval { $t->get($cold[$i], timeout => 60, http2 => $i % 2) };
        $t->write_file("client.$i", $r ? $r->{status} : 'none');
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;
my $took = time - $t0;

is(join(' ', map { $t->read_file("client.$_") } 0 .. $#cold),
   join(' ', (404) x $N), 'every key answered (404, as the origin said)');
is($o->total, $N, 'one origin request per key');

my $log = $t->error_log;
my (%woken, %polls);
while ($log =~ /thim waiter of "([^"]+)" (woken|polls)/g) {
    ($2 eq 'woken' ? \%woken : \%polls)->{$1}++;
}
my $waited = scalar keys %{{ %woken, %polls }};

# with one slot, all but the first wait for it (on a machine busy enough
# that a client arrives after a slot freed, fewer)
cmp_ok($waited, '>=', 1, "requests waited for the slot ($waited keys)");
# on a busy machine a fetch can outlast the 1 s fallback, and a waiter
# whose fallback look finds the slot free takes it without being woken
cmp_ok(scalar keys %woken, '>=', 1, sprintf('... and were woken when a slot '
       . 'freed (%d of %d keys)', scalar keys %woken, $waited));
my $polls = 0;
$polls += $_ for values %polls;
# The fallback looks once a second while a waiter waits: at most one per
# waiter per second of the run, and one more each.  Polling every 20 ms
# gives some 30 per 600 ms fetch waited on: about 185 here.
my $bound = ($N - 1) * (int($took) + 1);
cmp_ok($polls, '<=', $bound, sprintf('... not by polling (%d polls in '
       . '%.1f s; at most %d)', $polls, $took, $bound));

done_testing();
