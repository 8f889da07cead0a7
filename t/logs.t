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

{
    # a PCK CRL whose issuer chain header is broken is refused for that,
    # the first check that fails, not for a later one
    my ($t, $o) = ThimSetup::start(workers => 1);
    my $CRL = '/sgx/certification/v4/pckcrl?ca=platform&encoding=der';
    my $pem = ThimSetup::fixture(
        'intel/pcs/pckcrl/pckcrl_platform_2025-05-06.issuer_chain.pem');
    my @certs = split /(?<=-----END CERTIFICATE-----\n)/, $pem;
    (my $cut = $certs[0]) =~ s/\n[A-Za-z0-9+\/]{64}\n/\n/;
    my %chains = (
        'not PEM' => 'garbage',
        'cut short' => substr($pem, 0, 300),
        'a line of base64 missing' => $cut . $certs[1],
    );
    for my $what (sort keys %chains) {
        my $f = $t->dir . '/chain.pem';
        open my $fh, '>', $f or die "$f: $!";
        print $fh $chains{$what};
        close $fh;
        $o->serve($CRL, file => 'intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der',
                  chain => $f);
        logged($t, "PCK CRL, issuer chain $what", $CRL, 502,
               qr/refused origin answer for "[^"]*pckcrl[^"]*": the CRL's issuer chain is not PEM certificates/,
               qr/not the Intel SGX PCK|signature does not verify/);
    }
    $o->serve($CRL, file => 'intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der',
              chain => 'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.issuer_chain.pem');
    logged($t, "PCK CRL, the other CA's chain", $CRL, 502,
           qr/the signer is not the Intel SGX PCK Platform CA/);
    $o->clear_serves;
    is($t->get($CRL)->{status}, 200, 'the genuine PCK CRL is accepted');
    $t->stop;
}

{
    # without an API key: one warning for three thim_intel locations,
    # naming the first one's line
    my $t = ThimTest->new(workers => 1, modules => [ThimSetup::module()]);
    $t->{vars}{ORIGIN_PORT} = $t->port('origin');
    my $conf = ThimSetup::config();
    $conf =~ s/^\s*thim_intel_api_key_file[^\n]*\n//m or die 'no key line';
    $t->write_config($conf);
    $t->run;
    my $text = $t->read_file('nginx.conf');
    my ($line) = grep { (split /\n/, $text)[$_ - 1] =~ /thim_intel;/ }
                 1 .. scalar(split /\n/, $text);
    # nginx -t and the start each read the configuration once
    my @warned = $t->error_log
                 =~ /\[warn\] (\d+)#\d+: ("thim_intel" has no "thim_intel_api_key_file"[^\n]*)/g;
    my %per_read;
    $per_read{ $warned[$_ * 2] }++ for 0 .. $#warned / 2;
    ok(%per_read && !grep({ $_ != 1 } values %per_read),
       'no API key: warned once per configuration read, not once per location')
        or diag(join "\n", @warned);
    @warned = map { $warned[$_ * 2 + 1] } 0 .. $#warned / 2;
    like($warned[0] // '', qr/ in \S+nginx\.conf:$line$/,
         "... naming the first thim_intel's line ($line)");
    $t->stop;
}

done_testing();
