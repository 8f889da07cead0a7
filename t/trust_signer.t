#!/usr/bin/perl
# Only the right signer signs: under a look-alike of Intel's PKI whose root
# is configured as thim_intel_root_ca (t/lib/ThimIntelPKI.pm), collateral
# re-signed by a certificate that chains to that root correctly but is not
# in the role (a TCB Signing certificate under an intermediate, a PCK CA
# signing tcbInfo, a TCB signer that is a CA, a non-CA or the other PCK CA
# signing a PCK CRL) is refused: 502 naming the reason, not cached, counted
# as invalid, a good cached copy kept; the right roles are accepted.  A TCB
# signer listed in the root CA CRL is accepted until that CRL is cached,
# refused from then on, on the fetch path and when a snapshot is read back.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA ();
use File::Temp qw(tempdir);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimIntelPKI;
use ThimSetup;
use ThimSnapshot;

my $pki = ThimIntelPKI::make(tempdir(CLEANUP => 1));

my $TCB_PATH = '/sgx/certification/v4/tcb';
my $TCB = "$TCB_PATH?fmspc=00906ed50000";
my $QE = '/sgx/certification/v4/qe/identity';
my $CRL = '/sgx/certification/v4/pckcrl?ca=platform&encoding=der';
my $ROOT_CRL = '/sgx/certification/v4/rootcacrl';

my $tcb_body = ThimSetup::fixture(
    'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json');
my $qe_body = ThimSetup::fixture(
    'intel/pcs/sgx/qe_identity_eval18_2026-01-07.json');

my ($t, $o) = ThimSetup::start(workers => 2,
    intel_root => $pki->{root}{cert},
    http => 'thim_cache_valid 2s;',
    server => 'location = /thim/status { thim_status; }');

sub invalid {
    my $j = JSON::PP::decode_json($t->get('/thim/status')->{content});
    return $j->{zones}{thim}{results}{invalid};
}

# the body Intel signed, re-signed by a role, served with the role's chain
sub serve_signed {
    my ($key, $body, $role) = @_;
    $o->serve($key, body => $pki->sign_json($role, $body),
              chain => $pki->chain_file($role));
}

sub serve_crl {
    my ($key, $role, $chain_role) = @_;
    $o->serve($key, file => $pki->crl($role),
              chain => $pki->chain_file($chain_role // $role));
}

# refused: 502 naming the reason, logged, counted, and nothing cached
sub refused {
    my ($what, $path, $why) = @_;
    my $before = invalid();
    $t->mark_log;
    my $r = $t->get($path);
    is($r->{status}, 502, "$what: 502");
    like(eval { JSON::PP::decode_json($r->{content})->{error} } // '',
         $why, "$what: the 502 names the reason");
    like($t->log_since_mark, qr/refused origin answer/, "$what: logged");
    is(invalid(), $before + 1, "$what: counted as invalid");
    is($t->get($path)->{status}, 502, "$what: not cached, asked again");
}

# ---- TCB info -----------------------------------------------------------

serve_signed($TCB, $tcb_body, 'tcb_deep');
refused('tcbInfo by a TCB Signing certificate under an intermediate', $TCB,
        qr/not issued directly by the pinned root/);

serve_signed($TCB, $tcb_body, 'platform');
refused('tcbInfo by the PCK Platform CA', $TCB,
        qr/signer is not the Intel SGX TCB Signing certificate/);

serve_signed($TCB, $tcb_body, 'tcb_ca');
refused('tcbInfo by a TCB Signing certificate that is a CA', $TCB,
        qr/TCB signer is a CA/);

serve_signed($TCB, $tcb_body, 'root');
refused('tcbInfo by the root itself', $TCB,
        qr/signer is not the Intel SGX TCB Signing certificate/);

# the right role under the same root: accepted, so the above can fail
serve_signed($TCB, $tcb_body, 'tcb');
my $good = $t->get($TCB);
is($good->{status}, 200, 'tcbInfo by the TCB Signing certificate: accepted');

# a good copy stays when its refresh is signed in the wrong role
sleep 2.2;
serve_signed($TCB, $tcb_body, 'processor');
$t->mark_log;
my $r = $t->get($TCB);
ok($r->{status} == 200 && $r->{content} eq $good->{content},
   'expired, refresh by a PCK CA: the good copy is answered');
ok($t->wait_for(sub { $t->log_since_mark =~ /signer is not the Intel SGX TCB/ }),
   '... and the refresh refused for its signer');
$r = $t->get($TCB);
ok($r->{content} eq $good->{content}, '... and never replaces the good copy');

# ---- identities ---------------------------------------------------------

serve_signed($QE, $qe_body, 'processor');
refused('QE identity by the PCK Processor CA', $QE,
        qr/signer is not the Intel SGX TCB Signing certificate/);

# ---- PCK CRLs -----------------------------------------------------------

serve_crl($CRL, 'platform_leaf');
refused('the platform CRL by a non-CA named as the Platform CA', $CRL,
        qr/PCK CA is not a CA with keyCertSign and cRLSign/);

serve_crl($CRL, 'processor');
refused('the platform CRL by the Processor CA', $CRL,
        qr/signer is not the Intel SGX PCK Platform CA/);

serve_crl($CRL, 'tcb');
refused('the platform CRL by the TCB Signing certificate', $CRL,
        qr/signer is not the Intel SGX PCK Platform CA/);

serve_crl($CRL, 'platform');
is($t->get($CRL)->{status}, 200, 'the platform CRL by the Platform CA: '
   . 'accepted');

# ---- revocation by the root CA CRL --------------------------------------

my $QE_V3 = '/sgx/certification/v3/qe/identity';
my $TCB_B = "$TCB_PATH?fmspc=00906ed50000&update=early";

serve_signed($QE_V3, $qe_body, 'tcb_revoked');
is($t->get($QE_V3)->{status}, 200,
   'a TCB signer the root CRL lists: accepted while no root CRL is cached');

$o->serve('/IntelSGXRootCA.der', file => $pki->{root_crl});
is($t->get($ROOT_CRL)->{status}, 200, 'the root CA CRL is cached');

serve_signed($TCB_B, $tcb_body, 'tcb_revoked');
refused('tcbInfo by the revoked TCB signer, root CRL cached', $TCB_B,
        qr/signer is revoked by the Intel root CA CRL/);

serve_signed($TCB_B, $tcb_body, 'tcb');
is($t->get($TCB_B)->{status}, 200, '... the unrevoked signer still accepted');

# ---- read back from a snapshot ------------------------------------------

# The same refusal when the records come back from a snapshot: the root
# CRL is read back first, wherever it is in the file.
{
    my ($t2, $o2) = ThimSetup::start(workers => 1,
        zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s',
        intel_root => $pki->{root}{cert});
    $o2->serve($QE_V3, body => $pki->sign_json('tcb_revoked', $qe_body),
               chain => $pki->chain_file('tcb_revoked'));
    is($t2->get($QE_V3)->{status}, 200,
       'snapshot: the revoked signer\'s QE identity cached (no root CRL)');
    $o2->serve('/IntelSGXRootCA.der', file => $pki->{root_crl});
    is($t2->get($ROOT_CRL)->{status}, 200, 'snapshot: the root CRL cached');
    $t2->stop;

    $t2->mark_log;
    $t2->run;
    ThimSnapshot::wait_loaded($t2);
    like($t2->log_since_mark,
         qr/snapshot record "intel:[^"]*qe\/identity" refused: the signer is revoked/,
         'snapshot: the record signed by the revoked signer is refused');
    like($t2->log_since_mark, qr/1 records loaded from snapshot/,
         'snapshot: the root CRL is read back');
    $o2->serve('/IntelSGXRootCA.der', status => 500);
    is($t2->get($ROOT_CRL)->{headers}{'x-cache-status'}, 'HIT',
       'snapshot: ... and served from the cache');
}

# ... and from a bundle, whose index lists the root CRL last
{
    my $b = tempdir(CLEANUP => 1);
    my $qe = $pki->sign_json('tcb_revoked', $qe_body);
    my $crl = do {
        open my $h, '<:raw', $pki->{root_crl} or die "$pki->{root_crl}: $!";
        local $/;
        <$h>;
    };
    my @e;
    for ([intel => $QE_V3, 'qe.json', $qe,
          { 'SGX-Enclave-Identity-Issuer-Chain' =>
            ThimSetup::intel_pct_encode($pki->chain('tcb_revoked')) }],
         ['intel-root' => '/IntelSGXRootCA.der', 'root.der', $crl, {}]) {
        my ($origin, $path, $file, $body, $headers) = @$_;
        open my $h, '>:raw', "$b/$file" or die "$b/$file: $!";
        print $h $body;
        close $h;
        push @e, { origin => $origin, path => $path, file => $file,
                   sha256 => Digest::SHA::sha256_hex($body),
                   fetched => '2026-01-08T00:00:00Z', headers => $headers };
    }
    open my $ix, '>', "$b/index.json" or die "$b/index.json: $!";
    print $ix JSON::PP::encode_json({ format => 'ngx_thim-bundle',
                                      version => 1, entries => \@e });
    close $ix;

    my ($t4, $o4) = ThimSetup::start(workers => 1, zone => "4m seed=$b",
                                     intel_root => $pki->{root}{cert});
    ThimSnapshot::wait_loaded($t4);
    like($t4->error_log,
         qr/bundle entry "intel:[^"]*qe\/identity" skipped: the signer is revoked/,
         'bundle: the entry signed by the revoked signer is refused');
    like($t4->error_log, qr/1 entries seeded from bundle/,
         'bundle: the root CRL, listed last, is loaded first');
}

done_testing();
