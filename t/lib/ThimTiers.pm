package ThimTiers;

# What t/tiers.t and bench/tiers.pl share: the 50 keys of the topology
# test (34 real collateral of every route family, unknown FMSPCs), and a
# stampede of clients released together.

use strict;
use warnings;

use POSIX ();

our $V4 = '/sgx/certification/v4';

# 34 real collateral: Intel SGX/TDX v3/v4, CRLs, AMD VCEKs, chains, CRLs

our @milan = qw(
    19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca
    c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e
    d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6
    b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a
);
our $milan2 = '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d';
our $genoa = '0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1';

our @real = (
    (map { "$V4/tcb?fmspc=$_" }
        qw(00906ea10000 00906ed50000 00a06d080000 90806f000000 00606a000000)),
    (map { "/tdx/certification/v4/tcb?fmspc=$_" }
        qw(00a06d080000 50806f000000 90c06f000000 b0c06f000000)),
    '/sgx/certification/v3/tcb?fmspc=00906ea10000',
    "$V4/qe/identity", '/tdx/certification/v4/qe/identity',
    '/sgx/certification/v3/qe/identity', "$V4/tcbevaluationdatanumbers",
    "$V4/pckcrl?ca=processor&encoding=der",
    "$V4/pckcrl?ca=platform&encoding=der",
    "$V4/rootcacrl",
    (map { "/vcek/v1/Milan/$_?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115" }
        @milan),
    "/vcek/v1/Milan/$milan2?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
    "/vcek/v1/Genoa/$genoa?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84",
    '/vcek/v1/Turin/1e550a8ee5cf9f4d?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0'
        . '&ucodeSPL=9',
    (map { ("/vcek/v1/$_/cert_chain", "/vlek/v1/$_/cert_chain") }
        qw(Milan Genoa Turin)),
    (map { ("/vcek/v1/$_/crl", "/vlek/v1/$_/crl") } qw(Milan Genoa)),
);


sub real_keys { return @real }

# n FMSPCs no platform has: 404 from the origin, a negative record here
sub unknown_keys {
    my ($n, $tag) = @_;
    return map { sprintf "$V4/tcb?fmspc=%s%08x", $tag // 'ffee', $_ } 1 .. $n;
}

# the second Milan chip, then the four others
sub milan_chips { return ($milan2, @milan) }

# clients in forked processes, released together; [status, cache status,
# Cache-Control, body] of each
sub stampede {
    my ($dir, @reqs) = @_;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my @kids;
    for my $i (0 .. $#reqs) {
        my ($e, $path) = @{ $reqs[$i] };
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $go_w;
            sysread $go_r, my $b, 1;
            my $r = eval { $e->get($path, timeout => 120) }
                    || { status => 599 };
            open my $fh, '>:raw', "$dir/res.$i" or POSIX::_exit(1);
            print $fh join "\n", $r->{status},
                $r->{headers}{'x-cache-status'} // '',
                $r->{headers}{'cache-control'} // '', $r->{content} // '';
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    close $go_r;
    close $go_w;
    waitpid $_, 0 for @kids;
    my @res;
    for my $i (0 .. $#reqs) {
        open my $fh, '<:raw', "$dir/res.$i" or die "res.$i: $!";
        local $/;
        push @res, [ split /\n/, <$fh>, 4 ];
        unlink "$dir/res.$i";
    }
    return @res;
}

# the emulator sees the canonical query (e.g. update=standard added)
sub same_key {
    my ($got, $key) = @_;
    my ($gp, $gq) = split /\?/, $got, 2;
    my ($kp, $kq) = split /\?/, $key, 2;
    return 0 unless $gp eq $kp;
    my %g = map { split /=/, $_, 2 } split /&/, $gq // '';
    my %k = map { split /=/, $_, 2 } split /&/, $kq // '';
    delete $k{encoding};
    return !grep { !defined $g{$_} || lc $g{$_} ne lc $k{$_} } keys %k;
}

1;
