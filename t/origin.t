#!/usr/bin/perl
# Self-test of the test origin emulator (t/origin/emulator.pl) and its client
# (t/lib/ThimOrigin.pm): routes and fixture selection, Intel header encoding,
# keep-alive, counting, every fault kind, serve() swaps, reset, and that the
# emulator never outlives its parent or stop().

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

use ThimOrigin;
use ThimPKI;

my $D = "$FindBin::Bin/data";
my $PCS = "$D/intel/pcs";
my $tmp = tempdir('origin-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $pki = ThimPKI::make("$tmp/pki");

my $o = ThimOrigin->start(pki => $pki, data => $D, dir => $tmp);
ok($o->port && $o->ctl_port && $o->port != $o->ctl_port, 'emulator started: ports ' . $o->port . '/' . $o->ctl_port);
ok($o->running, 'emulator running');

# ---------------------------------------------------------------------------
sub slurp {
    my ($f) = @_;
    open(my $h, '<:raw', $f) or die "$f: $!";
    local $/;
    my $d = <$h>;
    return $d;
}

sub spew {
    my ($f, $d) = @_;
    open(my $h, '>:raw', $f) or die "$f: $!";
    print $h $d;
    close $h;
}

sub get { $o->get(@_) }

sub pct_decode { ThimOrigin::pct_decode($_[0]) }

# body equality without dumping kilobytes on failure
sub body_is {
    my ($r, $file, $name) = @_;
    my $exp = slurp($file);
    my $ok = defined $r->{body} && $r->{body} eq $exp;
    ok($ok, $name) or diag(sprintf 'status %s, got %d bytes, expected %d (%s)',
                           $r->{status} // '-', length($r->{body} // ''), length $exp, $file);
}

sub status_is {
    my ($target, $st, $name) = @_;
    my $r = get($target);
    is($r->{status}, $st, $name // "$target -> $st") or diag($r->{error} // $r->{head} // '');
    return $r;
}

sub run_ok {    # run a command (no shell), return (exit status, stdout+stderr)
    my (@cmd) = @_;
    my $pid = open(my $h, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$h> // '';
    close $h;
    return ($?, $out);
}

# signed part, signature hex of an Intel JSON body (independent of the emulator's scanner)
sub intel_parts {
    my ($body) = @_;
    return $body =~ /\A\{"(\w+)":(\{.*\}),"signature":"([0-9a-fA-F]+)"\}\n?\z/s ? ($2, $3, $1) : ();
}

sub intel_signed_offset {
    my ($body) = @_;
    my ($signed) = intel_parts($body);
    return (index($body, $signed), length $signed);
}

my $vn = 0;
# ECDSA P-256 r||s hex over $signed, checked with the public key of the first
# certificate in $chain_pem (or a PEM public key file): true when valid.
sub intel_sig_ok {
    my ($signed, $sighex, $chain_pem_or_pub, $is_pub) = @_;
    $vn++;
    my $pub = "$tmp/pub$vn.pem";
    if ($is_pub) { $pub = $chain_pem_or_pub }
    else {
        my ($leaf) = $chain_pem_or_pub =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/s;
        spew("$tmp/leaf$vn.pem", $leaf);
        my ($st, $out) = run_ok('openssl', 'x509', '-in', "$tmp/leaf$vn.pem", '-pubkey', '-noout', '-out', $pub);
        die "openssl x509: $out" if $st;
    }
    my $rs = pack('H*', $sighex);
    my @int = map {
        my $x = $_;
        $x =~ s/^\x00+//;
        $x = "\x00$x" if !length($x) || ord($x) & 0x80;
        "\x02" . chr(length $x) . $x;
    } substr($rs, 0, 32), substr($rs, 32, 32);
    my $seq = join '', @int;
    spew("$tmp/sig$vn.der", "\x30" . chr(length $seq) . $seq);
    spew("$tmp/signed$vn.bin", $signed);
    my ($st) = run_ok('openssl', 'dgst', '-sha256', '-verify', $pub, '-signature', "$tmp/sig$vn.der", "$tmp/signed$vn.bin");
    return $st == 0;
}

# DER TLV header: (tag, header length, content length)
sub der_tlv {
    my ($s, $off) = @_;
    my $tag = ord substr($s, $off, 1);
    my $l = ord substr($s, $off + 1, 1);
    return ($tag, 2, $l) if $l < 0x80;
    my $nb = $l & 0x7f;
    my $len = 0;
    $len = $len * 256 + ord(substr($s, $off + 1 + $_, 1)) for 1 .. $nb;
    return ($tag, 2 + $nb, $len);
}

sub tbs_range {    # (offset, length) of the TBS of a certificate / CRL
    my ($der) = @_;
    my (undef, $hl) = der_tlv($der, 0);
    my (undef, $h1, $l1) = der_tlv($der, $hl);
    return ($hl, $h1 + $l1);
}

sub diff_positions {
    my ($a, $b) = @_;
    return (-1) if length $a != length $b;
    my $x = $a ^ $b;
    my @p;
    while ($x =~ /[^\x00]/g) { push @p, $-[0] }
    return @p;
}

my $HWID_MILAN = '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d';
my $VCEK_MILAN = "$D/amd/milan/vcek/${HWID_MILAN}_bl2_tee0_snp5_ucode68.der";
my $HWID_GENOA = '0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1';
my $VCEK_GENOA = "$D/amd/genoa/vcek/${HWID_GENOA}_bl10_tee0_snp23_ucode84.der";
my $HWID_TURIN = '1e550a8ee5cf9f4d';
my $VCEK_TURIN = "$D/amd/turin/vcek/${HWID_TURIN}_bl0_tee0_snp0_ucode9_fmc0.der";

# ---------------------------------------------------------------------------
subtest 'fixtures present and intact' => sub {
    ok(-f "$D/SHA256SUMS" && -f "$D/README.md", 'README.md and SHA256SUMS copied');
    my $out = qx{cd '$D' && sha256sum -c --ignore-missing --quiet SHA256SUMS 2>&1};
    is($?, 0, 'sha256sum -c --ignore-missing SHA256SUMS') or diag($out);
};

subtest 'QE identity and the issuer-chain header encoding' => sub {
    my $r = get('/sgx/certification/v4/qe/identity');
    is($r->{status}, 200, 'status 200');
    body_is($r, "$PCS/eval-series/qe_identity_eval19_2025-06-06.json", 'default = newest eval number (19), byte for byte');
    is($r->{headers}{'content-type'}, 'application/json', 'Content-Type');
    like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, 'Request-ID: 32 hex');
    is($r->{headers}{'content-length'}, length $r->{body}, 'Content-Length');
    like($r->{head}, qr{^HTTP/1\.1 200 OK\r\n}, 'HTTP/1.1 status line');
    my $ch = $r->{headers}{'sgx-enclave-identity-issuer-chain'};
    ok(defined $ch, 'SGX-Enclave-Identity-Issuer-Chain present');
    my $pem = slurp("$PCS/eval-series/qe_identity_eval19_2025-06-06.issuer_chain.pem");
    ok(pct_decode($ch) eq $pem, 'chain header pct-decodes to the fixture chain byte for byte');
    like($ch, qr/%20/, 'space as %20');
    like($ch, qr/%0A/, 'LF as %0A');
    like($ch, qr/%0A\z/, 'ends with %0A');
    unlike($ch, qr/\+/, 'no + anywhere');
    like($ch, qr/\A(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+\z/, 'only unreserved characters and upper-case %XX');
    like($ch, qr/%2B/, '+ as %2B') if $pem =~ /\+/;
    like($ch, qr/%2F/, '/ as %2F') if $pem =~ m{/};
    like($ch, qr/%3D/, '= as %3D') if $pem =~ /=/;
    ok(!exists $r->{headers}{'tcb-info-issuer-chain'}, 'no TCB chain header on identity');

    for my $n (17, 18, 19) {
        my $x = get("/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=$n");
        body_is($x, "$PCS/eval-series/qe_identity_eval${n}_2025-06-06.json", "tcbEvaluationDataNumber=$n -> eval-series file");
    }
    body_is(get('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=16'), "$PCS/sgx/qe_identity_eval16_2024-06-28.json", 'N=16 -> sgx/ file');
    body_is(get('/sgx/certification/v4/qe/identity?update=standard'), "$PCS/eval-series/qe_identity_eval19_2025-06-06.json", 'update=standard');
    status_is('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=99', 404, 'unknown eval number -> 404');
    my $t = get('/tdx/certification/v4/qe/identity');
    body_is($t, "$PCS/tdx/qe_identity_eval18_2026-01-07.json", 'TDX QE identity: newest');
    ok(pct_decode($t->{headers}{'sgx-enclave-identity-issuer-chain'} // '') eq slurp("$PCS/tdx/qe_identity_eval18_2026-01-07.issuer_chain.pem"), 'TDX identity chain header (SGX- name)');
    body_is(get('/tdx/certification/v4/qe/identity?tcbEvaluationDataNumber=15'), "$PCS/tdx/qe_identity_eval15_2023-06-08.json", 'TDX N=15');
    body_is(get('/sgx/certification/v3/qe/identity'), "$PCS/eval-series/qe_identity_eval19_2025-06-06.json", 'v3 identity (same format)');
    status_is('/sgx/certification/v4/qve/identity', 404, 'QvE identity: no fixture -> 404');
    status_is('/sgx/certification/v4/qe/identity?update=sometimes', 400, 'bad update -> 400');
};

subtest 'TCB info by FMSPC' => sub {
    my $f = "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.json";
    my $lo = get('/sgx/certification/v4/tcb?fmspc=00906ea10000');
    my $up = get('/sgx/certification/v4/tcb?fmspc=00906EA10000');
    body_is($lo, $f, 'lower-case fmspc');
    body_is($up, $f, 'upper-case fmspc');
    ok(pct_decode($up->{headers}{'tcb-info-issuer-chain'} // '') eq slurp("$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.issuer_chain.pem"), 'TCB-Info-Issuer-Chain = fixture chain');
    ok(!exists $up->{headers}{'sgx-tcb-info-issuer-chain'}, 'v4: no SGX-TCB-Info-Issuer-Chain');
    body_is(get('/sgx/certification/v4/tcb?fmspc=90806f000000'), "$PCS/sgx/tcb_90806f000000_eval19_2025-08-08.json", 'newest of two eval numbers');
    body_is(get('/sgx/certification/v4/tcb?fmspc=90806f000000&tcbEvaluationDataNumber=16'), "$PCS/sgx/tcb_90806f000000_eval16_2024-06-28.json", 'older eval number on request');
    body_is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000&update=early'), $f, 'update=early');
    my $t = get('/tdx/certification/v4/tcb?fmspc=00A06D080000');
    body_is($t, "$PCS/tdx/tcb_00a06d080000_eval18_2026-02-26.json", 'TDX tcb (verbatim, trailing LF kept)');
    like($t->{body}, qr/\}\n\z/, 'trailing LF served');
    body_is(get('/sgx/certification/v4/tcb?fmspc=00a06d080000'), "$PCS/sgx/tcb_00a06d080000_eval18_2026-02-28.json", 'same FMSPC, SGX route -> SGX body');
    my $v3 = get('/sgx/certification/v3/tcb?fmspc=00906ea10000');
    body_is($v3, "$PCS/v3/tcb_00906ea10000_eval8_2020-05-18.json", 'v3 tcb');
    ok(pct_decode($v3->{headers}{'sgx-tcb-info-issuer-chain'} // '') eq slurp("$PCS/v3/tcb_00906ea10000_eval8_2020-05-18.issuer_chain.pem"), 'v3: SGX-TCB-Info-Issuer-Chain');
    status_is('/tdx/certification/v3/tcb?fmspc=00a06d080000', 404, 'no TDX v3');
    status_is('/sgx/certification/v4/tcb?fmspc=000000000000', 404, 'unknown fmspc -> 404');
    my $e = status_is('/sgx/certification/v4/tcb', 400, 'missing fmspc -> 400');
    ok($e->{headers}{'error-code'} && $e->{headers}{'error-message'}, 'Error-Code / Error-Message on 400');
    status_is('/sgx/certification/v4/tcb?fmspc=00906ea1000', 400, 'short fmspc -> 400');
    status_is('/sgx/certification/v4/tcb?fmspc=00906ea1000g', 400, 'non-hex fmspc -> 400');
    status_is('/sgx/certification/v4/tcb?fmspc=00906ea10000&tcbEvaluationDataNumber=x', 400, 'non-numeric eval number -> 400');
};

subtest 'tcbEvaluationDataNumber selection and update conflict' => sub {
    for my $n (17, 18, 19) {
        body_is(get("/sgx/certification/v4/tcb?fmspc=00606a000000&tcbEvaluationDataNumber=$n"),
                "$PCS/eval-series/tcb_00606a000000_eval${n}_2025-06-06.json", "00606a000000 eval $n");
    }
    body_is(get('/sgx/certification/v4/tcb?fmspc=00606A000000'), "$PCS/eval-series/tcb_00606a000000_eval19_2025-06-06.json", 'default: 19');
    status_is('/sgx/certification/v4/tcb?fmspc=00606a000000&tcbEvaluationDataNumber=20', 404, 'eval 20 -> 404');
    my $r = status_is('/sgx/certification/v4/tcb?fmspc=00606a000000&update=standard&tcbEvaluationDataNumber=17', 400,
                      'update + tcbEvaluationDataNumber -> 400');
    is($r->{headers}{'error-code'}, 'InvalidRequestSyntax', 'Error-Code');
    status_is('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=17&update=early', 400, 'same on identity');
    my $n = get('/sgx/certification/v4/tcbevaluationdatanumbers');
    body_is($n, "$PCS/eval-series/tcbevaluationdatanumbers_sgx_2025-06-03.json", 'tcbevaluationdatanumbers');
    ok(pct_decode($n->{headers}{'tcb-evaluation-data-numbers-issuer-chain'} // '') eq slurp("$PCS/eval-series/tcbevaluationdatanumbers_sgx_2025-06-03.issuer_chain.pem"), 'TCB-Evaluation-Data-Numbers-Issuer-Chain');
    status_is('/tdx/certification/v4/tcbevaluationdatanumbers', 404, 'TDX eval numbers: no fixture -> 404');
};

subtest 'PCK CRLs and root CA CRL' => sub {
    my $r = get('/sgx/certification/v4/pckcrl?ca=platform&encoding=der');
    body_is($r, "$PCS/pckcrl/pckcrl_platform_2025-05-06.der", 'platform DER: newest');
    is($r->{headers}{'content-type'}, 'application/pkix-crl', 'Content-Type pkix-crl');
    ok(pct_decode($r->{headers}{'sgx-pck-crl-issuer-chain'} // '') eq slurp("$PCS/pckcrl/pckcrl_platform_2025-05-06.issuer_chain.pem"), 'SGX-PCK-CRL-Issuer-Chain');
    body_is(get('/sgx/certification/v4/pckcrl?encoding=der&ca=processor'), "$PCS/pckcrl/pckcrl_processor_2020-05-18.der", 'processor DER');
    body_is(get('/sgx/certification/v3/pckcrl?ca=processor&encoding=der'), "$PCS/pckcrl/pckcrl_processor_2020-05-18.der", 'v3 pckcrl');
    my $pem = qx{openssl crl -inform der -outform pem -in '$PCS/pckcrl/pckcrl_platform_2025-05-06.der'};
    my $p = get('/sgx/certification/v4/pckcrl?ca=platform&encoding=pem');
    is($p->{headers}{'content-type'}, 'application/x-pem-file', 'PEM Content-Type');
    ok($p->{body} eq $pem, 'encoding=pem = openssl crl -outform pem');
    ok(get('/sgx/certification/v4/pckcrl?ca=platform')->{body} eq $pem, 'no encoding -> PEM (Intel PCS)');
    status_is('/sgx/certification/v4/pckcrl?ca=nope&encoding=der', 400, 'bad ca -> 400');
    status_is('/sgx/certification/v4/pckcrl?encoding=der', 400, 'missing ca -> 400');
    status_is('/sgx/certification/v4/pckcrl?ca=platform&encoding=hex', 400, 'bad encoding -> 400');
    my $root = get('/IntelSGXRootCA.der');
    body_is($root, "$D/intel/root/IntelSGXRootCA_crl_2026-02-26.der", 'root CA CRL: newest, raw DER');
    is($root->{headers}{'content-type'}, 'application/pkix-crl', 'root CRL Content-Type');
    body_is(get('/IntelSGXRootCA.crl'), "$D/intel/root/IntelSGXRootCA_crl_2026-02-26.der", '.crl location: same');
};

subtest 'AMD KDS' => sub {
    my @forms = ("blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68", "ucodeSPL=68&snpSPL=05&teeSPL=00&blSPL=02",
                 "snpSPL=5&blSPL=02&ucodeSPL=068", "blSPL=2&snpSPL=5&ucodeSPL=68");
    for my $q (@forms) {
        my $r = get("/vcek/v1/Milan/$HWID_MILAN?$q");
        body_is($r, $VCEK_MILAN, "Milan VCEK ?$q");
    }
    is(get("/vcek/v1/Milan/$HWID_MILAN?$forms[0]")->{headers}{'content-type'}, 'application/pkix-cert', 'Content-Type pkix-cert');
    body_is(get('/vcek/v1/Milan/' . uc($HWID_MILAN) . "?$forms[0]"), $VCEK_MILAN, 'upper-case hwid accepted');
    status_is("/vcek/v1/Milan/$HWID_MILAN?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=69", 404, 'other TCB -> 404');
    status_is("/vcek/v1/Milan/$HWID_MILAN?blSPL=x&teeSPL=0&snpSPL=5&ucodeSPL=68", 400, 'non-numeric SPL -> 400');
    status_is("/vcek/v1/Genoa/$HWID_MILAN?$forms[0]", 404, 'Milan chip under Genoa -> 404');
    body_is(get("/vcek/v1/Genoa/$HWID_GENOA?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84"), $VCEK_GENOA, 'Genoa VCEK');
    body_is(get("/vcek/v1/Turin/$HWID_TURIN?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9"), $VCEK_TURIN, 'Turin VCEK');
    body_is(get("/vcek/v1/Turin/$HWID_TURIN?ucodeSPL=09&snpSPL=00&blSPL=0"), $VCEK_TURIN, 'Turin VCEK, omitted SPLs = 0, padded');
    status_is("/vcek/v1/Turin/$HWID_TURIN?fmcSPL=1&ucodeSPL=9", 404, 'Turin other fmcSPL -> 404');
    status_is("/vcek/v1/Turin/$HWID_TURIN" . ('0' x 112) . '?ucodeSPL=9', 404, 'Turin with 128-hex id -> 404 (as KDS)');
    for my $p (qw(Milan Genoa Turin)) {
        my $r = get("/vcek/v1/$p/cert_chain");
        body_is($r, "$D/amd/\L$p\E/cert_chain.pem", "$p cert_chain");
        is($r->{headers}{'content-type'}, 'application/x-pem-file', "$p cert_chain Content-Type");
        body_is(get("/vlek/v1/$p/cert_chain"), "$D/amd/\L$p\E/vlek_cert_chain.pem", "$p vlek cert_chain");
    }
    like(get('/vcek/v1/Turin/cert_chain')->{body}, qr/\r\n/, 'Turin chain keeps CRLF');
    for my $p (qw(Milan Genoa)) {
        my $r = get("/vcek/v1/$p/crl");
        body_is($r, "$D/amd/\L$p\E/crl.der", "$p crl");
        is($r->{headers}{'content-type'}, 'application/pkix-crl', "$p crl Content-Type");
        body_is(get("/vlek/v1/$p/crl"), "$D/amd/\L$p\E/crl.der", "$p vlek crl");
    }
    status_is('/vcek/v1/Turin/crl', 404, 'Turin crl: none -> 404');
    status_is('/vcek/v1/Venice/cert_chain', 404, 'unknown product -> 404');
    status_is('/vcek/v1/milan/cert_chain', 404, 'product name is case-sensitive');
    status_is('/vcek/v2/Milan/cert_chain', 404, 'unknown version -> 404');
    status_is('/vlek/v1/Milan/cert', 404, 'VLEK cert not served');
};

subtest 'other routes' => sub {
    status_is('/', 404);
    status_is('/nope', 404);
    status_is('/sgx/certification/v4/fmspcs', 404);
    status_is('/sgx/certification/v4/tcb/', 404);
    my $s = $o->connect;
    my $r = ThimOrigin::request($s, 'POST', '/sgx/certification/v4/tcb?fmspc=00906ea10000', 'Content-Length' => 0);
    is($r->{status}, 405, 'POST -> 405');
    close $s;
};

subtest 'keep-alive' => sub {
    my $s = $o->connect;
    my @t = ('/sgx/certification/v4/qe/identity', "/vcek/v1/Milan/$HWID_MILAN?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
             '/sgx/certification/v4/pckcrl?ca=platform&encoding=der');
    my @f = ("$PCS/eval-series/qe_identity_eval19_2025-06-06.json", $VCEK_MILAN, "$PCS/pckcrl/pckcrl_platform_2025-05-06.der");
    for my $i (0 .. 2) {
        my $r = ThimOrigin::request($s, 'GET', $t[$i], Connection => '');
        body_is($r, $f[$i], "request " . ($i + 1) . " on one connection");
        ok(!$r->{closed}, 'connection kept open');
    }
    my $h = ThimOrigin::request($s, 'HEAD', $t[0]);
    is($h->{status}, 200, 'HEAD');
    is($h->{headers}{'content-length'}, -s $f[0], 'HEAD Content-Length');
    my $n = ThimOrigin::request($s, 'GET', '/nope');
    is($n->{status}, 404, '404 keeps the connection');
    ok(!$n->{closed}, 'still open');
    my $c = ThimOrigin::request($s, 'GET', $t[0], Connection => 'close');
    body_is($c, $f[0], 'request with Connection: close');
    is(lc($c->{headers}{connection} // ''), 'close', 'answered with Connection: close');
    my $eof = !sysread($s, my $x, 1);
    ok($eof, 'server closed the connection');
    close $s;

    # HTTP/1.0 without keep-alive closes
    my $s2 = $o->connect;
    print $s2 "GET /IntelSGXRootCA.der HTTP/1.0\r\n\r\n";
    local $/;
    my $all = <$s2> // '';
    like($all, qr{^HTTP/1\.1 200 }, 'HTTP/1.0 request answered (HTTP/1.1 status line) and closed');
    close $s2;
};

subtest 'counts' => sub {
    $o->reset;
    is($o->total, 0, 'reset -> total 0');
    get('/sgx/certification/v4/tcb?fmspc=00906ea10000');
    get('/sgx/certification/v4/tcb?fmspc=00906ea10000');
    get('/sgx/certification/v4/tcb?fmspc=00906EA10000');
    get('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=17');
    get('/sgx/certification/v4/qe/identity');
    get('/nope');
    $o->ping;
    is($o->count('/sgx/certification/v4/tcb'), 3, 'path only: any query');
    is($o->count('/sgx/certification/v4/tcb?fmspc=00906ea10000'), 2, 'exact path?query');
    is($o->count('/sgx/certification/v4/tcb?fmspc=00906EA10000'), 1, 'no normalisation');
    is($o->count('/sgx/certification/v4/qe/identity'), 2, 'identity, with and without query');
    is($o->count('/vcek/v1/Milan/cert_chain'), 0, 'never requested');
    is($o->total, 6, 'total (control requests not counted)');
    is_deeply($o->counts, { '/sgx/certification/v4/tcb?fmspc=00906ea10000' => 2,
                            '/sgx/certification/v4/tcb?fmspc=00906EA10000' => 1,
                            '/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=17' => 1,
                            '/sgx/certification/v4/qe/identity' => 1, '/nope' => 1 }, 'counts hash');
};

subtest 'fault: status' => sub {
    $o->reset;
    $o->fault('/sgx/certification/v4/tcb', status => 429);
    my $r = get('/sgx/certification/v4/tcb?fmspc=00906ea10000');
    is($r->{status}, 429, 'status 429');
    is($r->{headers}{'retry-after'}, 30, 'Retry-After default 30');
    like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, 'Request-ID on errors too');
    is(get('/sgx/certification/v4/qe/identity')->{status}, 200, 'other paths unaffected');
    $o->clear_faults;
    $o->fault('/sgx/', status => 503, retry_after => 7);
    $r = get('/sgx/certification/v4/qe/identity');
    is($r->{status}, 503, 'status 503');
    is($r->{headers}{'retry-after'}, 7, 'Retry-After 7 on 503');
    $o->fault('/sgx/certification/v4/qe', status => 500);
    is(get('/sgx/certification/v4/qe/identity')->{status}, 500, 'longest prefix wins');
    is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000')->{status}, 503, 'shorter prefix still applies elsewhere');
    $o->clear_faults;
    $o->fault('/sgx/certification/v4/tcb?fmspc=90806f', status => 404);
    is(get('/sgx/certification/v4/tcb?fmspc=90806f000000')->{status}, 404, "prefix with '?' matches path+query");
    is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000')->{status}, 200, '... and only that');
    $o->clear_faults;
    is(get('/sgx/certification/v4/tcb?fmspc=90806f000000')->{status}, 200, 'clear_faults');
    is($o->count('/sgx/certification/v4/tcb'), 5, 'faulted requests are counted');
};

subtest 'fault: times' => sub {
    $o->fault('/IntelSGXRootCA', status => 500, times => 1);
    is(get('/IntelSGXRootCA.der')->{status}, 500, 'first request faulted');
    is(get('/IntelSGXRootCA.der')->{status}, 200, 'second one not');
    is_deeply($o->faults, [], 'fault consumed');
    $o->fault('/IntelSGXRootCA', drop => 1, times => 2);
    ok(get('/IntelSGXRootCA.der')->{error}, 'dropped 1');
    ok(get('/IntelSGXRootCA.der')->{error}, 'dropped 2');
    is(get('/IntelSGXRootCA.der')->{status}, 200, 'then served');
};

subtest 'fault: latency' => sub {
    my $t0 = time;
    get('/vcek/v1/Milan/cert_chain');
    my $base = time - $t0;
    $o->fault('/vcek/v1/Milan/cert_chain', latency => 400);
    $t0 = time;
    my $r = get('/vcek/v1/Milan/cert_chain');
    my $dt = time - $t0;
    body_is($r, "$D/amd/milan/cert_chain.pem", 'body intact');
    cmp_ok($dt, '>=', 0.38, sprintf 'delayed (%.0f ms)', $dt * 1000);
    cmp_ok($dt, '<', 5, 'but not absurdly');
    note sprintf 'undelayed request: %.0f ms', $base * 1000;
    $o->clear_faults;
};

subtest 'fault: drop' => sub {
    $o->fault('/vcek/v1/Genoa/', drop => 1);
    my $s = $o->connect;
    my $r = ThimOrigin::request($s, 'GET', '/vcek/v1/Genoa/cert_chain');
    ok($r->{error}, 'connection closed without a response') or diag(explain $r);
    ok(!$r->{status}, 'no status');
    close $s;
    $o->clear_faults;
    body_is(get('/vcek/v1/Genoa/cert_chain'), "$D/amd/genoa/cert_chain.pem", 'after clear_faults');
};

subtest 'fault: truncate' => sub {
    my $f = "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.json";
    my $exp = slurp($f);
    $o->fault('/sgx/certification/v4/tcb', truncate => 1);
    my $s = $o->connect;
    my $r = ThimOrigin::request($s, 'GET', '/sgx/certification/v4/tcb?fmspc=00906ea10000');
    is($r->{status}, 200, 'status 200');
    is(length $r->{body}, int(length($exp) / 2), 'half the body');
    is($r->{headers}{'content-length'}, length $r->{body}, 'Content-Length matches what is sent');
    ok($r->{body} eq substr($exp, 0, length $r->{body}), 'a prefix of the real body');
    ok(!$r->{closed}, 'connection still usable');
    $o->clear_faults;
    body_is(ThimOrigin::request($s, 'GET', '/sgx/certification/v4/tcb?fmspc=00906ea10000'), $f, 'next request on the same connection intact');
    close $s;
};

subtest 'fault: corrupt' => sub {
    my $f = "$PCS/sgx/tcb_00906ed50000_eval19_2025-06-04.json";
    my $exp = slurp($f);
    my $chain = slurp("$PCS/sgx/tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem");
    my ($signed, $sig) = intel_parts($exp);
    ok(intel_sig_ok($signed, $sig, $chain), 'fixture signature verifies with the TCB Signing cert');
    $o->fault('/sgx/certification/v4/tcb', corrupt => 1);
    my $r = get('/sgx/certification/v4/tcb?fmspc=00906ed50000');
    my @d = diff_positions($r->{body}, $exp);
    is(scalar @d, 1, 'exactly one byte differs');
    my ($off, $len) = intel_signed_offset($exp);
    ok($d[0] >= $off && $d[0] < $off + $len, "inside the signed tcbInfo value (at $d[0])");
    like(substr($r->{body}, $d[0], 1), qr/[0-9]/, 'a digit');
    my ($s2, $g2) = intel_parts($r->{body});
    ok(defined $s2 && !intel_sig_ok($s2, $g2, $chain), 'signature no longer verifies');
    ok(pct_decode($r->{headers}{'tcb-info-issuer-chain'} // '') eq $chain, 'chain header unchanged');

    $o->fault('/vcek/', corrupt => 1);
    my $v = get("/vcek/v1/Milan/$HWID_MILAN?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68")->{body};
    my $vexp = slurp($VCEK_MILAN);
    @d = diff_positions($v, $vexp);
    is(scalar @d, 1, 'VCEK: one byte differs');
    my ($to, $tl) = tbs_range($vexp);
    ok($d[0] >= $to && $d[0] < $to + $tl, "VCEK: inside the TBS (at $d[0])");
    $o->clear_faults;
};

subtest 'fault: resign' => sub {
    my $f = "$PCS/sgx/tcb_00906ed50000_eval19_2025-06-04.json";
    my $exp = slurp($f);
    my $chain = slurp("$PCS/sgx/tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem");
    $o->fault('/sgx/certification/v4/tcb', resign => 1);
    $o->fault('/sgx/certification/v4/qe/identity', resign => 1);
    my $r = get('/sgx/certification/v4/tcb?fmspc=00906ED50000');
    is($r->{status}, 200, 'status 200');
    my ($signed, $sig) = intel_parts($r->{body});
    my ($osigned, $osig) = intel_parts($exp);
    ok(defined $signed && $signed eq $osigned, 'signed tcbInfo bytes unchanged');
    like($sig, qr/^[0-9a-f]{128}$/, 'signature: 128 lower-case hex');
    isnt($sig, $osig, 'signature replaced');
    is(length $r->{body}, length $exp, 'same length');
    ok(pct_decode($r->{headers}{'tcb-info-issuer-chain'} // '') eq $chain, "Intel's issuer chain kept");
    ok(intel_sig_ok($osigned, $osig, $chain), 'original verifies with the TCB Signing cert');
    ok(!intel_sig_ok($signed, $sig, $chain), 'resigned does NOT verify with the TCB Signing cert');
    my $key = $o->state_dir . '/keys/ec-prime256v1.pem';
    my ($st, $out) = run_ok('openssl', 'ec', '-in', $key, '-pubout', '-out', "$tmp/fresh.pub");
    is($st, 0, 'fresh key exists') or diag $out;
    ok(intel_sig_ok($signed, $sig, "$tmp/fresh.pub", 1), 'resigned signature is a valid ECDSA P-256 signature (fresh key)');
    my $again = get('/sgx/certification/v4/tcb?fmspc=00906ed50000');
    ok($again->{body} eq $r->{body}, 'stable across requests');

    my $q = get('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=18');
    my ($qs, $qg) = intel_parts($q->{body});
    my $qexp = slurp("$PCS/eval-series/qe_identity_eval18_2025-06-06.json");
    my ($qos) = intel_parts($qexp);
    ok(defined $qs && $qs eq $qos, 'identity: enclaveIdentity bytes unchanged');
    ok(!intel_sig_ok($qs, $qg, slurp("$PCS/eval-series/qe_identity_eval18_2025-06-06.issuer_chain.pem")), 'identity: resigned does not verify');

    # PCK CRL (ECDSA): re-signed, TBS unchanged
    $o->fault('/sgx/certification/v4/pckcrl', resign => 1);
    my $crl = get('/sgx/certification/v4/pckcrl?ca=platform&encoding=der')->{body};
    my $cexp = slurp("$PCS/pckcrl/pckcrl_platform_2025-05-06.der");
    my ($co, $cl) = tbs_range($cexp);
    ok(substr($crl, $co, $cl) eq substr($cexp, $co, $cl), 'CRL TBS unchanged');
    ok($crl ne $cexp, 'CRL signature changed');
    spew("$tmp/crl_rs.der", $crl);
    my $ca = "$PCS/pckcrl/pckcrl_platform_2025-05-06.issuer_chain.pem";
    ($st, $out) = run_ok('openssl', 'crl', '-inform', 'der', '-in', "$PCS/pckcrl/pckcrl_platform_2025-05-06.der", '-CAfile', $ca, '-noout');
    like($out, qr/verify OK/, 'original CRL verifies (openssl crl -CAfile)') or diag $out;
    ($st, $out) = run_ok('openssl', 'crl', '-inform', 'der', '-in', "$tmp/crl_rs.der", '-CAfile', $ca, '-noout');
    like($out, qr/verify fail/, 'resigned CRL does not verify') or diag $out;
    ($st) = run_ok('openssl', 'crl', '-inform', 'der', '-in', "$tmp/crl_rs.der", '-noout');
    is($st, 0, 'resigned CRL still parses');

    # VCEK (RSA-PSS by the ASK): re-signed with a fresh RSA key of the same size
    $o->fault('/vcek/', resign => 1);
    my $v = get("/vcek/v1/Milan/$HWID_MILAN?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68")->{body};
    my $vexp = slurp($VCEK_MILAN);
    my ($vo, $vl) = tbs_range($vexp);
    ok(substr($v, $vo, $vl) eq substr($vexp, $vo, $vl), 'VCEK TBS (subject, issuer, extensions) unchanged');
    is(length $v, length $vexp, 'VCEK same length');
    ok($v ne $vexp, 'VCEK signature changed');
    spew("$tmp/vcek_rs.der", $v);
    run_ok('openssl', 'x509', '-inform', 'der', '-in', "$tmp/vcek_rs.der", '-out', "$tmp/vcek_rs.pem");
    run_ok('openssl', 'x509', '-inform', 'der', '-in', $VCEK_MILAN, '-out', "$tmp/vcek.pem");
    ($st, $out) = run_ok('openssl', 'verify', '-CAfile', "$D/amd/milan/cert_chain.pem", "$tmp/vcek.pem");
    is($st, 0, 'original VCEK verifies against ASK+ARK') or diag $out;
    ($st, $out) = run_ok('openssl', 'verify', '-CAfile', "$D/amd/milan/cert_chain.pem", "$tmp/vcek_rs.pem");
    isnt($st, 0, 'resigned VCEK does not verify');
    like($out, qr/signature failure/i, '... because of its signature');
    $o->clear_faults;
    body_is(get("/vcek/v1/Milan/$HWID_MILAN?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"), $VCEK_MILAN, 'after clear_faults: original');
};

subtest 'serve' => sub {
    my $new = "$PCS/sgx/tcb_90806f000000_eval19_2025-08-08.json";
    $o->serve('/sgx/certification/v4/tcb?fmspc=00906ea10000', file => $new);
    my $r = get('/sgx/certification/v4/tcb?fmspc=00906EA10000&update=standard');
    body_is($r, $new, 'swapped body for the canonical key (upper case, update=standard)');
    ok(pct_decode($r->{headers}{'tcb-info-issuer-chain'} // '') eq slurp("$PCS/sgx/tcb_90806f000000_eval19_2025-08-08.issuer_chain.pem"),
       "chain header from the served file's sibling chain");
    is($r->{headers}{'content-type'}, 'application/json', 'Content-Type');
    body_is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000&tcbEvaluationDataNumber=16'),
            "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.json", 'other canonical key not swapped');
    body_is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000&update=early'),
            "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.json", 'update=early is a different key');

    $o->serve('/sgx/certification/v4/tcb?fmspc=00906EA10000&update=early', file => $new,
              chain => "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.issuer_chain.pem");
    $r = get('/sgx/certification/v4/tcb?fmspc=00906EA10000&update=early');
    body_is($r, $new, 'exact raw path?query');
    ok(pct_decode($r->{headers}{'tcb-info-issuer-chain'} // '') eq slurp("$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.issuer_chain.pem"), 'explicit chain');

    $o->serve('/vcek/v1/Milan/cert_chain', body => "hello\n", headers => { 'X-Test' => 'yes', 'Request-ID' => undef });
    $r = get('/vcek/v1/Milan/cert_chain');
    is($r->{body}, "hello\n", 'inline body');
    is($r->{headers}{'x-test'}, 'yes', 'extra header');
    ok(!exists $r->{headers}{'request-id'}, 'header removed');

    $o->serve('/sgx/certification/v4/qe/identity', file => 'intel/pcs/sgx/qe_identity_eval16_2024-06-28.json', status => 200);
    body_is(get('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=18'), "$PCS/sgx/qe_identity_eval16_2024-06-28.json",
            'path-only key matches every query (file relative to the data dir)');
    status_is('/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=x', 400, 'but not requests the route rejects');

    $o->serve("/vcek/v1/Turin/$HWID_TURIN?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=1&ucodeSPL=9", file => $VCEK_TURIN);
    body_is(get("/vcek/v1/Turin/\U$HWID_TURIN\E?snpSPL=01&ucodeSPL=9"), $VCEK_TURIN, 'VCEK canonical key (no fixture for that TCB)');

    $o->serve('/sgx/certification/v4/tcb?fmspc=0123456789ab', status => 410);
    status_is('/sgx/certification/v4/tcb?fmspc=0123456789AB', 410, 'status-only serve (410)');

    $o->serve('/sgx/certification/v4/pckcert', file => "$D/intel/pckcerts/pckcert_00906ea10000_req-cpusvn-0f0f0205ff8007000000000000000000_pcesvn-0900_pceid-0000.pem",
              chain => "$D/intel/pckcerts/pckcert_00906ea10000_req-cpusvn-0f0f0205ff8007000000000000000000_pcesvn-0900_pceid-0000.issuer_chain.pem",
              headers => { 'SGX-FMSPC' => '00906EA10000' });
    $r = get('/sgx/certification/v4/pckcert?encrypted_ppid=00&cpusvn=00&pcesvn=0000&pceid=0000');
    is($r->{status}, 401, 'pckcert without the API key: 401, as PCS');
    $r = get('/sgx/certification/v4/pckcert?encrypted_ppid=' . ('0' x 768) . '&cpusvn=' . ('0' x 32)
             . '&pcesvn=0000&pceid=0000', 'Ocp-Apim-Subscription-Key' => ThimOrigin::DEFAULT_API_KEY);
    is($r->{status}, 200, 'serve on a route without fixtures');
    ok(exists $r->{headers}{'sgx-pck-certificate-issuer-chain'}, 'with its chain header');

    $o->fault('/sgx/certification/v4/tcb', corrupt => 1, times => 1);
    my @d = diff_positions(get('/sgx/certification/v4/tcb?fmspc=00906ea10000')->{body}, slurp($new));
    is(scalar @d, 1, 'faults apply to served bodies');

    $o->reset;
    body_is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000'), $new, 'reset keeps serves');
    $o->unserve('/sgx/certification/v4/tcb?fmspc=00906ea10000');
    body_is(get('/sgx/certification/v4/tcb?fmspc=00906ea10000'), "$PCS/sgx/tcb_00906ea10000_eval16_2024-06-28.json", 'unserve');
    $o->clear_serves;
    is_deeply($o->serves, {}, 'clear_serves');
    body_is(get('/vcek/v1/Milan/cert_chain'), "$D/amd/milan/cert_chain.pem", 'fixture back');
};

subtest 'reset' => sub {
    $o->fault('/', status => 500);
    is(get('/IntelSGXRootCA.der')->{status}, 500, 'fault active');
    ok($o->total > 0, 'requests counted');
    $o->reset;
    is($o->total, 0, 'counts cleared');
    is_deeply($o->counts, {}, 'counts hash empty');
    is_deeply($o->faults, [], 'faults cleared');
    is(get('/IntelSGXRootCA.der')->{status}, 200, 'answers normally');
    is($o->total, 1, 'counting again');
};

subtest 'client errors' => sub {
    ok(!eval { $o->fault('/x', bogus => 1); 1 }, 'unknown fault option dies');
    ok(!eval { $o->fault('/x'); 1 }, 'fault without a fault dies');
    ok(!eval { $o->serve('/x', file => '/nonexistent/file'); 1 }, 'unreadable serve file dies');
};

subtest 'stop and parent death' => sub {
    my $o2 = ThimOrigin->start(pki => $pki, data => $D, dir => $tmp);
    my $pid = $o2->pid;
    my $s = $o2->connect;    # an idle keep-alive connection: one more process
    is(ThimOrigin::request($s, 'GET', '/IntelSGXRootCA.der')->{status}, 200, 'second emulator answers');
    ok(ThimOrigin::group_alive($pid), 'process group alive');
    my $t0 = time;
    $o2->stop;
    ok(!ThimOrigin::pid_alive($pid), sprintf 'emulator gone after stop() (%.2f s)', time - $t0);
    ok(!ThimOrigin::group_alive($pid), 'no process left in its group');
    close $s;

    # parent dies (SIGKILL: no DESTROY): the emulator notices within ~0.5 s
    pipe(my $r, my $w) or die;
    my $kid = fork;
    die "fork: $!" unless defined $kid;
    if (!$kid) {
        close $r;
        my $x = eval { ThimOrigin->start(pki => $pki, data => $D, dir => $tmp) };
        syswrite($w, $x ? $x->pid . ' ' . $x->port . "\n" : "fail\n");
        sleep 60;
        POSIX::_exit(0);
    }
    close $w;
    my $line = <$r> // '';
    my ($epid, $eport) = $line =~ /^(\d+) (\d+)/;
    ok($epid, 'emulator started by a child process') or return;
    my $c = ThimOrigin::connect({ port => $eport, pki => $pki });
    is(ThimOrigin::request($c, 'GET', '/IntelSGXRootCA.der')->{status}, 200, 'it answers (keep-alive connection held open)');
    kill 'KILL', $kid;
    waitpid($kid, 0);
    $t0 = time;
    sleep 0.05 while ThimOrigin::group_alive($epid) && time - $t0 < 5;
    ok(!ThimOrigin::pid_alive($epid), sprintf 'emulator exited after its parent died (%.2f s)', time - $t0);
    ok(!ThimOrigin::group_alive($epid), 'its connection children too');
    ok(!sysread($c, my $x, 1), 'held connection closed');
    close $c;
};

my $pid = $o->pid;
$o->stop;
ok(!ThimOrigin::pid_alive($pid) && !ThimOrigin::group_alive($pid), 'main emulator stopped, nothing left behind');

done_testing();
