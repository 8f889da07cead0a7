#!/usr/bin/perl
# A zone too small for every key evicts least recently used entries: a
# full zone is never a client error.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my @paths = ("$QE", "$QE?update=early", "$QE?tcbEvaluationDataNumber=17",
             "$QE?tcbEvaluationDataNumber=18",
             "$QE?tcbEvaluationDataNumber=19",
             '/tdx/certification/v4/qe/identity',
             '/tdx/certification/v4/qe/identity?update=early');

# 8 pages: the smallest zone accepted; a record takes one or two pages
my ($t, $o) = ThimSetup::start(workers => 1, zone => '32k');

for my $round (1 .. 3) {
    for my $p (@paths) {
        my $r = $t->get($p);
        is($r->{status}, 200, "round $round: $p -> 200");
    }
}
ok($o->total > scalar(@paths), 'entries were evicted and fetched again');
unlike($t->error_log, qr/ngx_slab_alloc\(\) failed/,
       'no slab allocation failure logged');

done_testing();
