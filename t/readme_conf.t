#!/usr/bin/perl
# The README's minimal nginx.conf works as written (issue 15, item 1): the
# block after the "t/readme_conf.t" marker in README.md is run verbatim,
# with only paths and ports changed, together with the shipped include
# files (conf/nginx/thim_origins.conf, thim_routes.conf, only the origin
# port changed), in front of the origin emulator under the origins' real
# host names, and serves Intel, AMD and Azure collateral through it.
#
# How the real names reach the emulator without editing them: nginx runs
# in a private mount namespace (unshare -m, as root) where /etc/hosts maps
# api.trustedservices.intel.com, certificates.trustedservices.intel.com
# and kdsintf.amd.com to 127.0.0.1, /etc/ssl/certs holds the test CA as
# ca-certificates.crt, and Debian's default log and temp directories are
# the test's own.  The emulator's certificate names the three hosts, so
# TLS verification, SNI and Host are the snippets' own.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use JSON::PP ();
use Test::More;
use ThimNamespace;
use ThimSetup;
use ThimTest;

my @HOSTS = @ThimNamespace::HOSTS;

plan skip_all => ThimNamespace::unavailable() if ThimNamespace::unavailable();

my $t = ThimTest->new(workers => 1, modules => []);
my $dir = $t->dir;

# the emulator, under the origins' names
my $pki = $t->pki;
my $o = ThimNamespace::origin($t);

# the README's block: paths and ports only
my $conf = ThimNamespace::readme_block();
my $block = $conf;
is_deeply([$block =~ /^\s*include\s+(\S+);/mg],
          ['snippets/thim_origins.conf', 'snippets/thim_routes.conf'],
          'the README block includes the two files');
unlike($block, qr/^\s*(?:location|proxy_|upstream)\b/m,
       '... and writes no location, proxy_ or upstream of its own');
my %path = (
    'modules/ngx_http_thim_module.so' => ThimSetup::module(),
    '/usr/share/ngx-thim/' => "$ThimSetup::ROOT/conf/",
    '/etc/ngx_thim/intel-api-key' => $ThimSetup::API_KEY_FILE,
    '/etc/nginx/tls/thim.pem' => $pki->{cert},
    '/etc/nginx/tls/thim.key' => $pki->{key},
);
for my $from (sort keys %path) {
    $conf =~ s/\Q$from\E/$path{$from}/g or die "README block: no $from";
}
$conf =~ s/^(\s*listen\s+)443\b/${1}127.0.0.1:%%PORT_https%%/m
    or die 'README block: no listen 443';
$t->write_config($conf);

# the shipped snippets, where "include snippets/..." looks (the prefix),
# with the origins' port changed
make_path("$dir/snippets");
for my $f (qw(thim_origins.conf thim_routes.conf)) {
    my $text = ThimTest::_slurp("$ThimSetup::ROOT/conf/nginx/$f")
        // die "conf/nginx/$f: $!";
    $text = ThimNamespace::origins_conf($text, $o->port)
        if $f eq 'thim_origins.conf';
    $t->write_file("snippets/$f", $text);
}

is(scalar(split /\n/, ThimTest::_slurp("$dir/nginx.conf")),
   scalar(split /\n/, $block), 'nginx.conf: the README block, line for line');

# the namespace: hosts, the system trust store, Debian's default dirs
ThimNamespace::wrap($t);

$t->run;

my $CHIP = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3'
         . 'e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $VCEK = "/vcek/v1/Milan/$CHIP?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115";
my $V4 = '/sgx/certification/v4';

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid, $cpusvn, $pcesvn) = @{ $rows[0] };
my $PCK = "$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpusvn&pcesvn=$pcesvn"
        . "&pceid=$pceid";

# each through the snippets' origin locations, compared with what the
# emulator itself answers
my @cases = (
    ['Intel TCB info', "$V4/tcb?fmspc=00906ed50000", 'intel'],
    ['Intel QE identity (TDX)', '/tdx/certification/v4/qe/identity', 'intel'],
    ['Intel PCK CRL', "$V4/pckcrl?ca=platform&encoding=der", 'intel'],
    ['Intel root CA CRL', "$V4/rootcacrl", 'root'],
    ['AMD VCEK', $VCEK, 'amd'],
    ['AMD cert_chain', '/vcek/v1/Milan/cert_chain', 'amd'],
);
my %host = (intel => $HOSTS[0], root => $HOSTS[1], amd => $HOSTS[2]);

for my $c (@cases) {
    my ($what, $path, $origin) = @$c;
    $o->reset;
    my $r = $t->get($path, headers => { 'X-Client-Secret' => 'x' });
    is($r->{status}, 200, "$what: 200") or diag($r->{content});
    is($r->{headers}{'x-cache-status'}, 'MISS', "$what: fetched");
    my @req = @{ $o->requests };
    is(scalar @req, 1, "$what: one origin request");
    is($req[0]{headers}{host}, $host{$origin},
       "$what: Host $host{$origin}, the snippet's for that origin");
    ok(!exists $req[0]{headers}{'x-client-secret'},
       "$what: none of the client's headers");
    $r = $t->get($path, http2 => 1);
    is($r->{headers}{'x-cache-status'}, 'HIT', "$what: then a hit (HTTP/2)");
}

# a PCK certificate: a pckcerts fetch with Intel's API key from the file
$o->reset;
my $r = $t->get($PCK);
is($r->{status}, 200, 'PCK certificate: 200') or diag($r->{content});
like($r->{content}, qr/^-----BEGIN CERTIFICATE-----/, '... a PEM certificate');
my ($set) = grep { $_->{target} =~ m{/pckcerts\?} } @{ $o->requests };
is($set && $set->{headers}{'ocp-apim-subscription-key'},
   ThimOrigin::DEFAULT_API_KEY, '... the set fetched with the API key');
my ($other) = grep { $_->{target} !~ m{/pckcerts\?} } @{ $o->requests };
ok(!$other || !exists $other->{headers}{'ocp-apim-subscription-key'},
   '... and the key on no other request');

# Azure's forms, composed from the AMD collateral cached above
$r = $t->get("/metadata/THIM/amd/certification?platformId=$CHIP"
             . '&tcbVersion=7308000000000003&productName=Milan',
             headers => { Metadata => 'true' });
is($r->{status}, 200, 'Azure THIM JSON: 200');
ok($r->{content} eq ThimSetup::fixture(
       'amd/thim/metadata_THIM_amd_certification.json'),
   '... byte-identical to the captured Azure answer');
$r = $t->get("/SevSnpVM/certificates/$CHIP/7308000000000003"
             . '?api-version=2020-10-15-preview&clientId=ConfidentialACI'
             . '&productName=Milan');
is($r->{status}, 200, 'Azure ACC cache PEM: 200');
is(scalar(() = $r->{content} =~ /-----BEGIN CERTIFICATE-----/g), 3,
   '... VCEK, ASK and ARK');
$r = $t->get("/metadata/THIM$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpusvn"
             . "&pcesvn=$pcesvn&pceid=$pceid", headers => { Metadata => 'true' });
is($r->{status}, 200, 'Azure PCK certificate JSON: 200');
ok(eval { JSON::PP::decode_json($r->{content})->{pckCert} },
   '... JSON with the certificate');

# conf/thim.conf, the commented example, passes nginx -t the same way
my $ex = ThimTest::_slurp("$ThimSetup::ROOT/conf/thim.conf");
$ex =~ s/\Q$_\E/$path{$_}/g for sort keys %path;
my $export = $t->port('example');
$ex =~ s/^(\s*listen\s+)443\b/${1}127.0.0.1:$export/m or die 'no listen';
$t->write_file('thim-example.conf', $ex);
my ($rc, $out) = ThimTest::_capture($ThimTest::NGINX, '-p', "$dir/",
    '-c', "$dir/thim-example.conf", '-e', "$dir/logs/example.log", '-t');
is($rc, 0, 'conf/thim.conf passes nginx -t with the include files')
    or diag($out);

# a client cannot reach the origin locations
$o->reset;
is($t->get('/_thim/intel/sgx/certification/v4/qe/identity')->{status}, 404,
   'the origin locations are internal');
is($o->total, 0, '... the origin was not asked');

$t->stop;
done_testing();

