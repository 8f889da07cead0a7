#!/usr/bin/perl
# thimctl (tools/thimctl, docs/thimctl.md) against the origin emulator and
# an nginx with ngx_thim:
#   fetch   bundles Intel, AMD and pckcerts answers byte for byte, with the
#           module's canonical queries, a correct index, retries over 429
#           and 500, refuses tampered answers (exit 1), never leaks the key;
#   verify  OK / EXPIRED / FAIL / ERROR lines and exit codes 0, 1, 2, 3;
#   status  a table of the zone.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use ThimSetup;
use ThimSnapshot;
use ThimTest;

my $ROOT = $ThimSetup::ROOT;
my $DATA = $ThimSetup::DATA;
my $CTL = $ENV{TEST_THIMCTL} || "$ROOT/build/thimctl";
BAIL_OUT("thimctl not built: $CTL (run make all)") unless -x $CTL;

my $KEY = 'thimctl-key-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 16);

my ($t, $o) = ThimSetup::start(workers => 1, api_key => $KEY,
                               server => 'location = /thim/status { thim_status; }');
my $NGINX = 'https://127.0.0.1:' . $t->port('https');
my $ORIGIN = $o->url;
my @TRUST = ('--cacert', $t->pki->{ca},
             '--intel-root-ca', "$DATA/intel/root/Intel_SGX_Root_CA.pem",
             '--amd-trust', "$ROOT/conf/amd");
my @ORIGINS = ('--intel', $ORIGIN, '--intel-root', $ORIGIN, '--amd', $ORIGIN);

my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3'
          . 'e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $GENOA = '0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782'
          . 'fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1';
my $TURIN = '1e550a8ee5cf9f4d';
my $CSV = "$DATA/intel/pckcerts/pckid_retrieval.csv";

sub slurp {
    my ($f) = @_;
    open(my $h, '<:raw', $f) or return undef;
    local $/;
    return scalar <$h>;
}

# runs thimctl; env: extra environment (THIM_INTEL_API_KEY is never
# inherited); returns (exit code, stdout, stderr)
my $runs = 0;
sub thimctl {
    my ($env, @args) = @_;
    my $pid = start_thimctl($env, @args);
    waitpid($pid, 0);
    return finish_thimctl($?);
}

sub start_thimctl {
    my ($env, @args) = @_;
    $runs++;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        delete $ENV{THIM_INTEL_API_KEY};
        $ENV{$_} = $env->{$_} for keys %$env;
        open(STDOUT, '>', $t->dir . "/ctl-$runs.out") or POSIX::_exit(126);
        open(STDERR, '>', $t->dir . "/ctl-$runs.err") or POSIX::_exit(126);
        { exec { $CTL } $CTL, @args }
        POSIX::_exit(127);
    }
    return $pid;
}

# sanitizer reports of an ASan/UBSan thimctl (make test-asan), all runs
my @sanitizer;
sub finish_thimctl {
    my ($status) = @_;
    my $err = slurp($t->dir . "/ctl-$runs.err") // '';
    push @sanitizer, "run $runs: $1" if $err =~ /^(.*(?:Sanitizer|runtime error).*)$/m;
    return ($status >> 8, slurp($t->dir . "/ctl-$runs.out") // '', $err);
}

sub index_of {
    my ($dir) = @_;
    my $j = slurp("$dir/index.json");
    return $j ? eval { JSON::PP::decode_json($j) } : undef;
}

sub entry {
    my ($index, $path, $query) = @_;
    my @e = grep { $_->{path} eq $path
                   && (defined $query ? ($_->{query} // '') eq $query : 1) }
            @{ $index->{entries} };
    return $e[0];
}

sub same_bytes {
    my ($dir, $e, $fixture, $what) = @_;
    ok($e && slurp("$dir/$e->{file}") eq ThimSetup::fixture($fixture),
       "$what: byte-identical to $fixture");
}

# ---- fetch: everything, with faults the retries must absorb -------------

my $b1 = $t->dir . '/bundle1';
$o->fault('/sgx/certification/v4/tcb?', status => 429, retry_after => 1, times => 1);
$o->fault('/vcek/v1/Milan/cert_chain', status => 500, times => 1);

my $t0 = time;
my ($rc, $out, $err) = thimctl({ THIM_INTEL_API_KEY => $KEY }, 'fetch', '-o', $b1,
    @TRUST, @ORIGINS, '--fmspc', '00906ED50000,00a06d080000', '--fmspc', '00906ea10000',
    '--tdx', '--v3', '--pckid-csv', $CSV, '--amd-product', 'Milan,genoa,Turin',
    '--vcek', "Milan:$MILAN:7308000000000003", '--vcek', "Genoa:$GENOA:541700000000000a",
    '--vcek', "Turin:$TURIN:0900000000000000");
my $took = time - $t0;

# the fixtures have no QvE identity, no TDX evaluation numbers and v3 TCB
# info for one FMSPC only: those fail (exit 1); everything else is bundled
is($rc, 1, 'fetch: exit 1, some items failed') or diag($err);
my @fails = sort map { m{^FAIL https://[^/]+(/\S+) HTTP 404$} ? $1 : $_ } grep { /^FAIL/ } split /\n/, $err;
is_deeply(\@fails, ['/sgx/certification/v3/tcb?fmspc=00906ed50000',
                    '/sgx/certification/v3/tcb?fmspc=00a06d080000',
                    '/sgx/certification/v4/qve/identity?update=early',
                    '/sgx/certification/v4/qve/identity?update=standard',
                    '/tdx/certification/v4/tcbevaluationdatanumbers'],
          'exactly the collateral the fixtures lack fails, as HTTP 404');
like($err, qr{^skip \S+/tdx/certification/v4/tcb\?fmspc=00906ed50000&update=standard 404}m,
     'TDX tcb of an SGX-only FMSPC: 404 noted and skipped');
like($err, qr{^skip \S+/vcek/v1/Turin/crl 404}m, 'no Turin CRL: skipped');
like($err, qr{^thimctl fetch: \d+ of \d+ bundled}m, 'a summary line');
ok($took >= 1, sprintf('the 429 was waited out (Retry-After 1; %.1f s)', $took));
is($o->count('/sgx/certification/v4/tcb?fmspc=00906ed50000&update=standard'), 2,
   '429: asked again');
is($o->count('/vcek/v1/Milan/cert_chain'), 2, '500: asked again');
unlike($err, qr/\r|\e\[/, 'not a terminal: plain lines, no bar');

my $ix = index_of($b1);
ok($ix, 'index.json is JSON');
is($ix->{format}, 'ngx_thim-bundle', 'format');
is($ix->{version}, 1, 'version 1');
like($ix->{created} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created: ISO 8601 UTC');
my $n = scalar @{ $ix->{entries} };
my $bundled_line = ($err =~ /^thimctl fetch: (\d+) of/m)[0] // -1;
is($n, $bundled_line, "$n entries, as the summary says");

# every entry: its file, its sha256, a safe name, a known origin
my @bad;
for my $e (@{ $ix->{entries} }) {
    my $body = slurp("$b1/$e->{file}");
    push @bad, "$e->{file}: missing" unless defined $body;
    push @bad, "$e->{file}: sha256" if defined $body && sha256_hex($body) ne $e->{sha256};
    push @bad, "$e->{file}: unsafe" if $e->{file} =~ m{(^/|(^|/)\.\.(/|$))};
    push @bad, "$e->{file}: origin $e->{origin}" unless $e->{origin} =~ /^(intel|intel-root|amd)$/;
    push @bad, "$e->{file}: fetched" unless ($e->{fetched} // '') =~ /Z$/;
}
is_deeply(\@bad, [], 'every entry: file present, sha256 right, safe name, origin, fetched');

# the module's canonical requests, byte-identical bodies, headers as sent
my $e = entry($ix, '/sgx/certification/v4/tcb', 'fmspc=00906ed50000&update=standard');
ok($e, 'SGX tcb: lower-case fmspc, update=standard');
same_bytes($b1, $e, 'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json', 'SGX tcb');
is($e && $e->{headers}{'TCB-Info-Issuer-Chain'},
   ThimSetup::intel_pct_encode(ThimSetup::fixture('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem')),
   'SGX tcb: issuer chain header kept as sent (percent-encoded)');
ok(entry($ix, '/sgx/certification/v4/tcb', 'fmspc=00906ed50000&update=early'), 'SGX tcb early');
same_bytes($b1, entry($ix, '/tdx/certification/v4/tcb', 'fmspc=00a06d080000&update=standard'),
           'intel/pcs/tdx/tcb_00a06d080000_eval18_2026-02-26.json', 'TDX tcb');
same_bytes($b1, entry($ix, '/sgx/certification/v3/tcb', 'fmspc=00906ea10000'),
           'intel/pcs/v3/tcb_00906ea10000_eval8_2020-05-18.json', 'v3 tcb (no update)');
ok(entry($ix, '/sgx/certification/v3/tcb', 'fmspc=00906ea10000')->{headers}{'SGX-TCB-Info-Issuer-Chain'},
   'v3 tcb: SGX-TCB-Info-Issuer-Chain');
same_bytes($b1, entry($ix, '/sgx/certification/v4/qe/identity', 'update=standard'),
           'intel/pcs/eval-series/qe_identity_eval19_2025-06-06.json', 'QE identity');
ok(entry($ix, '/tdx/certification/v4/qe/identity', 'update=early'), 'TD QE identity early');
ok(entry($ix, '/sgx/certification/v4/tcbevaluationdatanumbers'), 'SGX evaluation numbers');
ok(!exists entry($ix, '/sgx/certification/v4/tcbevaluationdatanumbers')->{query},
   'no query member where there is none');
same_bytes($b1, entry($ix, '/sgx/certification/v4/pckcrl', 'ca=platform&encoding=der'),
           'intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der', 'PCK platform CRL (DER)');
same_bytes($b1, entry($ix, '/sgx/certification/v4/pckcrl', 'ca=processor&encoding=der'),
           'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der', 'PCK processor CRL (DER)');
$e = entry($ix, '/IntelSGXRootCA.der');
is($e && $e->{origin}, 'intel-root', 'root CA CRL: origin intel-root');
same_bytes($b1, $e, 'intel/root/IntelSGXRootCA_crl_2026-02-26.der', 'root CA CRL');
is_deeply($e && $e->{headers}, {}, 'root CA CRL: no headers');

same_bytes($b1, entry($ix, '/vcek/v1/Milan/cert_chain'), 'amd/milan/cert_chain.pem', 'Milan cert_chain');
same_bytes($b1, entry($ix, '/vcek/v1/Milan/crl'), 'amd/milan/crl.der', 'Milan CRL');
same_bytes($b1, entry($ix, '/vcek/v1/Genoa/crl'), 'amd/genoa/crl.der', 'Genoa CRL (product named in lower case)');
same_bytes($b1, entry($ix, '/vlek/v1/Turin/cert_chain'), 'amd/turin/vlek_cert_chain.pem', 'Turin VLEK chain (CRLF kept)');
same_bytes($b1, entry($ix, "/vcek/v1/Milan/$MILAN", 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115'),
           "amd/milan/vcek/${MILAN}_bl3_tee0_snp8_ucode115.der", 'Milan VCEK, canonical SPL query');
same_bytes($b1, entry($ix, "/vcek/v1/Genoa/$GENOA", 'blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84'),
           "amd/genoa/vcek/${GENOA}_bl10_tee0_snp23_ucode84.der", 'Genoa VCEK');
same_bytes($b1, entry($ix, "/vcek/v1/Turin/$TURIN", 'fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9'),
           "amd/turin/vcek/${TURIN}_bl0_tee0_snp0_ucode9_fmc0.der", 'Turin VCEK, fmcSPL first');
is_deeply(entry($ix, '/vcek/v1/Milan/crl')->{headers}, {}, 'AMD answers: no headers');

# pckcerts: one per platform (the CSV repeats a row), with its qeid
my @pck = grep { $_->{path} eq '/sgx/certification/v4/pckcerts' } @{ $ix->{entries} };
is(scalar @pck, 5, 'pckcerts: one entry per distinct CSV row with a platform (6 rows, 1 repeated)');
$e = (grep { ($_->{qeid} // '') eq '16a5b41ebb076d263a1e39e64e7175e7' } @pck)[0];
ok($e, 'pckcerts entry carries its qeid');
like($e && $e->{query}, qr/^encrypted_ppid=[0-9a-f]{768}&pceid=0000$/, 'pckcerts query: encrypted_ppid, pceid');
my $body = $e ? slurp("$b1/$e->{file}") : '';
my $pcs = $e ? $o->get("/sgx/certification/v4/pckcerts?$e->{query}", 'Ocp-Apim-Subscription-Key' => $KEY) : {};
ok(length $body > 1000 && substr($body, 0, 1) eq '[' && $body eq ($pcs->{body} // ''),
   'pckcerts body: the bytes PCS (the emulator) sent');
is($e && $e->{headers}{'SGX-PCK-Certificate-CA-Type'}, 'processor', 'pckcerts: CA type header kept');
is($e && $e->{headers}{'SGX-FMSPC'}, '00906ea10000', 'pckcerts: FMSPC header kept');
ok($e && $e->{headers}{'SGX-PCK-Certificate-Issuer-Chain'}, 'pckcerts: issuer chain kept');

# the key: sent, but nowhere else
my $leak = `grep -rl '$KEY' $b1`;
is($leak, '', 'the API key is in no bundle file');
unlike($out . $err, qr/\Q$KEY\E/, 'nor on stdout or stderr');

# ---- the bundle seeds a second, cold nginx with no origin at all -----------

{
    my ($t2) = ThimSetup::start(workers => 1, no_origin => 1,
                                zone => "4m seed=$b1");
    ThimSnapshot::wait_loaded($t2);
    my $log = $t2->error_log;
    my ($n) = $log =~ /(\d+) entries seeded from bundle .*\(0 skipped/;
    is($n, scalar @{ $ix->{entries} }, "a second nginx: all $n entries of the bundle seeded");
    my $ok = 1;
    for my $p ('/sgx/certification/v4/tcb?fmspc=00906ed50000',
               '/sgx/certification/v4/qe/identity',
               '/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
               "/vcek/v1/Milan/$MILAN?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
               '/sgx/certification/v4/pckcert?qeid=16a5b41ebb076d263a1e39e64e7175e7'
               . '&cpusvn=0f0f0205ff8007000000000000000000&pcesvn=0900&pceid=0000') {
        my $r = $t2->get($p);
        next if $r->{status} == 200;
        $ok = 0;
        diag("seeded nginx: $p: $r->{status} $r->{content}");
    }
    ok($ok, '... which answers collateral, a VCEK and a PCK certificate from it');
    $t2->stop;
}

# ---- the key: not from argv; required; checked ---------------------------

($rc, $out, $err) = thimctl({}, 'fetch', '-o', $t->dir . '/nokey', @TRUST, @ORIGINS,
                            '--no-intel', '--pckid-csv', $CSV);
is($rc, 2, 'pckcerts without a key: usage error');
like($err, qr/THIM_INTEL_API_KEY/, '... saying where the key comes from');

($rc, $out, $err) = thimctl({}, 'fetch', '-o', $t->dir . '/argv', '--api-key', $KEY);
is($rc, 2, '--api-key is refused');
unlike($err, qr/\Q$KEY\E/, '... without echoing it');

($rc, $out, $err) = thimctl({ THIM_INTEL_API_KEY => 'wrong' }, 'fetch', '-o', $t->dir . '/wrong',
                            @TRUST, @ORIGINS, '--no-intel', '--pckid-csv', $CSV);
is($rc, 1, 'a wrong key: exit 1');
like($err, qr{^FAIL \S+/pckcerts\?\S+ HTTP 401: the Intel API key was refused}m,
     '... PCS said 401, and thimctl says what that means');

open(my $kf, '>', $t->dir . '/key') or die;
print $kf "$KEY\n";
close $kf;
$o->fault('/sgx/certification/v4/pckcerts', latency => 1500);
my $pid = start_thimctl({}, 'fetch', '-o', $t->dir . '/keyfile', @TRUST, @ORIGINS,
                        '--no-intel', '--pckid-csv', $CSV, '--api-key-file', $t->dir . '/key');
my $cmdline = '';
for (1 .. 100) {                        # until the exec has happened
    $cmdline = slurp("/proc/$pid/cmdline") // '';
    last if $cmdline =~ /thimctl\0fetch/;
    sleep 0.05;
}
waitpid($pid, 0);
($rc, $out, $err) = finish_thimctl($?);
ok($cmdline =~ /thimctl\0fetch/ && $cmdline !~ /\Q$KEY\E/,
   'the key is not in the running thimctl\'s command line');
is($rc, 0, '--api-key-file: all pckcerts bundled, exit 0') or diag($err);
$o->clear_faults;

# ---- a clean run: exit 0 -------------------------------------------------

# a 429 asking for 100 s is waited for --max-wait (1 s) only
$o->reset;
$o->fault("/vcek/v1/Milan/$MILAN", status => 429, retry_after => 100, times => 1);
$t0 = time;
($rc, $out, $err) = thimctl({}, 'fetch', '-o', $t->dir . '/bundle2', @TRUST, @ORIGINS,
                            '--no-intel', '--fmspc', '00906ed50000', '--amd-product', 'Turin',
                            '--vcek', "Milan:$MILAN:7308000000000003", '--max-wait', '1');
$took = time - $t0;
is($rc, 0, 'everything asked bundled (a 404 on an optional item is a note): exit 0')
    or diag($err);
ok($took >= 1 && $took < 10, sprintf('Retry-After 100 capped by --max-wait 1 (%.1f s)', $took));
is($o->count("/vcek/v1/Milan/$MILAN"), 2, '... then asked again');
is(scalar @{ (index_of($t->dir . '/bundle2') // { entries => [] })->{entries} }, 5,
   '2 tcb + 2 Turin cert_chains + 1 VCEK');

# ---- tampered answers are refused -----------------------------------------

$o->fault('/sgx/certification/v4/qe/identity', corrupt => 1);
$o->fault('/vcek/v1/Milan/cert_chain', resign => 1);
$o->fault('/sgx/certification/v4/pckcrl', truncate => 1);
my $b3 = $t->dir . '/bundle3';
($rc, $out, $err) = thimctl({}, 'fetch', '-o', $b3, @TRUST, @ORIGINS, '--amd-product', 'Milan');
is($rc, 1, 'tampered answers: exit 1');
like($err, qr{^FAIL \S+/sgx/certification/v4/qe/identity\?update=standard refused, not bundled: the signature does not verify}m,
     'a corrupted QE identity is refused');
like($err, qr{^FAIL \S+/vcek/v1/Milan/cert_chain refused, not bundled: the chain's ASK is not signed by the ARK}m,
     'a re-signed cert_chain is refused');
like($err, qr{^FAIL \S+/pckcrl\?ca=processor&encoding=der refused, not bundled}m,
     'a truncated CRL is refused');
$ix = index_of($b3);
ok($ix && !entry($ix, '/sgx/certification/v4/qe/identity')
   && !entry($ix, '/vcek/v1/Milan/cert_chain') && !entry($ix, '/sgx/certification/v4/pckcrl'),
   'none of them is in the index');
ok($ix && entry($ix, '/vcek/v1/Milan/crl') && entry($ix, '/sgx/certification/v4/tcbevaluationdatanumbers'),
   'the rest is');
$o->clear_faults;

# ---- fetch from another ngx_thim ------------------------------------------

my $b4 = $t->dir . '/bundle4';
($rc, $out, $err) = thimctl({}, 'fetch', '-o', $b4, @TRUST, '--thim', "$NGINX/",
                            '--fmspc', '00906ed50000', '--vcek', "Milan:$MILAN:7308000000000003");
$ix = index_of($b4);
$e = $ix && entry($ix, '/IntelSGXRootCA.der');
ok($e && $e->{origin} eq 'intel-root', 'from a THIM: the root CA CRL as intel-root /IntelSGXRootCA.der');
same_bytes($b4, $e, 'intel/root/IntelSGXRootCA_crl_2026-02-26.der', 'from a THIM: the hex rootcacrl decoded to DER');
same_bytes($b4, entry($ix, '/sgx/certification/v4/tcb', 'fmspc=00906ed50000&update=standard'),
           'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json', 'from a THIM: tcb');
same_bytes($b4, entry($ix, "/vcek/v1/Milan/$MILAN"),
           "amd/milan/vcek/${MILAN}_bl3_tee0_snp8_ucode115.der", 'from a THIM: VCEK');
is($rc, 1, 'from a THIM: exit 1 (the fixtures lack the QvE identity and TDX numbers)');
my $b1ix = index_of($b1);
my @differ = grep { my $x = entry($b1ix, $_->{path}, $_->{query});
                    !$x || $x->{sha256} ne $_->{sha256} || $x->{origin} ne $_->{origin} }
             @{ $ix->{entries} };
ok(@{ $ix->{entries} } >= 10 && !@differ,
   scalar(@{ $ix->{entries} }) . ' entries from a THIM: the same requests and bytes as from the origins')
    or diag(join ', ', map { "$_->{path}?" . ($_->{query} // '') } @differ);

# ---- usage errors ----------------------------------------------------------

($rc) = thimctl({}, 'fetch', @TRUST);
is($rc, 2, 'fetch without -o: 2');
($rc, $out, $err) = thimctl({}, 'fetch', '-o', $t->dir . '/u', '--fmspc', '00906ed5', @TRUST);
is($rc, 2, 'a bad FMSPC: 2');
like($err, qr/12 hexadecimal/, '... says why');
($rc, $out, $err) = thimctl({}, 'fetch', '-o', $t->dir . '/u', '--vcek', "Milan:$MILAN", @TRUST);
is($rc, 2, 'a bad --vcek: 2');
($rc) = thimctl({}, 'frobnicate');
is($rc, 2, 'an unknown command: 2');
($rc, $out, $err) = thimctl({}, 'verify', @TRUST, "$NGINX/index.html");
is($rc, 2, 'verify: a path of no known kind: 2');

# ---- verify ---------------------------------------------------------------

my @good = ("$NGINX/sgx/certification/v4/tcb?fmspc=00906ED50000",
            "$NGINX/sgx/certification/v4/qe/identity",
            "$NGINX/sgx/certification/v4/tcbevaluationdatanumbers",
            "$NGINX/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
            "$NGINX/sgx/certification/v4/pckcrl?ca=platform",
            "$NGINX/sgx/certification/v4/rootcacrl",
            "$NGINX/vcek/v1/Milan/cert_chain",
            "$NGINX/vcek/v1/Milan/crl",
            "$NGINX/vcek/v1/Milan/$MILAN?blSPL=03&teeSPL=0&snpSPL=8&ucodeSPL=115");
($rc, $out, $err) = thimctl({}, 'verify', @TRUST, '--at', '2025-06-05T00:00:00Z', @good);
is($rc, 0, 'verify: good collateral through the module: 0') or diag($out . $err);
is(scalar(() = $out =~ /^OK   /mg), scalar @good, 'one OK line per URL');
like($out, qr{^OK   \Q$NGINX\E/sgx/certification/v4/tcb\?fmspc=00906ED50000 tcb nextUpdate=2025-07-04T00:16:12Z$}m,
     'OK <url> <kind> nextUpdate=<date>');
like($out, qr{^OK   \S+/rootcacrl rootcacrl nextUpdate=2027-02-26T13:04:00Z$}m, 'the hex root CA CRL');
like($out, qr{^OK   \S+/vcek/v1/Milan/b121\S+ vcek notAfter=}m, 'a VCEK: notAfter');

($rc, $out) = thimctl({}, 'verify', @TRUST, "$NGINX/sgx/certification/v4/rootcacrl");
is($rc, 0, 'verify at the real time: a current root CA CRL: 0');

($rc, $out) = thimctl({}, 'verify', @TRUST, "$NGINX/sgx/certification/v4/tcb?fmspc=00906ed50000",
                      "$NGINX/sgx/certification/v4/rootcacrl");
is($rc, 1, 'past nextUpdate: 1');
like($out, qr{^EXPIRED \S+/tcb\?fmspc=00906ed50000 tcb nextUpdate=2025-07-04T00:16:12Z$}m, 'an EXPIRED line');

$o->fault('/sgx/certification/v4/qe/identity', corrupt => 1);
($rc, $out) = thimctl({}, 'verify', @TRUST, '--at', '2025-06-10T00:00:00Z',
                      "$ORIGIN/sgx/certification/v4/qe/identity");
is($rc, 1, 'verify: a corrupted answer: 1');
like($out, qr{^FAIL \S+/qe/identity qe-identity: the signature does not verify$}m, 'a FAIL line with the reason');

# genuine certificates in the wrong role, as the module refuses them
$o->serve('/vcek/v1/Milan/cert_chain', file => 'amd/milan/vlek_cert_chain.pem');
$o->serve('/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
          file => 'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der',
          chain => 'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.issuer_chain.pem');
($rc, $out) = thimctl({}, 'verify', @TRUST, '--at', '2025-06-10T00:00:00Z',
                      "$ORIGIN/vcek/v1/Milan/cert_chain",
                      "$ORIGIN/vlek/v1/Milan/cert_chain",
                      "$ORIGIN/sgx/certification/v4/pckcrl?ca=platform&encoding=der");
is($rc, 1, 'verify: the VLEK chain as the VCEK chain, another CA\'s CRL: 1');
like($out, qr{^FAIL \S+/vcek/v1/Milan/cert_chain \S+: the VCEK chain's CA is not the product's ASK$}m,
     '... the VCEK chain refused for its CA');
like($out, qr{^OK   \S+/vlek/v1/Milan/cert_chain }m, '... the VLEK chain accepted as such');
like($out, qr{^FAIL \S+/pckcrl\S+ \S+: the signer is not the Intel SGX PCK Platform CA$}m,
     '... the processor CA\'s CRL refused as the platform\'s');
$o->clear_serves;

# tampered collateral into a cold cache (a key no run has asked for): the
# module refuses it, and has nothing to serve
($rc, $out) = thimctl({}, 'verify', @TRUST, '--retries', '0',
                      "$NGINX/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=18");
is($rc, 3, 'tampered origin, cold cache: the module answers 502: 3');
like($out, qr{^ERROR \S+ HTTP 502$}m, 'an ERROR line');
$o->clear_faults;

($rc, $out) = thimctl({}, 'verify', @TRUST, '--retries', '0',
                      'https://127.0.0.1:' . $t->port('nobody') . '/sgx/certification/v4/rootcacrl');
is($rc, 3, 'an unreachable server: 3');
like($out, qr{^ERROR \S+ .*nothing answers there}m, '... with curl\'s words and a hint');

($rc, $out) = thimctl({}, 'verify', '--retries', '0', "$NGINX/sgx/certification/v4/rootcacrl");
is($rc, 3, 'an untrusted server certificate: 3');
like($out, qr{--cacert}, '... saying --cacert');

# ---- status ---------------------------------------------------------------

($rc, $out, $err) = thimctl({}, 'status', @TRUST, "$NGINX/thim/status");
is($rc, 0, 'status: 0') or diag($err);
like($out, qr/^zone\s+thim$/m, 'a header row naming the zone');
like($out, qr/^entries\s+[1-9]\d*$/m, 'entries');
like($out, qr/^hits\s+\d+$/m, 'hits');
like($out, qr/^  ok\s+[1-9]\d*$/m, 'fetch results');
like($out, qr/^hold-off intel\s+none$/m, 'per-origin hold-offs');
($rc) = thimctl({}, 'status', @TRUST, "$NGINX/nowhere");
is($rc, 3, 'status of a non-status URL: 3');

is_deeply(\@sanitizer, [], "no sanitizer report from thimctl ($runs runs)");

done_testing;
