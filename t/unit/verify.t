#!/usr/bin/perl
# C unit tests for src/ngx_thim_verify.c: the compiled binary emits TAP.
# It is given the fixtures and a look-alike Intel PKI (t/lib/ThimIntelPKI.pm)
# for the signer roles that Intel's own certificates cannot show.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp qw(tempdir);
use ThimIntelPKI;

my $bin = "$FindBin::Bin/../../build/unit/test_verify";
unless (-x $bin) {
    print "1..1\nnot ok 1 - $bin not built: run make all\n";
    exit 1;
}

my $dir = tempdir(CLEANUP => 1);
my $pki = ThimIntelPKI::make($dir);
for my $role (qw(tcb tcb_deep tcb_ca tcb_revoked platform platform_leaf
                 processor)) {
    $pki->chain_file($role);
}
$pki->crl($_) for qw(platform platform_leaf processor);

system($bin, "$FindBin::Bin/../data", $dir);
exit($? >> 8);
