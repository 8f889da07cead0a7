#!/usr/bin/perl
# C unit tests for src/ngx_thim_budget.c: the compiled binary emits TAP.
use strict;
use warnings;
use FindBin;

my $bin = "$FindBin::Bin/../../build/unit/test_budget";
unless (-x $bin) {
    print "1..1\nnot ok 1 - $bin not built: run make all\n";
    exit 1;
}
exec $bin or die "exec $bin: $!";
