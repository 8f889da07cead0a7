#!/usr/bin/perl
# The Azure DCAP client's request shapes (PROTOCOLS.md 1b): customParameter
# (base64 "key=value;..." with '+' kept, honoured tcbEvaluationDataNumber,
# ignored region, 400 otherwise), pckcrl?uri= (double percent-encoded CDP
# URLs mapped to the root / processor / platform CRL as PEM, anything else
# 400 without an origin request), and the exact tcb / identity / CRL URLs
# the client sends with clientid and api-version, with the response
# headers it insists on.

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

my $SGX4 = '/sgx/certification/v4';
my $SGX3 = '/sgx/certification/v3';
my $TDX4 = '/tdx/certification/v4';
my $AZ_TCB = 'clientid=production_client&api-version=2018-10-01-preview';
my $AZ_CRL = 'clientid=production_client&api-version=2020-02-12-preview';
my %AZ_HDR = (headers => { Accept => '*/*' });   # all the client sends

sub fx { ThimSetup::fixture(@_) }
sub chain_of { ThimSetup::intel_pct_encode(fx("$_[0].issuer_chain.pem")) }
sub b64 { encode_base64($_[0], '') }
sub json_of { eval { JSON::PP::decode_json($_[0]{content}) } }

sub pem_crl {
    my ($der) = @_;
    return "-----BEGIN X509 CRL-----\n"
        . join('', map { "$_\n" } unpack('(A64)*', encode_base64($der, '')))
        . "-----END X509 CRL-----\n";
}

# pct-encode everything but unreserved (what Azure's client does to the uri)
sub enc { ThimSetup::intel_pct_encode($_[0]) }

# what the client does with a chain header: curl_easy_unescape, no '+'
sub unescape { my ($s) = @_; $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }

# the checks the Azure client makes on a 200 (0xe001 / 0xe019 otherwise)
sub azure_ok {
    my ($r, $name, $chain_name, $chain) = @_;
    is($r->{status}, 200, "$name: 200") or diag(substr($r->{content}, 0, 200));
    is($r->{status_line}, 'HTTP/1.1 200 OK', "$name: HTTP/1.1 status line");
    my ($age) = ($r->{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/;
    ok(defined $age && $age >= 1 && $age <= 86400, "$name: Cache-Control max-age 1..86400")
        or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
    ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), "$name: no empty header value");
    like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, "$name: Request-ID");
    ok(!exists $r->{headers}{location}, "$name: no redirect");
    return unless $chain_name;
    my @h = grep { lc $_->[0] eq lc $chain_name } @{ $r->{header_list} };
    is(scalar @h, 1, "$name: one $chain_name header");
    hdr_is($r, $chain_name, $chain, "$name: $chain_name value") if defined $chain;
    my $pem = unescape($r->{headers}{lc $chain_name} // '');
    like($pem, qr/\A(?:-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+\/=\n]+-----END CERTIFICATE-----\n)+\z/,
         "$name: chain unescapes (no + for space) to PEM");
}

sub bad {
    my ($path, $name, $param) = @_;
    my $r = $t->get($path, %AZ_HDR);
    is($r->{status}, 400, "$name -> 400") or diag(substr($r->{content}, 0, 200));
    my $j = json_of($r);
    ok($j && length($j->{error} // ''), "$name: JSON error");
    if (ref $param) {       # one of several names is right
        my $got = $j && $j->{parameter};
        ok(defined $got && grep({ $_ eq $got } @$param),
           "$name: parameter " . join(' or ', @$param)) or diag('parameter: ' . ($got // 'none'));
    } elsif (defined $param) {
        is($j && $j->{parameter}, $param, "$name: parameter $param");
    }
    ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), "$name: no empty header value");
    return $r;
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

sub xcs { $_[0]{headers}{'x-cache-status'} // '' }

my $proc_der = fx('intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der');
my $plat_der = fx('intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der');
my $root_der = fx('intel/root/IntelSGXRootCA_crl_2026-02-26.der');
# the configured root CA, Intel-encoded; the file has no final newline, but a
# chain value always ends with %0A (PROTOCOLS.md 2: QCNL drops the last two
# characters otherwise)
my $ROOT_CHAIN = ThimSetup::intel_pct_encode(fx('intel/root/Intel_SGX_Root_CA.pem') =~ s/\n?\z/\n/r);
my $PROC_CHAIN = chain_of('intel/pcs/pckcrl/pckcrl_processor_2020-05-18');
my $PLAT_CHAIN = chain_of('intel/pcs/pckcrl/pckcrl_platform_2025-05-06');

# ---------------------------------------------------------------------------
# customParameter on tcb

my $E17 = 'intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06';
my $E18 = 'intel/pcs/eval-series/tcb_00606a000000_eval18_2025-06-06';
my $E19 = 'intel/pcs/eval-series/tcb_00606a000000_eval19_2025-06-06';
my $TCB = "$SGX4/tcb?fmspc=00606a000000";

{
    my $cp = b64('tcbEvaluationDataNumber=17;region=us central');
    my $r = $t->get("$TCB&customParameter=$cp&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'tcb customParameter eval 17', 'SGX-TCB-Info-Issuer-Chain', chain_of($E17));
    ok($r->{content} eq fx("$E17.json"), 'customParameter eval 17: the eval 17 body');
    like($r->{content}, qr/"tcbEvaluationDataNumber":17,/, '... which says 17');
    hdr_is($r, 'TCB-Info-Issuer-Chain', chain_of($E17), '... and the v4 chain name too');
    is($o->count("$TCB&tcbEvaluationDataNumber=17"), 1,
       'origin asked fmspc=..&tcbEvaluationDataNumber=17');
    my $n = $o->total;

    $r = $t->get("$TCB&tcbEvaluationDataNumber=17");
    is(xcs($r), 'HIT', 'the query parameter form shares the entry');
    $r = $t->get("$TCB&customParameter=" . b64('region=westus;tcbEvaluationDataNumber=017')
                 . "&$AZ_TCB");
    ok($r->{status} == 200 && $r->{content} eq fx("$E17.json"),
       'region first, eval 017: the eval 17 body');
    is(xcs($r), 'HIT', '... from the same entry');
    is($o->total, $n, 'no further origin request');
}

# '+', '/' and '=' exactly as Azure sends them (unescaped), and as QCNL does
{
    my $s = 'tcbEvaluationDataNumber=18;region=us central>>>?a';
    my $cp = b64($s);
    ok($cp =~ /\+/ && $cp =~ m{/} && $cp =~ /=$/, "precondition: '$cp' has + / =");
    my $r = $t->get("$TCB&customParameter=$cp&$AZ_TCB", %AZ_HDR);
    azure_ok($r, "customParameter with + / =", 'SGX-TCB-Info-Issuer-Chain', chain_of($E18));
    ok($r->{content} eq fx("$E18.json"), "raw '+': the eval 18 body (+ not read as space)");
    is($o->count("$TCB&tcbEvaluationDataNumber=18"), 1, 'origin asked for eval 18 once');

    (my $up = $cp) =~ s/([+\/=])/sprintf '%%%02X', ord $1/ge;
    (my $low = $up) =~ s/(%[0-9A-F]{2})/lc $1/ge;
    for my $v ($up, $low) {
        $r = $t->get("$TCB&customParameter=$v&$AZ_TCB");
        ok($r->{status} == 200 && $r->{content} eq fx("$E18.json"),
           "customParameter=$v: the eval 18 body");
        is(xcs($r), 'HIT', "customParameter=$v: same entry");
    }
    is($o->count("$TCB&tcbEvaluationDataNumber=18"), 1, 'still one origin request');

    # what a form decoder would have made of it
    (my $sp = $cp) =~ s/\+/%20/g;
    bad("$TCB&customParameter=$sp&$AZ_TCB", "customParameter with %20 for '+'", 'customParameter');
}

# region only: the standard entry
{
    my $r = $t->get("$TCB&customParameter=" . b64('region=us central') . "&$AZ_TCB");
    ok($r->{status} == 200 && $r->{content} eq fx("$E19.json"),
       'customParameter region only: the default (eval 19) body');
    is($o->count("$TCB&update=standard"), 1, 'fetched as update=standard');
    is(xcs($t->get($TCB)), 'HIT', 'and shared with the plain request');
}

# customParameter on qe/identity (and the TDX routes)
{
    my $s = 'intel/pcs/eval-series/qe_identity_eval17_2025-06-06';
    my $r = $t->get("$SGX4/qe/identity?customParameter="
                    . b64('tcbEvaluationDataNumber=17;region=us central') . "&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'qe identity customParameter 17', 'SGX-Enclave-Identity-Issuer-Chain',
             chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'qe identity: the eval 17 body');
    is($o->count("$SGX4/qe/identity?tcbEvaluationDataNumber=17"), 1,
       'origin asked qe/identity?tcbEvaluationDataNumber=17');

    my $td = 'intel/pcs/tdx/tcb_50806f000000_eval15_2023-06-18';
    $r = $t->get("$TDX4/tcb?fmspc=50806f000000&customParameter="
                 . b64('tcbEvaluationDataNumber=15') . "&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'tdx tcb customParameter 15', 'SGX-TCB-Info-Issuer-Chain', chain_of($td));
    ok($r->{content} eq fx("$td.json"), 'tdx tcb: the eval 15 body');
    is($o->count("$TDX4/tcb?fmspc=50806f000000&tcbEvaluationDataNumber=15"), 1,
       'origin asked tdx tcb eval 15');
}

# refused customParameter values: 400, nothing asked
{
    my $n = $o->total;
    my $fm = "$SGX4/tcb?fmspc=00906ed50000";
    for my $c (
        [ b64('tcbEvaluationDataNum=11'),                   'unknown key (Azure test)' ],
        [ b64('tcbEvaluationDataNumber=17;foo=bar'),        'extra unknown key' ],
        [ b64('update=early'),                              'update is not a key' ],
        [ b64('tcbEvaluationDataNumber=abc'),               'non-decimal number', 1 ],
        [ b64('tcbEvaluationDataNumber=12345678901'),       '11 digits', 1 ],
        [ b64('tcbEvaluationDataNumber='),                  'empty number', 1 ],
        [ b64('tcb'),                                       'no key=value' ],
        [ '!!!!',                                           'not base64' ],
        [ 'dGNi*GV2',                                       'bad base64 character' ],
        [ b64('tcbEvaluationDataNumber=17;region=us central') . '%00', 'NUL after it' ],
        [ b64('tcbEvaluationDataNumber=17;region=us central') . '====', 'excess padding' ],
    )
    {
        my ($v, $what, $value_fault) = @$c;
        # a bad number inside may be blamed on either name
        bad("$fm&customParameter=$v&$AZ_TCB", "tcb customParameter: $what",
            $value_fault ? [ 'customParameter', 'tcbEvaluationDataNumber' ] : 'customParameter');
    }
    my $cp = b64('tcbEvaluationDataNumber=17');
    # customParameter's number overrides update (t/intel_qcnl.t); an
    # explicit number with update stays refused, as at PCS
    bad("$fm&update=standard&tcbEvaluationDataNumber=17",
        'update + tcbEvaluationDataNumber', 'update');
    bad("$fm&customParameter=$cp&tcbEvaluationDataNumber=17",
        'customParameter + tcbEvaluationDataNumber', undef);
    bad("$SGX4/qe/identity?customParameter=" . b64('tcbEvaluationDataNum=11') . "&$AZ_TCB",
        'qe identity customParameter unknown key', 'customParameter');
    bad("$SGX4/qe/identity?update=standard&customParameter="
        . b64('tcbEvaluationDataNum=11'),
        'qe identity update + customParameter unknown key', 'customParameter');
    bad("$SGX3/tcb?fmspc=00906ea10000&customParameter=$cp&$AZ_TCB",
        'v3 tcb: customParameter tcbEvaluationDataNumber (v4 only)', undef);
    is($o->total, $n, 'no refused customParameter reached the origin')
        or diag(join "\n", sort keys %{ $o->counts });
}

# ---------------------------------------------------------------------------
# pckcrl?uri= (Azure collateral version 1: PEM)

$o->reset;
{
    # the exact wire example of PROTOCOLS.md 1b
    my $r = $t->get("$SGX4/pckcrl?uri=https%253a%252f%252fcertificates.trustedservices.intel.com"
                    . "%252fintelsgxrootca.crl&clientid=production_client"
                    . "&api-version=2020-02-12-preview", %AZ_HDR);
    azure_ok($r, 'wire example (root CRL)', 'SGX-PCK-CRL-Issuer-Chain', $ROOT_CHAIN);
    ok($r->{content} eq pem_crl($root_der), 'wire example: the root CRL as PEM')
        or diag(substr($r->{content}, 0, 100));
    is($o->count('/IntelSGXRootCA.der'), 1, 'root CRL fetched from /IntelSGXRootCA.der');

    my @root = (
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.crl',
        'HTTPS://Certificates.TrustedServices.Intel.COM/INTELSGXROOTCA.CRL',
    );
    for my $u (@root) {
        for my $e ([ enc(enc($u)), 'double' ], [ enc($u), 'single' ],
                   [ enc(enc(enc($u))), 'triple' ], [ lc enc(enc($u)), 'double, lower-case hex' ])
        {
            my $r = $t->get("$SGX4/pckcrl?uri=$e->[0]&$AZ_CRL", %AZ_HDR);
            ok($r->{status} == 200 && $r->{content} eq pem_crl($root_der),
               "root CRL PEM for $u ($e->[1]-encoded)");
            hdr_is($r, 'SGX-PCK-CRL-Issuer-Chain', $ROOT_CHAIN, '... root chain');
        }
    }
    is($o->count('/IntelSGXRootCA.der') + $o->count('/IntelSGXRootCA.crl'), 1,
       'all root CRL forms: one origin request');
}

{
    my @proc = (
        'https://certificates.trustedservices.intel.com/intelsgxpckprocessor.crl',
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
        'https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=processor',
        'https://api.trustedservices.intel.com/sgx/certification/v2/pckcrl?ca=processor',
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=Processor&encoding=pem',
    );
    for my $u (@proc) {
        my $r = $t->get("$SGX4/pckcrl?uri=" . enc(enc($u)) . "&$AZ_CRL", %AZ_HDR);
        azure_ok($r, "processor: $u", 'SGX-PCK-CRL-Issuer-Chain', $PROC_CHAIN);
        ok($r->{content} eq pem_crl($proc_der), "processor: $u: PEM of the processor CRL");
    }
    my @plat = (
        'https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=platform&encoding=pem',
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?encoding=der&ca=platform',
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform',
    );
    for my $u (@plat) {
        my $r = $t->get("$SGX4/pckcrl?uri=" . enc(enc($u)) . "&$AZ_CRL", %AZ_HDR);
        azure_ok($r, "platform: $u", 'SGX-PCK-CRL-Issuer-Chain', $PLAT_CHAIN);
        ok($r->{content} eq pem_crl($plat_der), "platform: $u: PEM of the platform CRL");
    }

    # legacy sgx_ql_get_revocation_info: single-encoded, upper-case %XX, v3 path
    my $legacy = "$SGX3/pckcrl?uri=https%3A%2F%2Fapi.trustedservices.intel.com%2Fsgx"
        . "%2Fcertification%2Fv2%2Fpckcrl%3Fca%3Dprocessor&clientid=production_client"
        . '&api-version=2018-10-01-preview';
    my $r = $t->get($legacy, %AZ_HDR);
    is($r->{status}, 200, 'legacy revocation-info uri: 200');
    ok($r->{content} eq pem_crl($proc_der), 'legacy: PEM of the processor CRL');
    hdr_is($r, 'SGX-PCK-CRL-Issuer-Chain', $PROC_CHAIN, 'legacy: issuer chain');

    is($o->count("$SGX4/pckcrl?ca=processor&encoding=der"), 1, 'processor CRL: one origin request');
    is($o->count("$SGX4/pckcrl?ca=platform&encoding=der"), 1, 'platform CRL: one origin request');
    is($o->total, 3, 'uri= forms: three origin requests in all (root, processor, platform)')
        or diag(join "\n", sort keys %{ $o->counts });
}

# uri= values that are not Intel CRL locations: 400, nothing fetched
{
    $o->reset;
    my @evil = (
        'https://certificates.trustedservices.intel.com.evil.com/IntelSGXRootCA.der',
        'https://evil.com/?x=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der',
        'https://evil.com/IntelSGXRootCA.der',
        'http://certificates.trustedservices.intel.com/IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com@evil.com/IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der.evil',
        'https://certificates.trustedservices.intel.com/evil/IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com/x/../IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com:8443/IntelSGXRootCA.der',
        'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der' . "\0",
        'https://certificates.trustedservices.intel.com/intelsgxpckplatform.crl.evil',
        'https://api.trustedservices.intel.com.evil.com/sgx/certification/v4/pckcrl?ca=processor',
        'https://evil.com/sgx/certification/v4/pckcrl?ca=platform',
        'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=bogus',
        'https://api.trustedservices.intel.com/sgx/certification/v4/tcb?fmspc=00906ed50000',
        'https://127.0.0.1:' . $o->port . '/IntelSGXRootCA.der',
        'intelsgxrootca.crl',
        '',
    );
    for my $u (@evil) {
        (my $show = $u) =~ s/\0/\\0/;
        bad("$SGX4/pckcrl?uri=" . enc(enc($u)) . "&$AZ_CRL", "uri=$show (double-encoded)", 'uri');
    }
    bad("$SGX4/pckcrl?uri=https%253a%252f%252fevil.com%252fintelsgxrootca.crl&$AZ_CRL",
        'wire example with another host', 'uri');
    bad("$SGX4/pckcrl?uri=%25zz&$AZ_CRL", 'uri=%25zz', 'uri');
    bad("$SGX4/pckcrl?uri=" . enc(enc('https://certificates.trustedservices.intel.com/IntelSGXRootCA.der'))
        . "&ca=processor&$AZ_CRL", 'uri and ca together', undef);
    is($o->total, 0, 'no refused uri reached the origin')
        or diag(join "\n", sort keys %{ $o->counts });
}

# ---------------------------------------------------------------------------
# the other Azure request shapes, exactly as the client builds them

$o->reset;
{
    my $s = 'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04';
    my $r = $t->get("$SGX4/tcb?fmspc=00906ed50000&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure v4 tcb', 'SGX-TCB-Info-Issuer-Chain', chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'Azure v4 tcb: verbatim body');
    is($o->count("$SGX4/tcb?fmspc=00906ed50000&update=standard"), 1,
       'clientid/api-version not passed upstream');

    $s = 'intel/pcs/v3/tcb_00906ea10000_eval8_2020-05-18';
    $r = $t->get("$SGX3/tcb?fmspc=00906ea10000&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure v3 tcb', 'SGX-TCB-Info-Issuer-Chain', chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'Azure v3 tcb: verbatim body');
    is($o->count("$SGX3/tcb?fmspc=00906ea10000"), 1, 'v3 tcb: fmspc only upstream');

    $s = 'intel/pcs/eval-series/qe_identity_eval19_2025-06-06';
    $r = $t->get("$SGX4/qe/identity?$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure v4 qe identity', 'SGX-Enclave-Identity-Issuer-Chain', chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'Azure qe identity: verbatim body');
    $r = $t->get("$SGX3/qe/identity?$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure v3 qe identity', 'SGX-Enclave-Identity-Issuer-Chain');
    like($r->{content}, qr/^\{"enclaveIdentity":\{"id":"QE"/, 'Azure v3 qe identity: QE body');

    $r = $t->get("$SGX4/qve/identity?$AZ_TCB", %AZ_HDR);
    is($r->{status}, 404, 'Azure qve identity without origin data: 404');
    ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), 'qve 404: no empty header value');

    $s = 'intel/pcs/tdx/tcb_90c06f000000_eval18_2026-02-01';
    $r = $t->get("$TDX4/tcb?fmspc=90c06f000000&$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure TDX tcb', 'SGX-TCB-Info-Issuer-Chain', chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'Azure TDX tcb: verbatim body');
    $s = 'intel/pcs/tdx/qe_identity_eval18_2026-01-07';
    $r = $t->get("$TDX4/qe/identity?$AZ_TCB", %AZ_HDR);
    azure_ok($r, 'Azure TDX qe identity', 'SGX-Enclave-Identity-Issuer-Chain', chain_of($s));
    ok($r->{content} eq fx("$s.json"), 'Azure TDX qe identity: verbatim body');

    # the TDX client's CRL calls: no api-version, no encoding; both headers required
    $r = $t->get("$SGX4/pckcrl?ca=platform&clientid=production_client", %AZ_HDR);
    azure_ok($r, 'Azure TDX pckcrl', 'SGX-PCK-CRL-Issuer-Chain', $PLAT_CHAIN);
    ok($r->{content} eq lc unpack("H*", $plat_der), 'Azure TDX pckcrl: hex of the DER');
    $r = $t->get("$SGX4/rootcacrl?clientid=production_client", %AZ_HDR);
    azure_ok($r, 'Azure TDX rootcacrl', 'SGX-PCK-CRL-Issuer-Chain', $ROOT_CHAIN);
    ok($r->{content} eq lc unpack("H*", $root_der), 'Azure TDX rootcacrl: hex of the DER');

    # no Metadata header is needed on collateral, and one is harmless
    $r = $t->get("$SGX4/tcb?fmspc=00906ed50000&$AZ_TCB",
                 headers => { Accept => '*/*', Metadata => 'true' });
    is($r->{status}, 200, 'a Metadata header on collateral is ignored');

    my $c = $o->counts;
    my @leak = grep { /clientid|api-version|customParameter/ } keys %$c;
    ok(!@leak, 'no Azure parameter ever reached the origin') or diag(join "\n", @leak);
}

done_testing();
