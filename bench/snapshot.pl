#!/usr/bin/perl
# bench/snapshot.pl [N] (part of make bench): how long a snapshot of N
# entries (default 10000) takes to load at start (every record re-checked:
# signature, chain to the pinned root, the key's FMSPC) and to write at
# stop, from nginx's own log lines, over three start-ups.
#
# The entries are N distinct SGX TCB infos signed by a look-alike Intel
# PKI, seeded once from a bundle, so that nginx writes the snapshot itself
# (bench/scale.pl, BENCH_PARTS=snapshot; make bench-scale measures the
# rest).  An earlier version stored one Intel document under N
# tcbEvaluationDataNumbers; since the key's evaluation number must match
# the document's, all but one of those copies are refused at load.

use strict;
use warnings;

use Cwd qw(abs_path);
use FindBin;

my $n = shift // 10000;

$ENV{BENCH_SIZES} = $n;
$ENV{BENCH_PARTS} = 'snapshot';
$ENV{BENCH_OUT} //= abs_path("$FindBin::Bin/..") . "/build/bench-snapshot";

exec $^X, "$FindBin::Bin/scale.pl";
die "bench/snapshot.pl: cannot run bench/scale.pl: $!\n";
