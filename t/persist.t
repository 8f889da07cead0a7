#!/usr/bin/perl
# Persistence (issue 6): the zone is written to a snapshot by one elected
# worker and loaded, re-checked, when nginx starts again.  SIGKILL of
# master and workers, a graceful restart, a reload under load and a
# binary upgrade (USR2) lose nothing that had been written; the restarted
# server answers from the snapshot with the origin down, byte for byte,
# over HTTP/1.1 and HTTP/2.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use File::Spec;
use JSON::PP ();
use POSIX ();
use ThimSetup;

my $SGX4 = '/sgx/certification/v4';
my $MILAN_HWID = '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d';

my @PATHS = (
    "$SGX4/qe/identity",
    "$SGX4/tcb?fmspc=00906ed50000",
    "$SGX4/tcb?fmspc=00606a000000&tcbEvaluationDataNumber=18",
    "$SGX4/pckcrl?ca=platform&encoding=der",
    "$SGX4/rootcacrl",
    "$SGX4/tcbevaluationdatanumbers",
    '/tdx/certification/v4/tcb?fmspc=00a06d080000',
    '/sgx/certification/v3/tcb?fmspc=00906ea10000',
    "/vcek/v1/Milan/$MILAN_HWID?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
    '/vcek/v1/Milan/cert_chain',
    '/vcek/v1/Milan/crl',
    '/vcek/v1/Genoa/cert_chain',
    '/vcek/v1/Turin/1e550a8ee5cf9f4d?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9&fmcSPL=0',
);

sub xcs { $_[0]{headers}{'x-cache-status'} // '' }

# what a client sees of a response, for comparisons
sub seen {
    my ($r) = @_;
    my $h = $r->{headers};
    return join("\n", $r->{status}, $h->{'content-type'} // '',
                map({ "$_: " . ($h->{$_} // '') } sort grep { /issuer-chain/ } keys %$h),
                $r->{content});
}

sub fill {
    my ($t) = @_;
    my %seen;
    for my $p (@PATHS) {
        my $r = $t->get($p);
        is($r->{status}, 200, "fetched $p") or diag($r->{content});
        $seen{$p} = seen($r);
    }
    return \%seen;
}

# at least $n records written since the mark: a compaction's, then the
# changed records appended to the journal
sub wait_snapshot {
    my ($t, $n) = @_;
    return $t->wait_for(sub {
        my $sum = 0;
        $sum += $_ for $t->log_since_mark
            =~ /(?:snapshot of|journal:) (\d+) (?:changed )?records/g;
        return $sum >= $n;
    }, timeout => 10);
}

# the background load of the snapshot ended
sub wait_loaded {
    my ($t) = @_;
    return $t->wait_for(sub {
        $t->log_since_mark =~ /records loaded from snapshot/;
    }, timeout => 30);
}

sub same_answers {
    my ($t, $seen, $what, %opt) = @_;
    my $ok = 1;
    for my $p (@PATHS) {
        my $r = $t->get($p, %opt);
        unless ($r->{status} == 200 && seen($r) eq $seen->{$p}
                && xcs($r) eq 'HIT')
        {
            $ok = 0;
            diag("$what: $p: $r->{status} " . xcs($r));
        }
    }
    ok($ok, "$what: every entry back, byte-identical, from the zone"
            . ($opt{http2} ? ' (HTTP/2)' : ''));
}

my $zone = '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s';

# ===========================================================================
# kill -9 of master and workers, then a restart with the origin unreachable

my ($t, $o) = ThimSetup::start(workers => 2, zone => $zone,
    server => 'location = /thim/status { thim_status; }');

my $st = JSON::PP::decode_json($t->get('/thim/status')->{content});
is($st->{zones}{thim}{snapshot}, 0, 'status: no snapshot written yet');
$t->mark_log;
my $seen = fill($t);
ok(wait_snapshot($t, scalar @PATHS), 'a snapshot with every entry is written');
$st = JSON::PP::decode_json($t->get('/thim/status')->{content});
ok(abs($st->{zones}{thim}{snapshot} - time) < 10,
   'status: the time of the last snapshot');
ok(-s $t->dir . '/thim.snap', 'the snapshot file exists');

$t->kill_all(9);
$o->reset;
$o->fault('/', drop => 1);

$t->mark_log;
$t->run;
ok(wait_loaded($t), 'the snapshot is loaded in the background');
like($t->log_since_mark,
     qr/(\d+) records loaded from snapshot .* \(0 damaged, 0 refused/,
     'the snapshot is loaded at start, nothing damaged or refused');
my ($loaded) = $t->log_since_mark =~ /(\d+) records loaded from snapshot/;
is($loaded, scalar @PATHS, 'every record loaded');

same_answers($t, $seen, 'after kill -9, origin down');
same_answers($t, $seen, 'after kill -9, origin down', http2 => 1);
is($o->total, 0, 'the origin was not asked for anything');

# ===========================================================================
# graceful restart: the exiting writer leaves a complete snapshot

$o->clear_faults;
$t->mark_log;
my $extra = "$SGX4/tcb?fmspc=90806f000000";
my $r = $t->get($extra);
is($r->{status}, 200, 'one more entry, fetched');
$seen->{$extra} = seen($r);
push @PATHS, $extra;
$t->stop;
like($t->log_since_mark, qr/journal: 1 changed records/,
     'what changed is appended to the journal (by the exiting worker at the latest)');
unlike($t->log_since_mark, qr/snapshot of \d+ records/,
       'and does not rewrite the snapshot');

$o->fault('/', drop => 1);
$t->mark_log;
$t->run;
ok(wait_loaded($t), 'loaded after a graceful restart');
same_answers($t, $seen, 'after a graceful restart');

# ===========================================================================
# the writer is killed: another worker takes the lease over once it ran out

$o->clear_faults;
my $WRITE = qr/(?:snapshot of|journal:) \d+ (?:changed )?records/;
my ($writer) = $t->log_since_mark =~ /.*\[info\] (\d+)#\d+: .*$WRITE/s;
($writer) = $t->error_log =~ /.*\[info\] (\d+)#\d+: .*$WRITE/s
    unless $writer;
ok($writer, "the writer's pid is known");
$t->kill_worker($writer);
$t->mark_log;
$extra = '/vcek/v1/Genoa/crl';
$r = $t->get($extra);
is($r->{status}, 200, 'one more entry, fetched');
$seen->{$extra} = seen($r);
push @PATHS, $extra;
my $taken = $t->wait_for(sub {
    $t->log_since_mark =~ /\[info\] (\d+)#\d+: .*journal: 1 changed records/
        && $1 != $writer ? $1 : 0;
}, timeout => 10);
ok($taken, "another worker ($taken) writes once the dead writer's lease ran out");

# ===========================================================================
# reload under load: no request dropped, nothing lost, writing goes on

my $stop = $t->dir . '/load.stop';
my @kids;
for my $k (1 .. 2) {
    my $pid = fork // die;
    if (!$pid) {
        my ($n, $bad) = (0, 0);
        until (-e $stop) {
            for my $p (@PATHS[0 .. 3]) {
                my $x = $t->get($p);
                $n++;
                $bad++ unless $x->{status} == 200 && seen($x) eq $seen->{$p};
            }
        }
        open my $fh, '>', $t->dir . "/load.$k";
        print $fh "$n $bad\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
sleep 0.5;
$t->reload;
sleep 0.5;
$t->reload(wait_old => 1);
sleep 0.5;
open my $sf, '>', $stop;
close $sf;
waitpid($_, 0) for @kids;
my ($n, $bad) = (0, 0);
for my $k (1 .. 2) {
    my ($a, $b) = split ' ', $t->read_file("load.$k") // '0 1';
    $n += $a;
    $bad += $b;
}
ok($n > 20, "clients kept asking through two reloads ($n requests)");
is($bad, 0, 'no request failed or got other bytes during the reloads');
same_answers($t, $seen, 'after two reloads');

$t->mark_log;
$extra = "$SGX4/tcb?fmspc=00a06d080000";
$r = $t->get($extra);
is($r->{status}, 200, 'one more entry after the reloads');
$seen->{$extra} = seen($r);
push @PATHS, $extra;
ok(wait_snapshot($t, 1), "the new workers write what changed");

# ===========================================================================
# binary upgrade: USR2 starts a new master, which loads the snapshot

# nginx ignores USR2 while its parent is the one that started it (as
# with "daemon off"): this part runs it daemonized, started by a shell
$t->stop;
# the new binary gets only the environment "env" names (sanitizer runs
# need their options there too)
$t->write_file('nginx.conf', "env ASAN_OPTIONS;\nenv UBSAN_OPTIONS;\n"
                             . $t->read_file('nginx.conf'));
my @args = grep { $_ ne '-g' && $_ ne 'daemon off;' } $t->_nginx_args;
system('sh', '-c', join(' ', map { quotemeta }
                         File::Spec->rel2abs($ThimTest::NGINX), @args)
                   . '; true');
my $old = $t->wait_for(sub {
    (($t->read_file('logs/nginx.pid') // '') =~ /(\d+)/)[0];
}, timeout => 10);
ok($old, "nginx runs as a daemon ($old)");
$t->{pid} = $t->{pgid} = $old;
ok($t->wait_for(sub { scalar($t->worker_pids) == 2 }, timeout => 10),
   'with its workers');
ok(wait_loaded($t), 'loaded, daemonized');
same_answers($t, $seen, 'daemonized, after a restart');

$o->fault('/', drop => 1);
$o->reset;
$t->mark_log;
kill 'USR2', $old;
my $new = $t->wait_for(sub {
    my ($p) = ($t->read_file('logs/nginx.pid') // '') =~ /(\d+)/;
    return $p && $p != $old && -e $t->dir . '/logs/nginx.pid.oldbin' ? $p : 0;
}, timeout => 10);
ok($new, "USR2: a new master ($new) runs beside the old one")
    or diag(ThimTest::_tail($t->error_log));
ok($t->wait_for(sub { $t->log_since_mark =~ /records loaded from snapshot/ },
                timeout => 10), 'the new master loads the snapshot');
kill 'QUIT', $old;
ok(ThimTest::_reap($old, 15), 'the old master quits');
$t->{pid} = $new;
$t->{pgid} = $old;
ok($t->wait_for(sub { scalar($t->worker_pids) == 2 }, timeout => 10),
   'the new master has its workers');
same_answers($t, $seen, 'after a binary upgrade, origin down');
is($o->total, 0, 'the origin was not asked for anything');

$t->stop;
done_testing();
