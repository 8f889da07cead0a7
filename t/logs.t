#!/usr/bin/perl
# The error log says what happened: an origin that answered is logged as
# "origin answered N" with its Request-ID; an origin never heard from (no
# proxy_pass behind the internal location, a connection refused, a TLS
# failure, a timeout) is logged as such, naming the upstream and the peer,
# never as an answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TDX = '/tdx/certification/v4/qe/identity';
my $CHAIN = '/vcek/v1/Milan/cert_chain';

sub logged {
    my ($t, $what, $path, $status, $want, @unwanted) = @_;
    $t->mark_log;
    my $r = $t->get($path);
    is($r->{status}, $status, "$what: $status");
    my $log = $t->log_since_mark;
    like($log, $want, "$what: logged as such") or diag($log);
    unlike($log, $_, "$what: not logged as $_") for @unwanted;
    return $log;
}

my $answered = qr/origin answered/;

{
    my ($t, $o) = ThimSetup::start(workers => 1, read_timeout => '1s');
    my $peer = '127.0.0.1:' . $o->port;

    $o->fault($QE, status => 502);
    logged($t, 'the origin answers 502', $QE, 502,
           qr/origin answered 502 for "[^"]*qe\/identity[^"]*" \(origin Request-ID: "[0-9a-f]{32}"\)/);

    $o->clear_faults;
    $o->fault($TDX, latency => 3000);
    logged($t, 'the origin is too slow', $TDX, 504,
           qr/no answer from origin "intel_pcs" \(peer \Q$peer\E\) for "[^"]*": it did not answer in time/,
           $answered);

    $o->clear_faults;
    $o->stop;
    logged($t, 'the origin refuses connections', $CHAIN, 502,
           qr/no answer from origin "intel_pcs" \(peer \Q$peer\E\) for "[^"]*Milan[^"]*": could not connect/,
           $answered);
    $t->stop;
}

{
    # the Intel location offers only TLS 1.0, which neither side accepts;
    # the AMD prefix names no proxy_pass location
    my ($t, $o) = ThimSetup::start(workers => 1,
        origin_loc => 'proxy_ssl_protocols TLSv1;',
        http => 'thim_amd_origin /_nowhere;',
        server => 'location /_nowhere/ { internal; return 404; }');
    my $peer = '127.0.0.1:' . $o->port;

    logged($t, 'TLS fails with the origin', $QE, 502,
           qr/no answer from origin "intel_pcs" \(peer \Q$peer\E\) for "[^"]*": could not connect to it or complete TLS with it/,
           $answered);
    logged($t, 'no proxy_pass location', $CHAIN, 502,
           qr/origin not asked for "[^"]*Milan[^"]*": "\/_nowhere\/[^"]*" is not a proxy_pass location/,
           $answered);
    is($o->total, 0, 'the origin was never asked');
    $t->stop;
}

done_testing();
