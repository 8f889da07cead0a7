#!/usr/bin/perl
# bench/snapshot.pl [N]: persistence at N entries (default 10000).
#
# The entries are Intel TCB info of N distinct FMSPCs, each signed by the
# look-alike Intel PKI of t/lib/ThimIntelPKI.pm (t/lib/ThimScale.pm), so
# that every record passes the re-check a load does (signature, chain to
# the configured root, the key's FMSPC) as an origin answer would.  nginx
# runs with two workers.  Prints, from nginx's own log lines where there
# is one:
#
#   - time from start until nginx answers a request, and until a loaded
#     key is a HIT (the load goes on in the background);
#   - the background load's time;
#   - a compaction of the whole zone (the base removed), in slices;
#   - a graceful stop (appends what changed, never rewrites).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use ThimIntelPKI;
use ThimScale;
use ThimSetup;
use ThimSnapshot;

my $n = shift // 10000;

$ThimSetup::ROOT = "$FindBin::Bin/..";
$ThimSetup::DATA = "$ThimSetup::ROOT/t/data";
$ThimSetup::MODULE = $ENV{TEST_THIM_MODULE}
    || "$ThimSetup::ROOT/build/objs/ngx_http_thim_module.so";

my $pki = ThimIntelPKI::make(tempdir(CLEANUP => 1));
my $mb = int($n * 14000 * 1.3 / 1048576) + 16;
my $zone = "${mb}m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s";
my ($t, $o) = ThimSetup::start(workers => 2, zone => $zone,
                               intel_root => $pki->{root}{cert});
my $snap = $t->dir . '/thim.snap';

my $tpl = ThimScale::template($t, $o, $pki);
my $t0 = time;
my @records = ThimScale::records($pki, $tpl, $n, 1);
ThimScale::write_snapshot($snap, $tpl, \@records);
printf "snapshot: %d entries, %.1f MB (generated in %.1f s)\n",
       $n, (-s $snap) / 1e6, time - $t0;
my ($first) = $records[0]{key} =~ /fmspc=([0-9a-f]+)/;

$o->fault('/', drop => 1);
$t->mark_log;
$t0 = time;
$t->run;
my $up = time - $t0;
my $answered;
my $hit = $t->wait_for(sub {
    my $r = $t->get("$ThimScale::TCB?fmspc=$first");
    $answered //= time - $t0;
    return ($r->{headers}{'x-cache-status'} // '') eq 'HIT';
}, timeout => 60);
my $hit_s = time - $t0;
printf "start: nginx up (pid file) %.2f s, first answer %.2f s, "
       . "first HIT %.2f s%s\n", $up, $answered, $hit_s,
       $t->log_since_mark =~ /background load done/ ? ''
       : ' (load still under way)';

ThimSnapshot::wait_loaded($t, 3600) or die "not loaded\n";
my ($loaded, $ms) = $t->log_since_mark
    =~ /(\d+) records loaded from snapshot "[^"]*" in (\d+) ms/;
printf "load: %d records in %d ms (%.2f ms a record)\n",
       $loaded, $ms, $ms / ($loaded || 1);

$t->mark_log;
unlink $snap;
$t->wait_for(sub { $t->log_since_mark =~ /snapshot of \d+ records/ },
             timeout => 3600) or die "no compaction\n";
my ($recs, $bytes, $wms) = $t->log_since_mark
    =~ /snapshot of (\d+) records \((\d+) bytes\) written to "[^"]*" in (\d+) ms/;
printf "compaction: %d records, %.1f MB in %d ms (one record per zone "
       . "lock, slices of 10 ms)\n", $recs, $bytes / 1e6, $wms;

$t->mark_log;
$t0 = time;
$t->stop;
printf "graceful stop: %.2f s%s\n", time - $t0,
       $t->log_since_mark =~ /snapshot of/ ? ' (with a rewrite!)'
                                            : ' (no rewrite)';
