#!/usr/bin/perl
# bench/snapshot.pl [N]: how long a snapshot of N entries (default 10000)
# takes to write (copy under the zone lock, crcs, write, fsync, rename) and
# to load at start (every record re-checked: signature, chain to the pinned
# root, the key's FMSPC; then stored).
#
# The entries are real Intel collateral under synthetic keys: half the
# 10 KB tcbInfo of FMSPC 00906ED50000, half the 1.4 KB QE identity, each
# under its own tcbEvaluationDataNumber (the checks do not compare that
# number with the body, so every copy passes them as an origin answer
# would).  Both records come from a snapshot nginx wrote itself, so the
# blobs are byte for byte what the module stores.  Prints the figures of
# three loads and three writes (from nginx's own log lines).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Time::HiRes qw(time sleep);
use ThimSetup;
use ThimSnapshot;

my $n = shift // 10000;
my $SGX4 = '/sgx/certification/v4';

$ThimSetup::ROOT = "$FindBin::Bin/..";
$ThimSetup::DATA = "$ThimSetup::ROOT/t/data";
$ThimSetup::MODULE = $ENV{TEST_THIM_MODULE}
    || "$ThimSetup::ROOT/build/objs/ngx_http_thim_module.so";

my $zone = '512m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=3600s';
my ($t, $o) = ThimSetup::start(workers => 1, zone => $zone);

for my $p ("$SGX4/tcb?fmspc=00906ed50000", "$SGX4/qe/identity") {
    $t->get($p)->{status} == 200 or die "cannot fetch $p\n";
}
$t->stop;                   # the exiting worker writes the snapshot

my $s = ThimSnapshot::read_file($t->dir . '/thim.snap');
my %tpl = map { ($_->{key} =~ /tcb\?/ ? 'tcb' : 'qe') => $_ } @{ $s->{records} };
die "no template records\n" unless $tpl{tcb} && $tpl{qe};

my @records;
for my $i (1 .. $n) {
    my $kind = $i % 2 ? 'tcb' : 'qe';
    my %r = %{ $tpl{$kind} };
    $r{key} = $kind eq 'tcb'
        ? "intel:$SGX4/tcb?fmspc=00906ed50000&tcbEvaluationDataNumber=$i"
        : "intel:$SGX4/qe/identity?tcbEvaluationDataNumber=$i";
    push @records, \%r;
}
$s->{records} = \@records;
ThimSnapshot::write_file($t->dir . '/thim.snap', $s);
my $size = -s $t->dir . '/thim.snap';
printf "snapshot: %d entries, %.1f MB\n", $n, $size / 1e6;

$o->fault('/', drop => 1);

for my $round (1 .. 3) {
    $t->mark_log;
    my $t0 = time;
    $t->run;
    my $up = time - $t0;
    my ($loaded, $ms) = $t->log_since_mark
        =~ /(\d+) records loaded from snapshot "[^"]*" in (\d+) ms/;
    die "not loaded\n" . $t->log_since_mark unless defined $loaded;
    printf "load %d: %d records in %d ms (nginx -t and start together: %.1f s)\n",
           $round, $loaded, $ms, $up;

    # a write happens at exit (the zone differs from the file's inode)
    unlink $t->dir . '/thim.snap.tmp';
    $t->mark_log;
    $t->stop;
    my ($recs, $bytes, $wms, $lms) = $t->log_since_mark
        =~ /snapshot of (\d+) records \((\d+) bytes\) written to "[^"]*" in (\d+) ms \(zone locked (\d+) ms\)/;
    if (defined $recs) {
        printf "write %d: %d records, %.1f MB in %d ms (zone locked %d ms)\n",
               $round, $recs, $bytes / 1e6, $wms, $lms;
    } else {
        print "write $round: not written (unchanged)\n";
    }
}
