#!/usr/bin/perl
# Persistence at scale (issue 14, items 1 and 2): a snapshot of thousands
# of distinct, verifiable records (Intel TCB info of as many FMSPCs, signed
# by the look-alike PKI of t/lib/ThimIntelPKI.pm, t/lib/ThimScale.pm).
#
#   - nginx serves while the snapshot loads in the background: a loaded
#     key is answered from the zone, a key not loaded yet is fetched, and
#     the load completes after both (its own log line says when), the
#     fetched copy kept over the older one of the file;
#   - what changes is appended to the journal; a load does not make a
#     rewrite; a compaction runs in slices while hits are served (the
#     server's own msec timestamps);
#   - kill -9 of everything loses nothing journalled; a torn journal tail
#     loses only the torn record; an unreadable journal is kept aside at
#     [alert]; a graceful stop appends, never rewrites.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use ThimIntelPKI;
use ThimPages;
use ThimScale;
use ThimSetup;
use ThimSnapshot;

my $N = $ENV{TEST_THIM_SCALE_N} || 3000;
my $TCB = $ThimScale::TCB;

my $pki = ThimIntelPKI::make(tempdir(CLEANUP => 1));

my ($t, $o) = ThimSetup::start(workers => 1,
    zone => '256m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s',
    intel_root => $pki->{root}{cert},
    http => q{log_format ms '$msec $status $thim_cache_status $request_uri';},
    server => 'access_log %%TESTDIR%%/logs/ms.log ms;');
my $snap = $t->dir . '/thim.snap';

my $tpl = ThimScale::template($t, $o, $pki);
my @records = ThimScale::records($pki, $tpl, $N + 10, 1);
my %body = map {
    (($_->{key} =~ /fmspc=([0-9a-f]{12})/)[0]
     => ThimSnapshot::blob_read($_->{value})->{body})
} @records;
my @extra = sort keys %body;
my @file = splice(@extra, 0, $N);             # in the snapshot, in order
ThimScale::write_snapshot($snap, $tpl, [ @records[0 .. $N - 1] ]);
ok(-s $snap > $N * 5000, "a snapshot of $N records (" . (-s $snap) . ' bytes)');

sub xcs { $_[0]{headers}{'x-cache-status'} // '' }
sub url { "$TCB?fmspc=$_[0]" }

# the origin answers for this FMSPC only
sub serve {
    my ($fmspc) = @_;
    $o->serve($TCB, body => $body{$fmspc}, chain => $pki->chain_file('tcb'));
}

sub loaded { $t->log_since_mark =~ /background load done/ }

# ===========================================================================
# serving while the load goes on

$o->fault('/', drop => 1);
$t->mark_log;
$t->run;

my $hot = $t->wait_for(sub {
    my $r = $t->get(url($file[0]));
    return $r->{status} == 200 && xcs($r) eq 'HIT' ? $r : undef;
}, timeout => 30);
my $early = !loaded();
ok($hot && $hot->{content} eq $body{$file[0]},
   'a key loaded first is answered from the zone');
ok($early, '... before the load finished (no "background load done" yet)');

$o->clear_faults;
$o->reset;
serve($file[-1]);
my $r = $t->get(url($file[-1]));
my $early2 = !loaded();
is($r->{status} . ' ' . xcs($r), '200 MISS',
   'a key the load has not reached is fetched from the origin');
ok($early2, '... before the load finished');
is($o->total, 1, '... once');

ok(ThimSnapshot::wait_loaded($t, 120), 'the load completes in the background');
my ($loaded, $ms, $skipped) = $t->log_since_mark
    =~ /(\d+) records loaded from snapshot .* in (\d+) ms \(0 damaged, 0 refused, (\d+) skipped/;
is($loaded, $N - 1, "every record re-checked and loaded ($ms ms on this machine)");
is($skipped, 1, 'the older copy of the fetched key is skipped: the fetch wins');
$r = $t->get(url($file[-1]));
is(xcs($r), 'HIT', 'and is served');

# the zone advised for huge pages (ngx_thim_cache.c): where the kernel's
# policy lets shared memory have them, the loaded records sit in them
SKIP: {
    skip 'the kernel\'s shmem_enabled is "' . ThimPages::shmem_policy()
         . '": shared memory gets no huge pages', 1
        unless ThimPages::shmem_huge();
    my ($worker) = $t->worker_pids;
    my $m = ThimPages::zone_mapping($worker, 256 * 1024);
    cmp_ok($m ? ThimPages::huge_kb($m) : -1, '>=', 16 * 1024,
           'the worker maps the loaded zone with huge pages');
}
unlike($t->log_since_mark, qr/compaction into/,
       'loading a snapshot does not make the writer rewrite it');

# ===========================================================================
# the journal: what changed, appended; nothing else

$t->mark_log;
my @new = @extra[0 .. 2];
for my $f (@new) {
    serve($f);
    is($t->get(url($f))->{status}, 200, "a new key fetched ($f)");
}
ok($t->wait_for(sub {
    my $sum = 0;
    $sum += $_ for $t->log_since_mark =~ /journal: (\d+) changed records/g;
    return $sum >= 3;
}, timeout => 15), 'the changed records are appended to the journal');
unlike($t->log_since_mark, qr/snapshot of \d+ records/, '... and only they');

# hits change nothing
$t->mark_log;
$t->get(url($_)) for @file[100 .. 199];
sleep 2.5;
unlike($t->log_since_mark, qr/(?:journal:|snapshot of) \d+/,
       'hits on 100 keys write nothing');

# ===========================================================================
# kill -9 of the master and its worker: nothing journalled is lost

$t->kill_all(9);
$o->reset;
$o->fault('/', drop => 1);
$t->mark_log;
$t->run;
ok(ThimSnapshot::wait_loaded($t, 120), 'after kill -9: loaded');
like($t->log_since_mark, qr/records loaded from snapshot "[^"]*" and its journal/,
     '... the base and its journal');
for my $f (@new, $file[-1], $file[0]) {
    $r = $t->get(url($f));
    ok($r->{status} == 200 && xcs($r) eq 'HIT' && $r->{content} eq $body{$f},
       "after kill -9: $f from the zone");
}
is($o->total, 0, 'the origin was not asked');

# ===========================================================================
# a compaction: written in slices, one record per lock, hits served meanwhile

$o->clear_faults;
my $stop = $t->dir . '/hits.stop';
my $hits_before = () = $t->read_file('logs/ms.log') =~ / HIT /g;
my $kid = fork // die;
if (!$kid) {
    until (-e $stop) {
        $t->get(url($file[int rand 200]));
    }
    POSIX::_exit(0);
}
# the client is answering before the compaction is asked for: a slow
# start (fork, TLS, a busy machine) must not leave the window unwatched
ok($t->wait_for(sub {
    my $n = () = $t->read_file('logs/ms.log') =~ / HIT /g;
    return $n >= $hits_before + 5;
}, timeout => 30), 'the hitting client runs');
unlink $snap;                           # the base is gone: written anew
$t->mark_log;
ok($t->wait_for(sub { $t->log_since_mark =~ /snapshot of \d+ records/ },
                timeout => 60), 'a compaction writes the zone anew');
open my $sf, '>', $stop;
close $sf;
waitpid($kid, 0);
my ($from) = $t->log_since_mark =~ /compaction into "[^"]*" started at (\d+) ms/;
my ($recs, $took) = $t->log_since_mark
    =~ /snapshot of (\d+) records \(\d+ bytes\) written to "[^"]*" in (\d+) ms/;
cmp_ok($recs, '>=', $N + 3, "the compaction holds every record ($recs)");
my (@during, @all);
for my $line (split /\n/, $t->read_file('logs/ms.log')) {
    my ($at, $status, $cache) = split ' ', $line;
    next unless $cache eq 'HIT';
    push @all, $at * 1000;
    push @during, $at if $at * 1000 >= $from && $at * 1000 <= $from + $took;
}
# the client's own pace (on a busy machine, under ASan, tens of ms per
# request): a compaction shorter than a few of its gaps may fall between
# two requests; one write of the whole zone would stop it for all of it
@all = grep { $_ >= $from - 5000 } @all;  # this client's, near the window
my @gap = sort { $a <=> $b } map { $all[$_] - $all[$_ - 1] } 1 .. $#all;
my $pace = @gap ? $gap[int(@gap / 2)] : 0;
note("compaction from $from ms: $took ms; hits answered by the writing "
     . 'worker meanwhile: ' . scalar(@during) . "; the client's median gap "
     . "$pace ms");
ok(@during >= 1 || $took < 30 + 4 * $pace,
   'the only worker answered hits while it compacted (slices, not one write)');
ok(-s $snap > $N * 5000, 'the new base holds the zone');

# ===========================================================================
# graceful stop: what changed is appended, nothing rewritten

$t->mark_log;
serve($extra[3]);
is($t->get(url($extra[3]))->{status}, 200, 'one more key fetched');
my $t0 = time;
$t->stop;
my $stop_s = time - $t0;
like($t->log_since_mark, qr/journal: 1 changed records/,
     'the exiting worker appends the one changed record');
unlike($t->log_since_mark, qr/snapshot of \d+ records|compaction into/,
       "... and does not rewrite the $N records (stopped in "
       . sprintf('%.1f', $stop_s) . ' s)');

# ===========================================================================
# a journal torn mid-append loses the torn record only

my $j = ThimSnapshot::read_file("$snap.journal");
my $jbytes = ThimSnapshot::bytes($j);
my $last = $j->{records}[-1];
my $torn = ThimSnapshot::record_bytes({ %$last, key => ThimScale::key($extra[4]) });
ThimSnapshot::write_file("$snap.journal", undef,
                         $jbytes . substr($torn, 0, length($torn) / 2));
$o->fault('/', drop => 1);
$t->mark_log;
$t->run;
ok(ThimSnapshot::wait_loaded($t, 120), 'a torn journal: loaded');
like($t->log_since_mark, qr/\[warn\].*damaged or truncated record at offset \d+ skipped/,
     '... the torn record is skipped, at warn');
like($t->log_since_mark, qr/records loaded from snapshot .* \(1 damaged, 0 refused/,
     '... it alone');
$r = $t->get(url($extra[3]));
ok($r->{status} == 200 && xcs($r) eq 'HIT',
   'the record appended before the torn one is served');
$t->stop;

# ===========================================================================
# a journal that cannot be read is kept aside, at [alert]; the base loads

push @{ $t->{ignore_alerts} },
    qr/\[alert\].*thim\.snap\.journal" cannot be read \(bad magic\), kept as ".*\.unreadable-\d+"/;
my $jb = $t->read_file('thim.snap.journal');
substr($jb, 0, 8) = 'GARBAGE!';
ThimSnapshot::write_file("$snap.journal", undef, $jb);
$t->mark_log;
$t->run;
ok(ThimSnapshot::wait_loaded($t, 120), 'an unreadable journal: the base loads');
like($t->log_since_mark, qr/\[alert\].*journal" cannot be read \(bad magic\), kept as/,
     '... the journal is logged at alert');
my @aside = glob("$snap.journal.unreadable-*");
is(scalar @aside, 1, '... and kept aside');
ok(@aside && $t->read_file('thim.snap.journal.unreadable-'
                           . ($aside[0] =~ /(\d+)$/)[0]) eq $jb,
   '... byte for byte');
$r = $t->get(url($file[5]));
is(xcs($r), 'HIT', 'the base is served');
$t->stop;
ok(-e $aside[0], 'nothing was written over the kept journal');

done_testing();
