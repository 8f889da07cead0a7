#!/usr/bin/perl
# Azure's forms of AMD collateral: THIM's JSON (GET
# /metadata/THIM/amd/certification with Metadata: true) and the ACC cache's
# PEM (GET /SevSnpVM/certificates/{chip}/{tcb}), composed from the cached
# KDS chain and VCEK.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use ThimSetup;

my $THIM = '/metadata/THIM/amd/certification';
my $CHIP = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3'
         . 'e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $TCB = '7308000000000003';
my $VCEK = "/vcek/v1/Milan/$CHIP?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115";
my $MD = { Metadata => 'true' };

my ($t, $o) = ThimSetup::start(workers => 2, http => <<"MAP", server => <<'EOF');
    # known hosts and their chips: the platform follows the client address
    map \$remote_addr \$thim_test_chip {
        127.0.0.1  $CHIP;
        default    "";
    }
MAP
        # a fleet of one product, the chip named by a request header
        location = /by-header/metadata/THIM/amd/certification {
            thim_amd_azure;
            thim_amd_platform_id $http_x_chip_id;
            thim_amd_tcb_version $http_x_reported_tcb;
            thim_amd_product Milan;
        }

        location = /by-address/metadata/THIM/amd/certification {
            thim_amd_azure;
            thim_amd_platform_id $thim_test_chip;
            thim_amd_product Milan;
        }
EOF

my $captured = ThimSetup::fixture('amd/thim/metadata_THIM_amd_certification.json');

# the real service's answer for that chip and TCB, byte for byte
my $r = $t->get("$THIM?platformId=$CHIP&tcbVersion=$TCB&productName=Milan",
                headers => $MD);
is($r->{status}, 200, 'THIM JSON: 200');
is($r->{headers}{'content-type'}, 'application/json', 'application/json');
ok($r->{content} eq $captured,
   'byte-identical to the captured Azure THIM response')
    or diag($r->{content});
is($r->{headers}{'x-cache-status'}, 'MISS', 'composed from fetched collateral');
is($o->count($VCEK), 1, 'KDS asked for the VCEK once, canonically');
is($o->count('/vcek/v1/Milan/cert_chain'), 1, 'and for the chain once');

my $j = JSON::PP::decode_json($r->{content});
is_deeply([sort keys %$j], [qw(cacheControl certificateChain tcbm vcekCert)],
          'exactly the four keys');

# again: from the zone, over HTTP/2 too, no KDS request
$r = $t->get("$THIM?platformId=" . uc($CHIP) . "&tcbVersion=$TCB&productName=Milan",
             headers => $MD, http2 => 1);
is($r->{proto}, 'HTTP/2', 'HTTP/2');
ok($r->{content} eq $captured, 'same bytes; upper-case chip id accepted');
is($r->{headers}{'x-cache-status'}, 'HIT', 'HIT');
is($o->total, 2, 'still two KDS requests');

# the KDS routes and the THIM route share the entries
$r = $t->get($VCEK);
is($r->{headers}{'x-cache-status'}, 'HIT', 'the KDS route finds the VCEK cached');

# the platform from a header, the product from configuration
$r = $t->get("/by-header$THIM", headers => { %$MD, 'X-Chip-Id' => $CHIP,
                                            'X-Reported-TCB' => $TCB });
ok($r->{status} == 200 && $r->{content} eq $captured,
   'platform from request headers, product from thim_amd_product');

# the platform from a map of known hosts (the TCB still from the query)
$r = $t->get("/by-address$THIM?tcbVersion=$TCB", headers => $MD);
ok($r->{status} == 200 && $r->{content} eq $captured,
   'platform from a map of $remote_addr');

# without Metadata: true, as the metadata service: 400
for my $h ({}, { Metadata => 'false' }, { Metadata => '' }) {
    $r = $t->get("$THIM?platformId=$CHIP&tcbVersion=$TCB&productName=Milan",
                 headers => $h);
    is($r->{status}, 400, 'no Metadata: true -> 400');
    like(eval { JSON::PP::decode_json($r->{content})->{parameter} } // '',
         qr/Metadata/, '... naming the header');
}
$r = $t->get("$THIM?platformId=$CHIP&tcbVersion=$TCB&productName=Milan",
             headers => { metadata => 'TRUE' });
is($r->{status}, 200, 'header name and value in any case');

# what is missing or malformed is named
my %bad = (
    "tcbVersion=$TCB&productName=Milan"                      => 'platformId',
    "platformId=$CHIP&productName=Milan"                     => 'tcbVersion',
    "platformId=$CHIP&tcbVersion=$TCB"                       => 'productName',
    "platformId=$CHIP&tcbVersion=$TCB&productName=Naples"    => 'productName',
    "platformId=abc&tcbVersion=$TCB&productName=Milan"       => 'platformId',
    "platformId=" . ('0' x 128) . "&tcbVersion=$TCB&productName=Milan" => 'platformId',
    "platformId=$CHIP&tcbVersion=17308000000000003&productName=Milan" => 'tcbVersion',
    "platformId=$CHIP&tcbVersion=73080000000000g3&productName=Milan" => 'tcbVersion',
    "platformId=$CHIP&tcbVersion=7308000000000083&productName=Milan" => 'tcbVersion',
);
my $before = $o->total;
for my $q (sort keys %bad) {
    $r = $t->get("$THIM?$q", headers => $MD);
    is($r->{status}, 400, "400 for ?" . substr($q, 0, 60));
    is(eval { JSON::PP::decode_json($r->{content})->{parameter} }, $bad{$q},
       "... naming $bad{$q}");
}
is($o->total, $before, 'no KDS request for any of them');

# the ACC cache form: VCEK, ASK and ARK as one PEM; tcb without leading zeros
my $chain = ThimSetup::fixture('amd/milan/cert_chain.pem');
$r = $t->get("/SevSnpVM/certificates/$CHIP/7308000000000003"
             . "?api-version=2020-10-15-preview&clientId=ConfidentialACI&productName=Milan");
is($r->{status}, 200, 'ACC cache form: 200');
is($r->{headers}{'content-type'}, 'application/x-pem-file', 'PEM');
my @certs = $r->{content} =~ /(-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n)/sg;
is(scalar @certs, 3, 'three certificates');
ok($certs[0] eq $j->{vcekCert}, 'the VCEK first, as THIM has it');
ok($certs[1] . $certs[2] eq $chain, 'then the KDS chain, byte for byte');

# a Genoa chip: the product's layout decodes the TCB into KDS SPLs
my $GENOA = '0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782'
          . 'fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1';
$r = $t->get("$THIM?platformId=$GENOA&tcbVersion=541700000000000a&productName=Genoa",
             headers => $MD);
is($r->{status}, 200, 'Genoa: 200');
is($o->count("/vcek/v1/Genoa/$GENOA?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84"), 1,
   'Genoa: tcbm 541700000000000a asked of KDS as bl 10, snp 23, ucode 84');
is(eval { JSON::PP::decode_json($r->{content})->{tcbm} }, '541700000000000A',
   'tcbm echoed as 16 hex digits');

# a chip KDS does not know: 404, cached
$r = $t->get("$THIM?platformId=$CHIP&tcbVersion=7308000000000004&productName=Milan",
             headers => $MD);
is($r->{status}, 404, 'unknown TCB at KDS -> 404');

# KDS down, nothing cached for that chip: 502; cached chips still served
$o->fault('/vcek/', status => 500);
$r = $t->get("$THIM?platformId=$CHIP&tcbVersion=4405000000000002&productName=Milan",
             headers => $MD);
is($r->{status}, 502, 'KDS failing, nothing cached -> 502');
$r = $t->get("$THIM?platformId=$CHIP&tcbVersion=$TCB&productName=Milan",
             headers => $MD);
ok($r->{status} == 200 && $r->{content} eq $captured,
   'KDS failing: the cached chip is still served');

done_testing();
