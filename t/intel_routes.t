#!/usr/bin/perl
# The Intel PCS v4 / PCCS-compatible routes end to end (PROTOCOLS.md 0, 1a,
# 2, 4.1), checked byte for byte against the fixtures in t/data and the
# emulator's own answers: tcb (SGX v3/v4, TDX v4), the enclave identities,
# pckcrl in its three encodings, rootcacrl, tcbevaluationdatanumbers and
# the PCCS crl?uri= form; the origin is asked only canonical queries, once
# per key; every response follows the global rules; HTTP/2 gives the same
# bytes; HEAD works; malformed input is refused without an origin request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Test::More;
use ThimSetup;


my ($t, $o) = eval { ThimSetup::start(workers => 2) };
unless ($t) {
    fail('nginx starts with thim_intel_root_ca and /_thim/intel-root/');
    diag($@);
    done_testing();
    exit;
}

# ---------------------------------------------------------------------------
# helpers

my $SGX4 = '/sgx/certification/v4';
my $SGX3 = '/sgx/certification/v3';
my $TDX4 = '/tdx/certification/v4';

sub fx { ThimSetup::fixture(@_) }
sub chain_of { ThimSetup::intel_pct_encode(fx("$_[0].issuer_chain.pem")) }

sub pem_crl {
    my ($der) = @_;
    return "-----BEGIN X509 CRL-----\n"
        . join('', map { "$_\n" } unpack('(A64)*', encode_base64($der, '')))
        . "-----END X509 CRL-----\n";
}

sub hex_of { lc unpack('H*', $_[0]) }

sub json_of { eval { JSON::PP::decode_json($_[0]{content}) } }

sub cache_status_ok {
    my ($r) = @_;
    return ($r->{headers}{'x-cache-status'} // '') =~ /^(MISS|HIT|UPDATING|STALE)$/;
}

# the global rules every response obeys (G1, G2, G4, G7, G8, item 9)
sub common {
    my ($r, $name) = @_;
    my $ok = 1;
    $ok &&= like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/,
                 "$name: Request-ID");
    # the cache status says how the cache answered; a request refused
    # before the cache was consulted (400, 405, unknown URI) has none
    if ($r->{status} == 400 || $r->{status} == 405) {
        $ok &&= ok(!exists $r->{headers}{'x-cache-status'},
                   "$name: no X-Cache-Status on a refused request");
    } else {
        $ok &&= ok(cache_status_ok($r), "$name: X-Cache-Status present")
            or diag("X-Cache-Status: "
                    . ($r->{headers}{'x-cache-status'} // 'none'));
    }
    my @empty = grep { $_->[1] eq '' } @{ $r->{header_list} };
    $ok &&= ok(!@empty, "$name: no empty header value")
        or diag(join ', ', map { $_->[0] } @empty);
    if ($r->{status} == 200) {
        my ($age) = ($r->{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/;
        $ok &&= ok(defined $age && $age >= 1 && $age <= 86400,
                   "$name: Cache-Control max-age in 1..86400")
            or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
        $ok &&= is($r->{status_line}, 'HTTP/1.1 200 OK', "$name: status line")
            if $r->{proto} eq 'HTTP/1.1';
    } elsif ($r->{status} >= 400) {
        my $j = json_of($r);
        $ok &&= ok($j && length($j->{error} // ''), "$name: JSON error body");
        $ok &&= is($r->{headers}{'content-type'}, 'application/json',
                   "$name: error is application/json");
    }
    return $ok;
}

# one GET (or what %opt says) with the common checks
sub req {
    my ($path, $name, %opt) = @_;
    my $r = $t->get($path, %opt);
    common($r, $name);
    return $r;
}

# the body and the given headers equal what is expected
sub same {
    my ($r, $name, $body, %hdr) = @_;
    is($r->{status}, 200, "$name: 200") or diag(substr($r->{content}, 0, 300));
    ok($r->{content} eq $body, "$name: body byte for byte")
        or diag(length($r->{content}) . ' bytes vs ' . length($body)
                . ': ' . substr($r->{content}, 0, 80));
    for my $h (sort keys %hdr) {
        hdr_is($r, $h, $hdr{$h}, "$name: $h");
    }
}

# a header equals; long values are not dumped on failure
sub hdr_is {
    my ($r, $h, $want, $name) = @_;
    my $got = $r->{headers}{lc $h};
    return is($got, $want, $name) if !defined $want || length($want) < 100;
    ok(defined $got && $got eq $want, $name)
        or diag(defined $got ? "got " . length($got) . " chars: " . substr($got, 0, 60) . '...'
                             : "no $h header");
}

sub status_is {
    my ($r, $want, $name) = @_;
    is($r->{headers}{'x-cache-status'}, $want, "$name: X-Cache-Status $want");
}

# ---------------------------------------------------------------------------
# what the origin itself answers (fetched directly, then forgotten)

my %D;
for my $p ("$SGX4/tcb?fmspc=00906ed50000", "$SGX3/tcb?fmspc=00906ea10000",
           "$TDX4/tcb?fmspc=00a06d080000", "$SGX4/qe/identity",
           "$SGX3/qe/identity", "$TDX4/qe/identity",
           "$SGX4/pckcrl?ca=processor&encoding=der",
           "$SGX4/pckcrl?ca=platform&encoding=der",
           "$SGX4/tcbevaluationdatanumbers", '/IntelSGXRootCA.der')
{
    $D{$p} = $t->get($p, port => $o->port);
    is($D{$p}{status}, 200, "origin answers $p directly");
}
$o->reset;

my $TCB_CHAIN = chain_of('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04');
is($D{"$SGX4/tcb?fmspc=00906ed50000"}{headers}{'tcb-info-issuer-chain'},
   $TCB_CHAIN, 'the emulator sends the fixture chain, Intel-encoded');
like($TCB_CHAIN, qr/^-----BEGIN%20CERTIFICATE-----%0A.*%0A$/s,
     'fixture chain: %20 / %0A encoded, ends with %0A');
unlike($TCB_CHAIN, qr/\+/, 'fixture chain: no +');

# the PEM helper agrees with openssl
my $proc_der = fx('intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der');
my $plat_der = fx('intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der');
my $root_der = fx('intel/root/IntelSGXRootCA_crl_2026-02-26.der');
{
    my $f = "$ThimSetup::DATA/intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der";
    my $pem = `openssl crl -inform der -outform pem -in '$f' 2>/dev/null`;
    is(pem_crl($proc_der), $pem, 'PEM helper = openssl crl -outform pem')
        if length $pem;
}
ok($D{"$SGX4/pckcrl?ca=processor&encoding=der"}{content} eq $proc_der,
   'emulator: processor CRL = fixture');
ok($D{"$SGX4/pckcrl?ca=platform&encoding=der"}{content} eq $plat_der,
   'emulator: platform CRL = newest fixture');
ok($D{'/IntelSGXRootCA.der'}{content} eq $root_der,
   'emulator: root CRL = newest fixture');

# ---------------------------------------------------------------------------
# 1. tcb

{
    my $body = fx('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json');
    ok($body eq $D{"$SGX4/tcb?fmspc=00906ed50000"}{content}, 'fixture = emulator');

    my $r = req("$SGX4/tcb?fmspc=00906ED50000", 'sgx v4 tcb (upper-case fmspc)');
    same($r, 'sgx v4 tcb', $body,
         'TCB-Info-Issuer-Chain' => $TCB_CHAIN,
         'SGX-TCB-Info-Issuer-Chain' => $TCB_CHAIN);
    is($r->{headers}{'content-type'}, 'application/json', 'tcb: application/json');
    status_is($r, 'MISS', 'first tcb');
    is($o->count("$SGX4/tcb?fmspc=00906ed50000&update=standard"), 1,
       'origin asked fmspc=<lower>&update=standard');
    is(scalar(grep { lc($_->[0]) =~ /^(sgx-)?tcb-info-issuer-chain$/ }
              @{ $r->{header_list} }), 2,
       'each chain header exactly once');

    for my $q ('fmspc=00906ed50000', 'fmspc=00906Ed50000&update=standard',
               'fmspc=00906ed50000&update=STANDARD&clientid=x',
               'clientid=production_client&fmspc=00906ed50000&api-version=2018-10-01-preview',
               'fmspc=00906ed50000&fmspc=zz', 'fmspc=00906ed50000&update=standard&update=bogus')
    {
        $r = req("$SGX4/tcb?$q", "tcb ?$q");
        same($r, "tcb ?$q", $body);
        status_is($r, 'HIT', "tcb ?$q");
    }

    $r = req("$SGX4/tcb?fmspc=00906ed50000&update=Early", 'tcb update=Early');
    same($r, 'tcb update=early', $body, 'TCB-Info-Issuer-Chain' => $TCB_CHAIN);
    status_is($r, 'MISS', 'update=early is its own entry');
    is($o->count("$SGX4/tcb?fmspc=00906ed50000&update=early"), 1,
       'origin asked fmspc=<lower>&update=early');
    status_is(req("$SGX4/tcb?update=early&fmspc=00906ED50000", 'tcb early again'),
              'HIT', 'early, other order and case');
}

# explicit evaluation data numbers pick the eval-series bodies
for my $n (17, 18, 19) {
    my $stem = "intel/pcs/eval-series/tcb_00606a000000_eval${n}_2025-06-06";
    my $r = req("$SGX4/tcb?fmspc=00606A000000&tcbEvaluationDataNumber=$n",
                "tcb eval $n");
    same($r, "tcb eval $n", fx("$stem.json"),
         'TCB-Info-Issuer-Chain' => chain_of($stem),
         'SGX-TCB-Info-Issuer-Chain' => chain_of($stem));
    like($r->{content}, qr/"tcbEvaluationDataNumber":$n\b/, "eval $n body carries $n");
    is($o->count("$SGX4/tcb?fmspc=00606a000000&tcbEvaluationDataNumber=$n"), 1,
       "origin asked fmspc=<lower>&tcbEvaluationDataNumber=$n");
}
status_is(req("$SGX4/tcb?tcbEvaluationDataNumber=0017&fmspc=00606a000000", 'eval 0017'),
          'HIT', 'eval 0017 = eval 17');

# SGX and TDX tcb for the same fmspc are different entries and bodies
{
    my $sgx = 'intel/pcs/sgx/tcb_00a06d080000_eval18_2026-02-28';
    my $tdx = 'intel/pcs/tdx/tcb_00a06d080000_eval18_2026-02-26';
    my $r = req("$TDX4/tcb?fmspc=00A06D080000", 'tdx tcb');
    same($r, 'tdx tcb', fx("$tdx.json"),
         'TCB-Info-Issuer-Chain' => chain_of($tdx),
         'SGX-TCB-Info-Issuer-Chain' => chain_of($tdx));
    like($r->{content}, qr/"id":"TDX"/, 'tdx tcb: id TDX');
    $r = req("$SGX4/tcb?fmspc=00a06d080000", 'sgx tcb same fmspc');
    same($r, 'sgx tcb same fmspc', fx("$sgx.json"),
         'TCB-Info-Issuer-Chain' => chain_of($sgx));
    status_is($r, 'MISS', 'sgx and tdx tcb are separate entries');
    is($o->count("$TDX4/tcb?fmspc=00a06d080000&update=standard"), 1,
       'tdx origin request canonical');
}

# v3: its own body and entry, v3 header value duplicated, update ignored
{
    my $stem = 'intel/pcs/v3/tcb_00906ea10000_eval8_2020-05-18';
    my $chain = chain_of($stem);
    is($D{"$SGX3/tcb?fmspc=00906ea10000"}{headers}{'sgx-tcb-info-issuer-chain'},
       $chain, 'emulator v3 chain');
    my $r = req("$SGX3/tcb?fmspc=00906EA10000", 'sgx v3 tcb');
    same($r, 'sgx v3 tcb', fx("$stem.json"),
         'TCB-Info-Issuer-Chain' => $chain,
         'SGX-TCB-Info-Issuer-Chain' => $chain);
    is($o->count("$SGX3/tcb?fmspc=00906ea10000"), 1, 'v3 origin query: fmspc=<lower> only');
    $r = req("$SGX3/tcb?fmspc=00906ea10000&update=early", 'v3 update=early');
    same($r, 'v3 tcb update=early (ignored)', fx("$stem.json"));
    status_is($r, 'HIT', 'v3 update ignored: same entry');
    is($o->count("$SGX3/tcb"), 1, 'v3 tcb: one origin request in all');
    $r = req("$SGX4/tcb?fmspc=00906ea10000", 'v4 tcb of the v3 fmspc');
    same($r, 'v4 tcb 00906ea10000', fx('intel/pcs/sgx/tcb_00906ea10000_eval16_2024-06-28.json'));
    status_is($r, 'MISS', 'v3 and v4 are separate entries');
}

# unknown fmspc: the origin's 404
{
    my $r = req("$SGX4/tcb?fmspc=123456789abc", 'unknown fmspc');
    is($r->{status}, 404, 'unknown fmspc -> 404');
    is($o->count("$SGX4/tcb?fmspc=123456789abc&update=standard"), 1,
       'unknown fmspc asked once, canonically');
    $r = req("$TDX4/tcb?fmspc=00906ed50000", 'sgx-only fmspc on tdx');
    is($r->{status}, 404, 'fmspc without a TDX tcbInfo -> 404');
}

# ---------------------------------------------------------------------------
# 2. enclave identities

{
    my $qe = 'intel/pcs/eval-series/qe_identity_eval19_2025-06-06';
    ok(fx("$qe.json") eq $D{"$SGX4/qe/identity"}{content}, 'emulator default QE = eval19 fixture');
    my $r = req("$SGX4/qe/identity", 'sgx v4 qe');
    same($r, 'sgx v4 qe', fx("$qe.json"),
         'SGX-Enclave-Identity-Issuer-Chain' => chain_of($qe));

    $r = req("$SGX3/qe/identity?update=early", 'sgx v3 qe');
    same($r, 'sgx v3 qe', $D{"$SGX3/qe/identity"}{content},
         'SGX-Enclave-Identity-Issuer-Chain' =>
             $D{"$SGX3/qe/identity"}{headers}{'sgx-enclave-identity-issuer-chain'});
    status_is($r, 'MISS', 'v3 qe identity is its own entry');
    is($o->count("$SGX3/qe/identity"), 1, 'v3 qe: one origin request');
    unlike(join(' ', keys %{ $o->counts }), qr{v3/qe/identity\?.*update},
           'v3 qe: update not passed upstream');
    status_is(req("$SGX3/qe/identity", 'v3 qe again'), 'HIT', 'v3 qe: update ignored');

    my $td = 'intel/pcs/tdx/qe_identity_eval18_2026-01-07';
    $r = req("$TDX4/qe/identity?update=standard", 'tdx qe');
    same($r, 'tdx qe', fx("$td.json"),
         'SGX-Enclave-Identity-Issuer-Chain' => chain_of($td));

    for my $n (17, 18) {
        my $s = "intel/pcs/eval-series/qe_identity_eval${n}_2025-06-06";
        $r = req("$SGX4/qe/identity?tcbEvaluationDataNumber=$n", "qe eval $n");
        same($r, "qe eval $n", fx("$s.json"),
             'SGX-Enclave-Identity-Issuer-Chain' => chain_of($s));
        is($o->count("$SGX4/qe/identity?tcbEvaluationDataNumber=$n"), 1,
           "qe eval $n: canonical origin query");
    }

    for my $p ("$SGX4/qve/identity", "$SGX3/qve/identity") {
        $r = req($p, $p);
        is($r->{status}, 404, "$p: no fixture -> 404");
    }
}

# ---------------------------------------------------------------------------
# 4. pckcrl: one origin request per CA whatever the version and encoding

{
    my $pchain = chain_of('intel/pcs/pckcrl/pckcrl_processor_2020-05-18');
    is($D{"$SGX4/pckcrl?ca=processor&encoding=der"}{headers}{'sgx-pck-crl-issuer-chain'},
       $pchain, 'emulator processor CRL chain');

    my $r = req("$SGX4/pckcrl?ca=processor&encoding=der", 'pckcrl der');
    same($r, 'pckcrl der', $proc_der, 'SGX-PCK-CRL-Issuer-Chain' => $pchain,
         'Content-Type' => 'application/pkix-crl');
    status_is($r, 'MISS', 'pckcrl first');

    $r = req("$SGX4/pckcrl?ca=Processor&encoding=pem", 'pckcrl pem');
    same($r, 'pckcrl pem', pem_crl($proc_der), 'SGX-PCK-CRL-Issuer-Chain' => $pchain,
         'Content-Type' => 'application/x-pem-file');
    status_is($r, 'HIT', 'pem from the same entry');

    $r = req("$SGX4/pckcrl?ca=PROCESSOR", 'pckcrl hex');
    same($r, 'pckcrl hex', hex_of($proc_der), 'SGX-PCK-CRL-Issuer-Chain' => $pchain,
         'Content-Type' => 'application/pkix-crl');
    unlike($r->{content}, qr/[A-F\n]/, 'hex: lower case, no newline');

    for my $q ('ca=processor&encoding=der', 'ca=processor&encoding=pem', 'ca=processor',
               'encoding=der&ca=processor&clientid=production_client')
    {
        $r = req("$SGX3/pckcrl?$q", "v3 pckcrl ?$q");
        my $want = $q =~ /der/ ? $proc_der : $q =~ /pem/ ? pem_crl($proc_der)
                                                          : hex_of($proc_der);
        same($r, "v3 pckcrl ?$q", $want, 'SGX-PCK-CRL-Issuer-Chain' => $pchain);
        status_is($r, 'HIT', "v3 pckcrl ?$q");
    }
    is($o->count("$SGX4/pckcrl?ca=processor&encoding=der"), 1,
       'processor CRL: one origin request, canonical');
    is($o->count("$SGX4/pckcrl") + $o->count("$SGX3/pckcrl"), 1,
       'processor CRL: no other pckcrl request');

    my $lchain = chain_of('intel/pcs/pckcrl/pckcrl_platform_2025-05-06');
    $r = req("$SGX4/pckcrl?ca=platform", 'platform hex');
    same($r, 'platform hex', hex_of($plat_der), 'SGX-PCK-CRL-Issuer-Chain' => $lchain);
    $r = req("$SGX4/pckcrl?ca=platform&encoding=der", 'platform der');
    same($r, 'platform der', $plat_der);
    is($o->count("$SGX4/pckcrl?ca=platform&encoding=der"), 1,
       'platform CRL: one origin request, canonical');
}

# ---------------------------------------------------------------------------
# 6. rootcacrl: hex of the root CRL, chain = the configured root CA

# the configured root CA, Intel-encoded; the file has no final newline, but a
# chain value always ends with %0A (PROTOCOLS.md 2: QCNL drops the last two
# characters otherwise)
my $ROOT_CHAIN = ThimSetup::intel_pct_encode(fx('intel/root/Intel_SGX_Root_CA.pem') =~ s/\n?\z/\n/r);
{
    my $r = req("$SGX4/rootcacrl", 'rootcacrl');
    same($r, 'rootcacrl', hex_of($root_der), 'SGX-PCK-CRL-Issuer-Chain' => $ROOT_CHAIN);
    $r = req("$SGX4/rootcacrl?clientid=production_client", 'rootcacrl clientid');
    same($r, 'rootcacrl ?clientid', hex_of($root_der));
    status_is($r, 'HIT', 'rootcacrl clientid ignored');
    is($o->count('/IntelSGXRootCA.der'), 1, 'root CRL fetched once from /IntelSGXRootCA.der');
}

# ---------------------------------------------------------------------------
# 7. tcbevaluationdatanumbers

{
    my $s = 'intel/pcs/eval-series/tcbevaluationdatanumbers_sgx_2025-06-03';
    my $r = req("$SGX4/tcbevaluationdatanumbers", 'tcbevaluationdatanumbers');
    same($r, 'tcbevaluationdatanumbers', fx("$s.json"),
         'TCB-Evaluation-Data-Numbers-Issuer-Chain' => chain_of($s));
    is($o->count("$SGX4/tcbevaluationdatanumbers"), 1, 'fetched once');
    $r = req("$TDX4/tcbevaluationdatanumbers", 'tdx tcbevaluationdatanumbers');
    is($r->{status}, 404, 'tdx tcbevaluationdatanumbers: origin 404 -> 404');
}

# ---------------------------------------------------------------------------
# 8. PCCS crl?uri=: only known Intel CRL URLs, from the same entries

{
    my $before = $o->total;
    my %ok = (
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der'
            => [ $root_der, 'root der (unencoded)' ],
        'https%3A%2F%2Fcertificates.trustedservices.intel.com%2FIntelSGXRootCA.der'
            => [ $root_der, 'root der (encoded)' ],
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.crl'
            => [ pem_crl($root_der), 'root crl -> PEM' ],
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der'
            => [ $proc_der, 'processor der (unencoded, QCNL)' ],
        'https%3A%2F%2Fapi.trustedservices.intel.com%2Fsgx%2Fcertification%2Fv4%2Fpckcrl%3Fca%3Dplatform%26encoding%3Dder'
            => [ $plat_der, 'platform der (encoded)' ],
        'https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=platform'
            => [ pem_crl($plat_der), 'v3 platform -> PEM' ],
        'https%3A%2F%2Fapi.trustedservices.intel.com%2Fsgx%2Fcertification%2Fv4%2Fpckcrl%3Fca%3Dprocessor'
            => [ pem_crl($proc_der), 'processor, no encoding -> PEM' ],
    );
    for my $u (sort keys %ok) {
        my ($body, $name) = @{ $ok{$u} };
        my $r = req("$SGX4/crl?uri=$u", "crl $name");
        same($r, "crl $name", $body);
        is($r->{headers}{'content-type'}, 'application/pkix-crl', "crl $name: Content-Type")
            if $body eq $root_der || $body eq $proc_der || $body eq $plat_der;
        status_is($r, 'HIT', "crl $name: from the cached entry");
    }
    is($o->total, $before, 'crl?uri=: no new origin request (entries shared)');
}

# ---------------------------------------------------------------------------
# one origin request per canonical key, and only canonical queries

{
    my $c = $o->counts;
    my @multi = grep { $c->{$_} != 1 } sort keys %$c;
    ok(!@multi, 'every origin key was requested exactly once')
        or diag(join "\n", map { "$_ => $c->{$_}" } @multi);
    my @odd = grep { /clientid|api-version|customParameter|fmspc=[^&]*[A-F]|update=[^&]*[A-Z]|ca=[^&]*[A-Z]/ }
              keys %$c;
    ok(!@odd, 'the origin only saw canonical queries') or diag(join "\n", @odd);
    my @pck = grep { m{/pckcrl} && !/\?ca=(processor|platform)&encoding=der$/ } keys %$c;
    ok(!@pck, 'pckcrl always fetched as v4 ?ca=<lower>&encoding=der') or diag(join "\n", @pck);
    my @tcb = grep { m{v4/tcb\?} && !/^[^?]+\?fmspc=[0-9a-f]{12}&(update=(standard|early)|tcbEvaluationDataNumber=\d+)$/ }
              keys %$c;
    ok(!@tcb, 'v4 tcb queries have the canonical shape') or diag(join "\n", @tcb);
}

# ---------------------------------------------------------------------------
# 9. HTTP/2: the same bytes and headers

for my $case (
    [ "$SGX4/tcb?fmspc=00906ed50000", 'tcb-info-issuer-chain' ],
    [ "$TDX4/tcb?fmspc=00a06d080000", 'sgx-tcb-info-issuer-chain' ],
    [ "$SGX4/qe/identity", 'sgx-enclave-identity-issuer-chain' ],
    [ "$SGX4/pckcrl?ca=processor&encoding=der", 'sgx-pck-crl-issuer-chain' ],
    [ "$SGX4/pckcrl?ca=platform&encoding=pem", 'sgx-pck-crl-issuer-chain' ],
    [ "$SGX4/rootcacrl", 'sgx-pck-crl-issuer-chain' ],
    [ "$SGX4/tcbevaluationdatanumbers", 'tcb-evaluation-data-numbers-issuer-chain' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", undef ],
)
{
    my ($p, $h) = @$case;
    my $h1 = $t->get($p);
    my $h2 = req($p, "h2 $p", http2 => 1);
    is($h2->{proto}, 'HTTP/2', "h2 $p: HTTP/2 used");
    is($h2->{status}, 200, "h2 $p: 200");
    ok($h1->{status} == 200 && $h2->{content} eq $h1->{content},
       "h2 $p: same bytes as the HTTP/1.1 200");
    ok(defined $h1->{headers}{$h} && ($h2->{headers}{$h} // "") eq $h1->{headers}{$h},
       "h2 $p: same $h") if $h;
}

# HEAD: no body, the length of the body
for my $p ("$SGX4/tcb?fmspc=00906ed50000", "$SGX4/pckcrl?ca=processor",
           "$SGX4/rootcacrl", "$SGX4/pckcrl?ca=platform&encoding=pem")
{
    my $g = $t->get($p);
    my $r = req($p, "HEAD $p", method => 'HEAD');
    is($r->{status}, 200, "HEAD $p: 200");
    is($r->{content}, '', "HEAD $p: no body");
    is($r->{headers}{'content-length'}, length $g->{content}, "HEAD $p: Content-Length");
}
{
    # HEAD on a cold key
    my $r = req("$SGX4/tcb?fmspc=90806f000000", 'HEAD cold tcb', method => 'HEAD');
    is($r->{status}, 200, 'HEAD cold tcb: 200');
    is($r->{headers}{'content-length'},
       length(fx('intel/pcs/sgx/tcb_90806f000000_eval19_2025-08-08.json')),
       'HEAD cold tcb: length of the fixture');
    ok($r->{headers}{'tcb-info-issuer-chain'}, 'HEAD cold tcb: chain header');
}

# Request-ID: a sane client value is echoed
{
    my $r = $t->get("$SGX4/pckcrl?ca=processor", headers => { 'Request-ID' => 'Az-09-x' });
    is($r->{headers}{'request-id'}, 'Az-09-x', 'client Request-ID echoed');
}

# ---------------------------------------------------------------------------
# an SGX tcbInfo is never served on the TDX route, nor the other way round

{
    my $before = $o->total;
    $o->serve("$TDX4/tcb?fmspc=90c06f000000",
              file => 'intel/pcs/sgx/tcb_00a06d080000_eval18_2026-02-28.json');
    my $r = req("$TDX4/tcb?fmspc=90c06f000000", 'sgx body on tdx route');
    is($r->{status}, 502, 'SGX tcbInfo from the origin on the TDX route -> 502');
    unlike($r->{content}, qr/tcbInfo/, '... and not served');
    $o->serve("$SGX4/tcb?fmspc=b0c06f000000",
              file => 'intel/pcs/tdx/tcb_b0c06f000000_eval18_2026-03-01.json');
    $r = req("$SGX4/tcb?fmspc=b0c06f000000", 'tdx body on sgx route');
    is($r->{status}, 502, 'TDX tcbInfo on the SGX route -> 502');
    $o->serve("$SGX4/tcb?fmspc=00906ea10000&update=early",
              file => 'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json');
    $r = req("$SGX4/tcb?fmspc=00906ea10000&update=early", 'identity body on tcb route');
    is($r->{status}, 502, 'an enclave identity on the tcb route -> 502');
    $o->clear_serves;
    is($o->total - $before, 3, 'each was fetched (and refused)');
}

# ---------------------------------------------------------------------------
# malformed input: 400, JSON naming the parameter, no origin request

my $FM = '00906ed50000';
my @bad = (
    # tcb
    [ "$SGX4/tcb",                                   'fmspc' ],
    [ "$SGX4/tcb?fmspc=",                            'fmspc' ],
    [ "$SGX4/tcb?fmspc=00906ed5000",                 'fmspc' ],   # 11
    [ "$SGX4/tcb?fmspc=00906ed500000",               'fmspc' ],   # 13
    [ "$SGX4/tcb?fmspc=00906ed5000g",                'fmspc' ],
    [ "$SGX4/tcb?fmspc=00906ed5000%20",              'fmspc' ],
    [ "$SGX4/tcb?fmspc=00906ed5000+",                'fmspc' ],
    [ "$SGX4/tcb?fmspc=0x906ed50000",                'fmspc' ],
    [ "$SGX4/tcb?fmspc=%30%30906ed50000",            'fmspc' ],
    [ "$SGX4/tcb?fmspc=%3030906ed5000",              'fmspc' ],
    [ "$SGX4/tcb?fmspc=00906ed50000%00",             'fmspc' ],
    [ "$SGX4/tcb?fmspc=00906ed5%0000",               'fmspc' ],
    [ "$SGX4/tcb?FMSPC=$FM",                         'fmspc' ],
    [ "$SGX4/tcb?Fmspc=$FM&fmspc=zz",                'fmspc' ],
    [ "$SGX4/tcb?fmspc=zz&fmspc=$FM",                'fmspc' ],   # first wins
    [ "$SGX4/tcb?fmspc=" . ('a' x 5000),             undef ],
    [ "$SGX4/tcb?fmspc=$FM&" . join('&', map { "k$_=v" } 1 .. 40), undef ],
    [ "$SGX4/tcb?fmspc=$FM&update=bogus",            'update' ],
    [ "$SGX4/tcb?fmspc=$FM&update=",                 'update' ],
    [ "$SGX4/tcb?fmspc=$FM&update=%65arly",          'update' ],
    [ "$SGX4/tcb?fmspc=$FM&update=early&tcbEvaluationDataNumber=17", undef ],
    [ "$SGX4/tcb?fmspc=$FM&tcbEvaluationDataNumber=17&update=standard", undef ],
    [ "$SGX4/tcb?fmspc=$FM&tcbEvaluationDataNumber=12345678901", 'tcbEvaluationDataNumber' ],
    [ "$SGX4/tcb?fmspc=$FM&tcbEvaluationDataNumber=-1", 'tcbEvaluationDataNumber' ],
    [ "$SGX4/tcb?fmspc=$FM&tcbEvaluationDataNumber=", 'tcbEvaluationDataNumber' ],
    [ "$SGX3/tcb?fmspc=00906ea10000&tcbEvaluationDataNumber=8", 'tcbEvaluationDataNumber' ],
    [ "$SGX3/qe/identity?tcbEvaluationDataNumber=8", 'tcbEvaluationDataNumber' ],
    [ "$TDX4/tcb?fmspc=00a06d08000",                 'fmspc' ],
    [ "$TDX4/tcb?fmspc=00a06d080000&update=later",   'update' ],
    # pckcrl
    [ "$SGX4/pckcrl",                                undef ],
    [ "$SGX4/pckcrl?encoding=der",                   undef ],
    [ "$SGX4/pckcrl?ca=",                            'ca' ],
    [ "$SGX4/pckcrl?ca=bogus",                       'ca' ],
    [ "$SGX4/pckcrl?ca=processors",                  'ca' ],
    [ "$SGX4/pckcrl?ca=root",                        'ca' ],
    [ "$SGX4/pckcrl?ca=%70rocessor",                 'ca' ],
    [ "$SGX4/pckcrl?ca=processor%00",                'ca' ],
    [ "$SGX4/pckcrl?ca=bogus&ca=processor",          'ca' ],
    [ "$SGX4/pckcrl?ca=" . ('p' x 3000),             undef ],
    [ "$SGX4/pckcrl?ca=processor&encoding=base64",   'encoding' ],
    [ "$SGX4/pckcrl?ca=processor&encoding=",         'encoding' ],
    [ "$SGX4/pckcrl?ca=processor&encoding=der%00",   'encoding' ],
    [ "$SGX3/pckcrl?ca=platform&encoding=hex",       'encoding' ],
    [ "$SGX4/pckcrl?ca=processor&uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", undef ],
    # crl
    [ "$SGX4/crl",                                   'uri' ],
    [ "$SGX4/crl?uri=",                              'uri' ],
    [ "$SGX4/crl?uri=https://evil.example/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=http://certificates.trustedservices.intel.com/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com.evil.com/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com\@evil.com/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://evil.com/?x=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com:8443/IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der.evil", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com/x/../IntelSGXRootCA.der", 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der%00", 'uri' ],
    [ "$SGX4/crl?uri=https://api.trustedservices.intel.com/sgx/certification/v4/tcb?fmspc=$FM", 'uri' ],
    [ "$SGX4/crl?uri=https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=bogus", 'uri' ],
    [ "$SGX4/crl?uri=https://api.trustedservices.intel.com.evil.com/sgx/certification/v4/pckcrl?ca=processor", 'uri' ],
    [ "$SGX4/crl?uri=https://evil.com/sgx/certification/v4/pckcrl?ca=platform", 'uri' ],
    [ "$SGX4/crl?uri=https://127.0.0.1:" . $o->port . '/IntelSGXRootCA.der', 'uri' ],
    [ "$SGX4/crl?uri=https%3A%2F%2F127.0.0.1%3A" . $o->port . '%2FIntelSGXRootCA.der', 'uri' ],
    [ "$SGX4/crl?uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der?" . ('a' x 2100), 'uri' ],
);

my $before = $o->total;
for my $case (@bad) {
    my ($path, $param) = @$case;
    my $name = length($path) > 110 ? substr($path, 0, 100) . '...' : $path;
    my $r = req($path, "bad $name");
    is($r->{status}, 400, "$name -> 400") or diag(substr($r->{content}, 0, 200));
    if (defined $param) {
        my $j = json_of($r);
        is($j && $j->{parameter}, $param, "$name: parameter $param");
    }
    ok($r->{headers}{'error-code'} && $r->{headers}{'error-message'},
       "$name: Error-Code / Error-Message");
}
is($o->total - $before, 0, 'no malformed request reached the origin')
    or diag(join "\n", sort keys %{ $o->counts });

# G10: GET and HEAD only
for my $m (qw(POST PUT DELETE)) {
    my $r = $t->get("$SGX4/pckcrl?ca=processor", method => $m, body => $m eq 'POST' ? '{}' : undef);
    is($r->{status}, 405, "$m pckcrl -> 405");
    $r = $t->get("$SGX4/tcb?fmspc=90c06f000000", method => $m, body => $m eq 'POST' ? '{}' : undef);
    is($r->{status}, 405, "$m tcb -> 405");
}
is($o->total - $before, 0, '... without an origin request');

# the first occurrence wins the other way round too
{
    my $r = req("$SGX4/tcb?fmspc=$FM&fmspc=zz", 'first fmspc wins');
    is($r->{status}, 200, 'fmspc=<good>&fmspc=zz -> 200');
    $r = req("$SGX4/pckcrl?ca=processor&ca=bogus&encoding=der", 'first ca wins');
    ok($r->{status} == 200 && $r->{content} eq $proc_der, 'ca=processor&ca=bogus -> processor CRL');
}

done_testing();
