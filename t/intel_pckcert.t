#!/usr/bin/perl
# PCK certificates: pckcert (PEM and Azure JSON forms), pckcerts, selection
# from the cached set for any raw TCB, the API key, privacy of machine
# identifiers, and refusal of forged sets.  The emulator's own pckcert
# (a separate Perl implementation of Intel's rule) is the oracle.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use ThimOrigin;
use ThimSetup;
use ThimSnapshot;

my $V4 = '/sgx/certification/v4';
my $V3 = '/sgx/certification/v3';
my $KEY = ThimOrigin::DEFAULT_API_KEY;

# the PCKID retrieval tool's rows: ppid, pceid, cpusvn, pcesvn, qeid
my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my @azure = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/azure_icelake_pckid.csv');
my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[0] };

sub pckcert_q {
    my (%a) = @_;
    return join '&', map { "$_=$a{$_}" } grep { defined $a{$_} }
        qw(encrypted_ppid cpusvn pcesvn pceid qeid clientid api-version);
}

# Intel's own answer for a raw TCB, straight from the emulator
sub oracle {
    my ($o, $ver, %a) = @_;
    return $o->get("$ver/pckcert?" . pckcert_q(%a),
                   'Ocp-Apim-Subscription-Key' => $KEY);
}

my ($t, $o) = ThimSetup::start(workers => 2);
$t->mark_log;

# ---- PEM form, upper-case hex as QCNL sends it -----------------------------

my %p1 = (encrypted_ppid => uc $ppid, cpusvn => uc $cpusvn,
          pcesvn => $pcesvn, pceid => $pceid);
my $r = $t->get("$V4/pckcert?" . pckcert_q(%p1));
my $want = oracle($o, $V4, %p1);

is($r->{status}, 200, 'pckcert: 200');
is($want->{status}, 200, 'the emulator (Intel) answers the same request');
is($r->{content}, $want->{body}, 'the PEM Intel itself chose, byte for byte');
is($r->{headers}{'sgx-tcbm'}, $want->{headers}{'sgx-tcbm'},
   "SGX-TCBm as Intel's: $r->{headers}{'sgx-tcbm'}");
is($r->{headers}{'sgx-tcbm'}, '0D0D02040180030000000000000000000900',
   "the TCB Intel PCS chose for this raw TCB in the captured answer");
is($r->{headers}{$_}, $want->{headers}{$_}, "$_ as Intel's")
    for qw(sgx-fmspc sgx-pck-certificate-ca-type
           sgx-pck-certificate-issuer-chain);
is($r->{headers}{'content-type'}, 'application/x-pem-file', 'PEM type');
like($r->{headers}{'cache-control'} // '', qr/^max-age=\d+$/, 'Cache-Control');
is($r->{headers}{'x-cache-status'}, 'MISS', 'first request: MISS');

# ---- every raw TCB from the cached set; Intel's choice each time ----------

my @raws = (
    ['0f0f0205ff8007000000000000000000', '0900'],   # the captured one
    ['0f0f0205ff8007000000000000000000', '0700'],   # lower PCESVN
    ['0e0e0205ff8007000000000000000000', '0900'],   # between levels
    ['14140204018007000000000000000000', '0d00'],   # the highest set entry
    ['ffffffffffffffffffffffffffffffff', 'ffff'],   # above everything
    ['0606020401800100000000000000000a', '0700'],   # a low level, extra comp
    ['05050204018001000000000000000000', '0600'],
    ['00000000000000000000000000000000', '0000'],   # below every level
    ['ffffffffffffffffffffffffffffffff', '0000'],   # PCESVN below all
);

$o->reset;

for my $raw (@raws) {
    my %p = (%p1, cpusvn => $raw->[0], pcesvn => $raw->[1]);
    my $got = $t->get("$V4/pckcert?" . pckcert_q(%p));
    my $exp = oracle($o, $V4, %p);

    if ($exp->{status} == 200) {
        ok($got->{status} == 200
           && $got->{content} eq $exp->{body}
           && $got->{headers}{'sgx-tcbm'} eq $exp->{headers}{'sgx-tcbm'},
           "raw $raw->[0]/$raw->[1]: Intel's certificate "
           . "($exp->{headers}{'sgx-tcbm'})");
    } else {
        is($got->{status}, 404, "raw $raw->[0]/$raw->[1]: none qualifies");
        like($got->{content}, qr/"error":"no PCK certificate of this platform is at or below/,
             '... a JSON error that says why');
    }
    is($got->{headers}{'x-cache-status'}, 'HIT', '... from the cache')
        if $got->{status} == 200;
}

is($o->count("$V4/pckcerts"), 0,
   'new raw TCBs of a known platform cost no origin request');
is($o->count("$V4/tcb"), 0, '... nor a TCB info request');

# ---- v3: the same set, ordered by the v3 TCB info --------------------------

my $r3 = $t->get("$V3/pckcert?" . pckcert_q(%p1));
my $w3 = oracle($o, $V3, %p1);
ok($r3->{status} == 200 && $r3->{content} eq $w3->{body}
   && $r3->{headers}{'sgx-tcbm'} eq $w3->{headers}{'sgx-tcbm'},
   'v3 pckcert: as Intel answers v3');

# ---- one origin request per platform, however many ask at once -----------

my ($p2, $pce2, $cpu2, $pcesvn2, $qe2) = @{ $rows[2] };
$o->reset;
my @par = $t->parallel(12, "$V4/pckcert?" . pckcert_q(
    encrypted_ppid => $p2, cpusvn => $cpu2, pcesvn => $pcesvn2,
    pceid => $pce2));
is(scalar(grep { $_->{status} == 200 } @par), 12,
   '12 clients at once for a new platform: all 200');
is($o->count("$V4/pckcerts"), 1, '... one pckcerts request to Intel');
my %same = map { $_->{content} => 1 } @par;
is(scalar keys %same, 1, '... all the same certificate');

# ---- by QE ID: found without an encrypted PPID -----------------------------

my %byqe = (encrypted_ppid => $ppid, cpusvn => $cpusvn, pcesvn => $pcesvn,
            pceid => $pceid, qeid => $qeid);
$r = $t->get("$V4/pckcert?" . pckcert_q(%byqe));
is($r->{status}, 200, 'with qeid and a PPID: fetched and kept by QE ID');

$o->reset;
$r = $t->get("$V4/pckcert?" . pckcert_q(%byqe, encrypted_ppid => '0' x 768));
is($r->{status}, 200, "QCNL's 768 zeros and a known qeid: from the cache");
$r = $t->get("$V4/pckcert?" . pckcert_q(%byqe, encrypted_ppid => undef));
is($r->{status}, 200, 'no encrypted_ppid, a known qeid: from the cache');
is($o->total, 0, '... with no origin request');

$r = $t->get("$V4/pckcert?" . pckcert_q(%byqe, encrypted_ppid => undef,
                                         qeid => 'ab' x 16));
is($r->{status}, 404, 'an unknown qeid and no PPID: 404');
like($r->{content}, qr/no encrypted PPID to fetch them with/,
     '... saying there is nothing to fetch with');
is($o->total, 0, '... and nothing is asked of Intel');

# ---- pckcerts: the set as Intel sent it ------------------------------------

$r = $t->get("$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid");
my $set = $o->get("$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid",
                  'Ocp-Apim-Subscription-Key' => $KEY);
is($r->{status}, 200, 'pckcerts: 200');
is($r->{content}, $set->{body}, "Intel's list, byte for byte");
is($r->{headers}{$_}, $set->{headers}{$_}, "pckcerts: $_ as Intel's")
    for qw(sgx-fmspc sgx-pck-certificate-ca-type
           sgx-pck-certificate-issuer-chain);
is($r->{headers}{'x-cache-status'}, 'HIT',
   'the set the pckcert requests fetched');

# ---- Azure's JSON form ----------------------------------------------------

my $JSON = JSON::PP->new;
my %az = (qeid => $qeid, cpusvn => $cpusvn, pcesvn => $pcesvn,
          pceid => $pceid, encrypted_ppid => $ppid,
          clientid => 'production_client',
          'api-version' => '2021-07-22-preview');
for my $case (["/metadata/THIM$V4/pckcert", 'THIM (primary)', 1],
              ["$V4/pckcert", 'ACC cache (secondary)', 0]) {
    my ($path, $name, $http2) = @$case;
    $r = $t->get("$path?" . pckcert_q(%az), http2 => $http2,
                 headers => { Metadata => 'true' });
    is($r->{status}, 200, "$name: 200" . ($http2 ? ' over HTTP/2' : ''));
    is($r->{headers}{'content-type'}, 'application/json', "$name: JSON");
    my $j = eval { $JSON->decode($r->{content}) } || {};
    is_deeply([sort keys %$j],
              [sort qw(pckCert sgx-Pck-Certificate-Issuer-Chain sgx-Tcbm
                       cacheMaxAge)],
              "$name: exactly the four keys the Azure client needs");
    is($j->{pckCert}, $want->{body}, "$name: pckCert is the PEM");
    is($j->{'sgx-Tcbm'}, $want->{headers}{'sgx-tcbm'}, "$name: sgx-Tcbm");
    is($j->{'sgx-Pck-Certificate-Issuer-Chain'},
       $want->{headers}{'sgx-pck-certificate-issuer-chain'},
       "$name: the chain, percent-encoded");
    my ($age) = ($r->{headers}{'cache-control'} // '') =~ /max-age=(\d+)/;
    ok(defined $age && $r->{content} =~ /"cacheMaxAge":(\d+)\}$/
       && $1 == $age && $age > 0,
       "$name: cacheMaxAge is an integer, the max-age");
    is($r->{headers}{'sgx-tcbm'}, $j->{'sgx-Tcbm'},
       "$name: Intel's headers too");
}

$r = $t->get("/metadata/THIM$V4/pckcert?" . pckcert_q(%az));
is($r->{status}, 400, 'THIM form without Metadata: true: 400');
like($r->{content}, qr/Metadata: true/, '... naming the header');

# ---- strict parameters ----------------------------------------------------

my @bad = (
    [encrypted_ppid => 'ab' x 383, 'encrypted_ppid'],
    [encrypted_ppid => ('g' . '0' x 767), 'encrypted_ppid'],
    [cpusvn => '0f0f', 'cpusvn'],
    [cpusvn => undef, 'cpusvn'],
    [pcesvn => '09', 'pcesvn'],
    [pcesvn => 'zz00', 'pcesvn'],
    [pceid => undef, 'pceid'],
    [pceid => '00000', 'pceid'],
    [qeid => 'ab', 'qeid'],
);
for my $b (@bad) {
    my ($k, $v, $param) = @$b;
    $r = $t->get("$V4/pckcert?" . pckcert_q(%p1, $k => $v));
    ok($r->{status} == 400 && $r->{content} =~ /"parameter":"$param"/,
       'bad ' . $k . ' (' . (defined $v ? length($v) . ' chars' : 'missing')
       . "): 400 naming $param");
}
$r = $t->get("$V4/pckcerts?encrypted_ppid=" . ('0' x 768) . "&pceid=0000");
is($r->{status}, 400, 'pckcerts with a zero PPID: 400');

# ---- the API key: only on pckcerts; a refused key says so -----------------

# (the test's own oracle requests carry it to pckcert and pckcerts too)
my @keyed = @{ $o->keyed };
ok(@keyed && !grep({ !m{^/sgx/certification/v[34]/pckcerts?\?} } @keyed),
   'the API key went to Intel on pckcert(s) requests only ('
   . scalar(@keyed) . ')');
my $counts = $o->counts;
my @sets = grep { m{^/sgx/certification/v4/pckcerts\?} } keys %$counts;
my %keyed = map { $_ => 1 } @keyed;
ok(@sets && !grep({ !$keyed{$_} } @sets),
   'every pckcerts request carried it');

$o->api_key('another-key');
$t->mark_log;
my ($p4, $pce4, $cpu4, $pcesvn4) = @{ $rows[3] };
$r = $t->get("$V4/pckcert?" . pckcert_q(encrypted_ppid => $p4,
    cpusvn => $cpu4, pcesvn => $pcesvn4, pceid => $pce4));
is($r->{status}, 502, 'Intel refuses the key: 502');
like($r->{content}, qr/refused the API key/, '... saying it is the key');
like($t->log_since_mark, qr/PCS key rejected/, '... and the log says so');
$o->api_key($KEY);

# ---- forged or inconsistent sets are refused, never cached ----------------

my ($p5, $pce5, $cpu5, $pcesvn5) = @{ $rows[4] };
my $q5 = pckcert_q(encrypted_ppid => $p5, cpusvn => $cpu5,
                   pcesvn => $pcesvn5, pceid => $pce5);
$o->fault("$V4/pckcerts", corrupt => 1, times => 1);
$r = $t->get("$V4/pckcert?$q5");
is($r->{status}, 502, 'a corrupted set: 502');
like($r->{content}, qr/refused/, '... refused by the checks');

$o->serve("$V4/pckcerts?encrypted_ppid=" . lc($p5) . "&pceid=$pce5",
          file => 'intel/pckcerts/pckcerts_00906ea10000_processor_'
                  . '2024-06-28_qeid-d68bdbd719d925b5d122a7c4522628f7.json',
          pckset => { fmspc => '00906ed50000', ca => 'processor' });
$r = $t->get("$V4/pckcert?$q5");
is($r->{status}, 502, 'a set whose SGX-FMSPC is not its certificates\': 502');
like($r->{content}, qr/not of the FMSPC/, '... saying why');

$o->serve("$V4/pckcerts?encrypted_ppid=" . lc($p5) . "&pceid=$pce5",
          file => 'intel/pckcerts/pckcerts_90806f000000_platform_'
                  . '2024-06-28_qeid-908da94d8f8a3c31db56855dec5892aa.json',
          pckset => { fmspc => '90806f000000', ca => 'processor' });
$r = $t->get("$V4/pckcert?$q5");
is($r->{status}, 502, 'a platform CA set labelled processor: 502');
$o->clear_serves;

$r = $t->get("$V4/pckcert?$q5");
is($r->{status}, 200, 'then the genuine set: 200');

# ---- thimctl verify checks a set as the cache does --------------------------

{
    my $ctl = "$FindBin::Bin/../build/thimctl";
    my $url = 'https://127.0.0.1:' . $t->port('https')
              . "$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid";
    my $out = `$ctl verify --cacert '$t->{pki}{ca}' --intel-root-ca '$ThimSetup::DATA/intel/root/Intel_SGX_Root_CA.pem' '$url' 2>&1`;
    is($? >> 8, 0, 'thimctl verify of the served set: exit 0');
    like($out, qr/^OK\s+\S+ pckcerts/m, '... one OK line') or diag($out);
}

# ---- privacy: no PPID, QE ID or key in any log ----------------------------

my @secrets = (map({ ($_->[0], $_->[4]) } @rows, @azure), $KEY);
my $access = $t->read_file('logs/thim.log') // '';
my $alog = $t->access_log;
my $leaks = 0;
for my $s (@secrets) {
    for my $l (split /\n/, $access . "\n" . $alog) {
        $leaks++ if index(lc $l, lc $s) >= 0;
    }
}
is($leaks, 0, 'access logs: no encrypted PPID, QE ID or API key');
like($access, qr/encrypted_ppid=sha256:[0-9a-f]{12}/,
     '... the request line names the platform by a short digest');

# nginx core logs the request line at debug level before any module runs;
# everything after, the module's lines and nginx's (proxy, upstream), is clean
my ($core, $other) = (0, 0);
for my $l (split /\n/, $t->error_log) {
    my $hit = grep { index(lc $l, lc $_) >= 0 } @secrets;
    next unless $hit;
    if ($l =~ /\] \d+#\d+: \*\d+ (?:http2? request line|http args|http2 (?:header|table add|get indexed header)): /
        || $l =~ /\] \d+#\d+: \*\d+ (?:http uri|http exten)/) {
        $core++;
    } else {
        $other++;
        diag("leak: " . substr($l, 0, 160)) if $other <= 3;
    }
}
is($other, 0, 'error.log at debug level: no identifier or key in any line '
   . "but nginx's own request-line parsing ($core such lines)");

# ---- sets survive a restart in the snapshot, and are checked on the way ----

{
    my ($ts, $os) = ThimSetup::start(workers => 1,
        zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s');
    my %q = (encrypted_ppid => $ppid, cpusvn => $cpusvn, pcesvn => $pcesvn,
             pceid => $pceid, qeid => $qeid);
    $ts->mark_log;
    my $before = $ts->get("$V4/pckcert?" . pckcert_q(%q));
    is($before->{status}, 200, 'snapshot: a platform cached (by QE ID)');
    ok($ts->wait_for(sub { $ts->log_since_mark =~ /(?:snapshot of|journal:) \d+ (?:changed )?records/ },
                     timeout => 10), 'snapshot: written');

    $ts->kill_all(9);
    $os->fault('/', drop => 1);
    $os->reset;
    $ts->mark_log;
    $ts->run;
    ok(ThimSnapshot::wait_loaded($ts), 'snapshot: loaded in the background');
    like($ts->log_since_mark,
         qr/(\d+) records loaded from snapshot .*\(0 damaged, 0 refused, 0 skipped/,
         'snapshot: the set and its TCB info re-checked and loaded, the '
         . 'derived answer not written');
    my $after = $ts->get("$V4/pckcert?"
                         . pckcert_q(%q, encrypted_ppid => undef));
    ok($after->{status} == 200 && $after->{content} eq $before->{content}
       && $after->{headers}{'sgx-tcbm'} eq $before->{headers}{'sgx-tcbm'},
       'after kill -9, origin down: the same certificate, by QE ID alone');
    is($os->total, 0, '... and Intel was not asked');
    $ts->stop;
}

# ---- with a grace, a set past its refresh time is still served ------------
# (it holds until its certificates expire, not until thim_cache_valid's max)

{
    my ($tg, $og) = ThimSetup::start(workers => 1,
        http => "thim_next_update_grace 1s;\nthim_cache_valid 2s 2s;");
    my %q = (encrypted_ppid => $ppid, cpusvn => $cpusvn, pcesvn => $pcesvn,
             pceid => $pceid, qeid => $qeid);
    is($tg->get("$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid")->{status},
       200, 'grace 1s: a set cached');
    sleep 4;
    $og->fault('/', drop => 1);
    my $r = $tg->get("$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid");
    like($r->{status} . ' ' . ($r->{headers}{'x-cache-status'} // '-'),
         qr/^200 (?:UPDATING|STALE)$/,
         'past thim_cache_valid + grace, origin down: still served');
    $tg->stop;
}

# ---- key configuration is checked at start --------------------------------

{
    my $conf = ThimSetup::config();
    (my $nokey = $conf) =~ s/^\s*thim_intel_api_key_file .*$//m;
    my $t2 = ThimTest->new(modules => [ThimSetup::module()]);
    $t2->{vars}{ORIGIN_PORT} = $o->port;
    $t2->write_config($nokey);
    $t2->run;
    like($t2->error_log, qr/\[warn\].*has no "thim_intel_api_key_file"/,
         'no key configured: a warning at start');
    $t2->stop;

    my $t3 = ThimTest->new(modules => [ThimSetup::module()]);
    $t3->{vars}{ORIGIN_PORT} = $o->port;
    $t3->write_file('empty-key', "  \n");
    (my $empty = $conf) =~ s/^(\s*thim_intel_api_key_file ).*$/$1%%TESTDIR%%\/empty-key;/m;
    $t3->write_config($empty);
    eval { $t3->run };
    like($@, qr/holds no API key/, 'an empty key file: nginx refuses to start');
    $t3->{check_alerts} = 0;
}

done_testing();
