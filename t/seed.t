#!/usr/bin/perl
# Offline seeding (issue 6, docs/bundle.md): a bundle of real collateral
# (conf/bundle, made by scripts/make-bundle.pl from t/data) seeds a cold
# server that then answers with no origin at all; bad entries (wrong
# sha256, a broken signature, a body under another FMSPC, a file outside
# the bundle, an unknown origin) are skipped and logged while the rest
# load; a missing or bad bundle never stops the start; seeded data gives
# way to newer origin data, and never replaces a newer copy from the
# snapshot.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use ThimSetup;
use ThimSnapshot;

my $BUNDLE = "$ThimSetup::ROOT/conf/bundle";
my $QE = '/sgx/certification/v4/qe/identity';

sub slurp { ThimTest::_slurp($_[0]) // die "$_[0]: $!" }

sub spew {
    my ($f, $d) = @_;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh $d;
    close $fh;
}

my $index = decode_json(slurp("$BUNDLE/index.json"));
my @entries = @{ $index->{entries} };
ok(@entries >= 30, scalar(@entries) . ' entries in the shipped bundle');

# a client request for a bundle entry (the same origin request)
sub client_path {
    my ($e) = @_;
    my $p = $e->{origin} eq 'intel-root' ? '/sgx/certification/v4/rootcacrl'
                                         : $e->{path};
    return $p . (defined $e->{query} ? "?$e->{query}" : '');
}

sub expected {
    my ($e) = @_;
    my $b = slurp("$BUNDLE/$e->{file}");
    # the root CRL is served as hex, as PCCS does
    return $e->{origin} eq 'intel-root' ? unpack('H*', $b) : $b;
}

# ===========================================================================
# a cold server, no origin at all: everything from the bundle

{
    my ($t) = ThimSetup::start(workers => 2, no_origin => 1,
                               zone => "4m seed=$BUNDLE");
    ok(ThimSnapshot::wait_loaded($t), 'the bundle is loaded in the background');
    my $log = $t->error_log;
    like($log, qr/\[notice\].*(\d+) entries seeded from bundle .*\(0 skipped, 0 had a newer copy, 0 evicted for room\)/,
         'the whole bundle is seeded, the pckcerts entry too');
    unlike($log, qr/encrypted_ppid=[0-9a-f]{41}/,
           'no whole encrypted PPID in the log');

    # PCK certificates, offline: chosen from the seeded set and TCB info
    my ($pck) = grep { $_->{path} =~ m{/pckcerts$} } @entries;
    my ($ppid) = $pck->{query} =~ /encrypted_ppid=([0-9a-f]+)/;
    my $raw = 'cpusvn=0f0f0205ff8007000000000000000000&pcesvn=0900&pceid=0000';
    for my $q ("encrypted_ppid=$ppid&$raw",
               "qeid=$pck->{qeid}&$raw",
               'encrypted_ppid=' . ('0' x 768) . "&qeid=$pck->{qeid}&$raw") {
        my $r = $t->get("/sgx/certification/v4/pckcert?$q");
        is($r->{status} . ' ' . ($r->{headers}{'sgx-tcbm'} // '-'),
           '200 0D0D02040180030000000000000000000900',
           'pckcert from the seeded set, ' . ($q =~ /^qeid|zero|0{768}/ ? 'by QE ID' : 'by PPID'));
    }

    my ($ok, $n) = (1, 0);
    for my $e (@entries) {
        next if $e->{path} =~ /pckcert/;
        my $p = client_path($e);
        for my $h2 (0, 1) {
            my $r = $t->get($p, http2 => $h2);
            $n++;
            next if $r->{status} == 200 && $r->{content} eq expected($e)
                    && ($r->{headers}{'x-cache-status'} // '') eq 'HIT';
            $ok = 0;
            diag("$p (h2 $h2): $r->{status} "
                 . ($r->{headers}{'x-cache-status'} // '-'));
        }
    }
    ok($ok, "all $n answers (HTTP/1.1 and HTTP/2) come from the seed, byte for byte");

    my ($chain) = grep { $_->{path} =~ m{/tcb$} && ($_->{query} // '') =~ /00906ed50000&update/ } @entries;
    my $r = $t->get(client_path($chain));
    is($r->{headers}{'tcb-info-issuer-chain'}, $chain->{headers}{'TCB-Info-Issuer-Chain'},
       'with the issuer chain header from the bundle');

    # Azure's THIM JSON is composed from the seeded VCEK and chain
    $r = $t->get('/metadata/THIM/amd/certification?productName=Milan'
                 . '&tcbVersion=7308000000000003&platformId=b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a',
                 headers => { Metadata => 'true' });
    is($r->{status}, 200, "Azure's THIM JSON, composed offline from the seed");

    # what is not in the bundle: the origin is down, the failure is calm
    $r = $t->get('/sgx/certification/v4/tcb?fmspc=123456789abc');
    is($r->{status}, 502, 'a key not in the bundle: 502, origin unreachable');
    $t->stop;
}

# ===========================================================================
# a zone too small for the bundle: the least recent entries make room,
# nothing worse than that is logged

{
    my ($t) = ThimSetup::start(workers => 1, no_origin => 1,
                               zone => "64k seed=$BUNDLE");
    ThimSnapshot::wait_loaded($t);
    my ($n) = $t->error_log =~ /entries seeded from bundle .* (\d+) evicted for room\)/;
    ok($n && $n > 0, "a 64k zone: $n entries evicted for room, said so");
    $t->stop;
}

# ===========================================================================
# bad entries are skipped, the rest load

{
    my $t = ThimTest->new(workers => 1, modules => [ThimSetup::module()]);
    my $dir = $t->dir . '/bundle';
    system('cp', '-a', $BUNDLE, $dir) == 0 or die 'cp';
    my $idx = decode_json(slurp("$dir/index.json"));
    my %by = map { client_path($_) => $_ } @{ $idx->{entries} };

    my %bad = (
        sha => "/sgx/certification/v4/tcb?fmspc=00906ed50000&update=standard",
        sig => "/sgx/certification/v4/qe/identity?update=standard",
        fmspc => "/sgx/certification/v4/tcb?fmspc=90806f000000&update=standard",
        vcek => '/vcek/v1/Milan/cert_chain',
        path => '/vcek/v1/Genoa/cert_chain',
        origin => '/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
    );
    $by{$bad{sha}}{sha256} = '0' x 64;
    {
        my $e = $by{$bad{sig}};
        my $b = slurp("$dir/$e->{file}");
        $b =~ s/"isvprodid":1/"isvprodid":3/ or die 'isvprodid';
        spew("$dir/$e->{file}", $b);
        $e->{sha256} = sha256_hex($b);
    }
    {
        # the body of another FMSPC under this one's request
        my $other = $by{$bad{sha}};
        my $e = $by{$bad{fmspc}};
        $e->{file} = $other->{file};
        $e->{headers} = $other->{headers};
        $e->{sha256} = sha256_hex(slurp("$dir/$other->{file}"));
    }
    {
        # a VCEK where the chain should be
        my ($v) = grep { $_->{path} =~ m{^/vcek/v1/Milan/[0-9a-f]{128}$} } @{ $idx->{entries} };
        my $e = $by{$bad{vcek}};
        $e->{file} = $v->{file};
        $e->{sha256} = $v->{sha256};
    }
    $by{$bad{path}}{file} = '../../etc/passwd';
    $by{$bad{origin}}{origin} = 'intel-pcs';
    spew("$dir/index.json", encode_json($idx));

    $t->{vars}{ORIGIN_PORT} = $t->port('origin');
    $t->write_config(ThimSetup::config(zone => "4m seed=$dir"));
    $t->run;
    ThimSnapshot::wait_loaded($t);
    my $log = $t->error_log;
    my $n = @{ $idx->{entries} } - keys %bad;
    like($log, qr/$n entries seeded from bundle .*\(6 skipped/,
         "the $n good entries load, the bad ones are skipped");
    like($log, qr/\[warn\].*"intel:\/sgx\/certification\/v4\/tcb\?fmspc=00906ed50000&update=standard" skipped: the file does not match its sha256/,
         'wrong sha256: skipped, logged');
    like($log, qr/\[warn\].*qe\/identity\?update=standard" skipped: .*signature/,
         'broken signature: skipped, logged');
    like($log, qr/\[warn\].*fmspc=90806f000000&update=standard" skipped: fmspc \w+ in the body, 90806f000000 asked/,
         'a body under another FMSPC: skipped');
    like($log, qr/\[warn\].*Milan\/cert_chain" skipped: body is not two PEM certificates/,
         'a VCEK as a cert_chain: skipped');
    like($log, qr/\[warn\].*Genoa\/cert_chain" skipped: file leaves the bundle/,
         'a file outside the bundle: skipped');
    like($log, qr/\[warn\].*"intel-pcs:.*" skipped: unknown origin/,
         'an unknown origin: skipped');

    for my $p (values %bad) {
        my $r = $t->get($p);
        isnt($r->{headers}{'x-cache-status'} // '', 'HIT', "$p: not from the seed");
    }
    my $r = $t->get('/vcek/v1/Turin/cert_chain');
    is($r->{headers}{'x-cache-status'}, 'HIT', 'a good entry is served from the seed');
    $t->stop;

    # a bundle that is not one, or none at all: logged, nginx starts
    spew("$dir/index.json", '{"format":"something-else","version":1,"entries":[]}');
    $t->mark_log;
    ok(eval { $t->run; 1 }, 'a bad index: nginx starts');
    ThimSnapshot::wait_loaded($t);
    like($t->log_since_mark, qr/\[error\].*bundle ".*" not loaded: .* is not a version 1 bundle index/,
         'a bad index is logged');
    $t->stop;

    unlink "$dir/index.json";
    $t->mark_log;
    ok(eval { $t->run; 1 }, 'no index: nginx starts');
    ThimSnapshot::wait_loaded($t);
    like($t->log_since_mark, qr/\[warn\].*bundle ".*" not loaded: cannot read/,
         'a missing bundle is logged');
    $t->stop;
}

# ===========================================================================
# newer origin data replaces the seed; the seed never replaces newer data

{
    my ($t, $o) = ThimSetup::start(workers => 2,
        http => 'thim_cache_valid 2s;',
        zone => "4m seed=$BUNDLE snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s");
    ThimSnapshot::wait_loaded($t);

    # evaluation 18 as the bundle has it (first issued), and as Intel
    # reissued it later: same number, new dates (an older number would be
    # refused as a downgrade)
    my $QE18 = "$QE?tcbEvaluationDataNumber=18";
    my ($e) = grep { $_->{path} eq $QE && $_->{query} eq 'tcbEvaluationDataNumber=18' } @entries;
    my $seeded = slurp("$BUNDLE/$e->{file}");
    my $r = $t->get($QE18);
    is($r->{headers}{'x-cache-status'}, 'HIT', 'the seeded identity is served');
    ok($r->{content} eq $seeded, '... the bundle bytes');
    is($o->total, 0, '... without asking the origin');

    my $newer = 'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json';
    $o->serve($QE, file => $newer);
    my $want = ThimSetup::fixture($newer);
    ok($want ne $seeded, 'the origin has other collateral now');
    sleep 2.2;
    my $got = $t->wait_for(sub {
        my $x = $t->get($QE18);
        return $x->{content} eq $want ? $x : undef;
    }, timeout => 8);
    ok($got, 'once the seeded copy expires, the origin data replaces it');

    # the writer may have run before this line: the files are what counts
    my $snap = $t->dir . '/thim.snap';
    my $key = 'intel:/sgx/certification/v4/qe/identity?tcbEvaluationDataNumber=18';
    ok($t->wait_for(sub {
           my $s = eval { ThimSnapshot::read_all($snap) } or return 0;
           my ($r) = grep { $_->{key} eq $key } reverse @{ $s->{records} };
           return $r && index($r->{value}, $want) >= 0;
       }, timeout => 30), 'and the snapshot files hold the origin data');
    $t->stop;

    $o->fault('/', drop => 1);
    $t->mark_log;
    $t->run;
    ThimSnapshot::wait_loaded($t);
    like($t->log_since_mark, qr/bundle entry "intel:\/sgx\/certification\/v4\/qe\/identity\?tcbEvaluationDataNumber=18" not loaded: a newer copy is cached/,
         'at the next start the bundle does not replace the newer snapshot copy');
    $r = $t->get($QE18);
    ok($r->{status} == 200 && $r->{content} eq $want,
       'the newer origin data is served, not the seed');
    $t->stop;
}

# ===========================================================================
# "fetched" is optional in a bundle: what is seeded without it is written
# to the snapshot with a time, and the next start loads it (it was once
# written with 0 and refused at every later start)

{
    my $t = ThimTest->new(workers => 1, modules => [ThimSetup::module()]);
    my $dir = $t->dir . '/bundle';
    system('cp', '-a', $BUNDLE, $dir) == 0 or die 'cp';
    my $idx = decode_json(slurp("$dir/index.json"));
    delete $_->{fetched} for @{ $idx->{entries} };
    spew("$dir/index.json", encode_json($idx));
    my $n = @{ $idx->{entries} };

    $t->{vars}{ORIGIN_PORT} = $t->port('origin');
    $t->write_config(ThimSetup::config(
        zone => "4m seed=$dir snapshot=%%TESTDIR%%/thim.snap"));
    $t->run;
    ThimSnapshot::wait_loaded($t);
    like($t->error_log, qr/$n entries seeded from bundle .*\(0 skipped/,
         "all $n entries without a fetch time are seeded");
    $t->stop;

    $t->write_config(ThimSetup::config(
        zone => "4m snapshot=%%TESTDIR%%/thim.snap"));
    $t->mark_log;
    $t->run;
    ThimSnapshot::wait_loaded($t);
    my $log = $t->log_since_mark;
    unlike($log, qr/fetch time is not a time/,
           'no seeded record is refused for its fetch time');
    my ($loaded) = $log =~ /(\d+) records loaded from snapshot/;
    ok(defined $loaded && $loaded >= $n - 1,
       "the next start loads them from the snapshot ($loaded of $n)");
    my $r = $t->get('/vcek/v1/Turin/cert_chain');
    is($r->{headers}{'x-cache-status'}, 'HIT', '... and serves them');
    $t->stop;
}

done_testing();
