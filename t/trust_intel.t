#!/usr/bin/perl
# Nothing Intel did not sign enters the cache: signed JSON is verified
# with its issuer chain against the pinned Intel SGX Root CA (by key) at
# its own issueDate, CRLs against their issuer; a refused answer is never
# served, and a good copy already cached keeps being served.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';
my $TCB = '/sgx/certification/v4/tcb?fmspc=00906ed50000';
my $CRL = '/sgx/certification/v4/pckcrl?ca=platform&encoding=der';

my ($t, $o) = ThimSetup::start(workers => 2, http => 'thim_cache_valid 2s;',
    server => 'location = /thim/status { thim_status; }');

sub invalid {
    my $j = JSON::PP::decode_json($t->get('/thim/status')->{content});
    return $j->{zones}{thim}{results}{invalid};
}

sub refused {
    my ($what, $path, $why) = @_;
    $t->mark_log;
    my $r = $t->get($path);
    is($r->{status}, 502, "$what: 502");
    like($t->log_since_mark, $why, "$what: refused for the right reason");
    return $r;
}

# a byte changed inside the signed object
$o->fault('/sgx/certification/v4/tcb', corrupt => 1);
my $bad = refused('corrupted tcbInfo', $TCB, qr/signature does not verify/);
like(eval { JSON::PP::decode_json($bad->{content})->{error} } // '',
     qr/refused: the signature does not verify/,
     'the 502 names the reason');

# a valid signature, but by a key that is not Intel's
$o->fault('/sgx/certification/v4/tcb', resign => 1);
refused('re-signed tcbInfo', $TCB, qr/signature does not verify/);
$o->clear_faults;

my $r = $t->get($TCB);
is($r->{status}, 200, 'the genuine tcbInfo is then accepted');
is($r->{headers}{'x-cache-status'}, 'MISS', '... nothing bad was cached');

# Intel's own corrupted sample (a v3 tcbInfo), with its chain: its
# issueDate was moved to the year 3000, where the chain is long expired
# (and the signature would fail too)
$o->serve('/sgx/certification/v3/tcb?fmspc=00906ea10000',
          file => 'intel/negative/corrupted_tcb_00906ea10000_eval8_3000-05-18.json');
refused("Intel's corrupted tcbInfo", '/sgx/certification/v3/tcb?fmspc=00906ea10000',
        qr/certificate has expired|signature does not verify/);

# the QVL sample: signed under a look-alike "Intel SGX Root CA"
$o->serve('/sgx/certification/v4/tcb?fmspc=00707f000000',
          file => 'intel/negative/qvl-sample-fake-root/tcbInfo.json',
          chain => 'intel/negative/qvl-sample-fake-root/tcbSignChain.pem');
$o->serve('/sgx/certification/v3/tcb?fmspc=00707f000000',
          file => 'intel/negative/qvl-sample-fake-root/tcbInfo.json',
          chain => 'intel/negative/qvl-sample-fake-root/tcbSignChain.pem');
refused('a chain to a fake root', '/sgx/certification/v3/tcb?fmspc=00707f000000',
        qr/not the trusted one/);

# a genuine CRL, but of the other CA
$o->serve('/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
          file => 'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.der',
          chain => 'intel/pcs/pckcrl/pckcrl_processor_2020-05-18.issuer_chain.pem');
refused("the Processor CA's CRL asked for as the Platform CA's", $CRL,
        qr/signer is not the Intel SGX PCK Platform CA/);
$o->clear_serves;

# CRLs: the PCK CRL against its CA, the root CRL against the root
$o->fault('/sgx/certification/v4/pckcrl', resign => 1);
refused('re-signed PCK CRL', $CRL, qr/CRL's signature does not verify/);
$o->fault('/IntelSGXRootCA.der', corrupt => 1);
refused('corrupted root CA CRL', '/sgx/certification/v4/rootcacrl',
        qr/CRL's signature does not verify|not a DER CRL/);
$o->clear_faults;
is($t->get($CRL)->{status}, 200, 'the genuine PCK CRL is accepted');
is($t->get('/sgx/certification/v4/rootcacrl')->{status}, 200,
   'the genuine root CA CRL is accepted');

is(invalid(), 7, 'each refusal counted as invalid in thim_status');

# a good copy is kept when its refresh brings something forged
my $good = $t->get($QE);
is($good->{status}, 200, 'QE identity cached');
sleep 2.2;
$o->fault($QE, resign => 1);
$t->mark_log;
$r = $t->get($QE);
is($r->{status}, 200, 'expired, refresh forged: the cached copy is answered');
ok($r->{content} eq $good->{content}, '... byte for byte the good one');
ok($t->wait_for(sub { $t->log_since_mark =~ /refused origin answer/ }),
   'the forged refresh is refused and logged');
$r = $t->get($QE);
ok($r->{status} == 200 && $r->{content} eq $good->{content},
   'and never replaces the good copy');

# refusing what is past nextUpdate plus a grace (THIM does not; verifiers
# decide): every Intel fixture here is past it, the root CRL is not
{
    my ($t2, $o2) = ThimSetup::start(workers => 1,
                                     http => 'thim_next_update_grace 1d;');
    my $r2 = $t2->get($QE);
    is($r2->{status}, 502, 'grace 1d: a QE identity past nextUpdate refused');
    like($r2->{content}, qr/past its nextUpdate/, '... saying why');
    is($t2->get('/sgx/certification/v4/rootcacrl')->{status}, 200,
       'the root CA CRL, current until 2027, served');
}

# tightened by a reload: what is cached and past it is no longer served
{
    my ($t3, $o3) = ThimSetup::start(workers => 1);
    is($t3->get($QE)->{status}, 200, 'no grace: the expired QE identity served');
    $t3->write_config(ThimSetup::config(http => 'thim_next_update_grace 1d;'));
    $t3->reload;
    $o3->reset;
    my $r3 = $t3->get($QE);
    is($r3->{status}, 502,
       'after a reload with grace 1d: the cached copy is not served');
    is($o3->count($QE), 1, '... the origin is asked, and its answer refused');
    is($t3->get('/sgx/certification/v4/rootcacrl')->{status}, 200,
       'current collateral still served');
}

done_testing();
