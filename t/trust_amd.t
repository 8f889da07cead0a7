#!/usr/bin/perl
# Nothing AMD did not sign enters the cache: a VCEK must be signed by its
# product's ASK (itself signed by the pinned ARK) and name the chip and
# TCB it was asked for; a cert_chain must carry the pinned ARK and, signed
# by it, the CA of its family (the product's ASK for /vcek/, its ASVK for
# /vlek/); a CRL must be signed by the ARK.  Genuine AMD certificates in
# the wrong role (a VLEK as a VCEK, the chains swapped, another product's
# ASK) are refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;
use ThimTest;

my $A = '19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca';
my $B = 'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e';
my $SPL = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';
my $VCEK_A = "/vcek/v1/Milan/$A?$SPL";
my $VCEK_B = "/vcek/v1/Milan/$B?$SPL";

my ($t, $o) = ThimSetup::start(workers => 2, http => 'thim_cache_valid 2s;');

sub refused {
    my ($what, $path, $why) = @_;
    $t->mark_log;
    my $r = $t->get($path);
    is($r->{status}, 502, "$what: 502");
    like($t->log_since_mark, $why, "$what: refused for the right reason");
}

# VCEK-shaped certificates that AMD did not sign (trustee's samples)
$o->serve($VCEK_A, file => 'amd/negative/vcek_not-amd-signed_legacy.der');
refused('a VCEK not signed by AMD', $VCEK_A, qr/not signed by the product's ASK/);
$o->serve($VCEK_A, file => 'amd/negative/vcek_not-amd-signed_new.der');
refused('another VCEK not signed by AMD', $VCEK_A,
        qr/not signed by the product's ASK/);

# genuine VCEKs answering for the wrong chip or the wrong TCB
$o->serve($VCEK_A, file => "amd/milan/vcek/${B}_bl3_tee0_snp8_ucode115.der");
refused("another chip's genuine VCEK", $VCEK_A, qr/for another chip/);
my $other_tcb = "/vcek/v1/Milan/$A?blSPL=2&teeSPL=0&snpSPL=8&ucodeSPL=115";
$o->serve($other_tcb, file => "amd/milan/vcek/${A}_bl3_tee0_snp8_ucode115.der");
refused('a genuine VCEK for another TCB', $other_tcb, qr/for another TCB/);
$o->clear_serves;

# re-signed by a foreign key of the same kind
$o->fault('/vcek/v1/Milan/' . $B, resign => 1);
refused('a re-signed VCEK', $VCEK_B, qr/not signed by the product's ASK/);
$o->clear_faults;
is($t->get($VCEK_B)->{status}, 200, 'the genuine VCEK is then accepted');
is($t->get($VCEK_A)->{status}, 200, 'and the other chip\'s');

# genuine AMD certificates in the wrong role: a VLEK (signed by the ASVK)
# or another product's VCEK answering for a VCEK (of a TCB not yet cached)
my $VCEK_C = "/vcek/v1/Milan/$A?blSPL=5&teeSPL=0&snpSPL=8&ucodeSPL=115";
$o->serve($VCEK_C, file => 'amd/milan/vlek/vlek_cc-us-east-2.amazonaws.com_bl4_tee0_snp24_ucode217.der');
refused('a genuine VLEK as a VCEK', $VCEK_C, qr/not signed by the product's ASK/);
$o->serve($VCEK_C, file => 'amd/genoa/vcek/0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1_bl10_tee0_snp23_ucode84.der');
refused("Genoa's genuine VCEK as Milan's", $VCEK_C,
        qr/not signed by the product's ASK/);

# the chains swapped, and another product's ASK under this ARK
$o->serve('/vcek/v1/Milan/cert_chain', file => 'amd/milan/vlek_cert_chain.pem');
refused('the VLEK chain (ASVK) as the VCEK chain', '/vcek/v1/Milan/cert_chain',
        qr/VCEK chain's CA is not the product's ASK/);
$o->serve('/vlek/v1/Milan/cert_chain', file => 'amd/milan/cert_chain.pem');
refused('the VCEK chain (ASK) as the VLEK chain', '/vlek/v1/Milan/cert_chain',
        qr/VLEK chain's CA is not the product's ASVK/);
my @genoa = ThimSetup::fixture('amd/genoa/cert_chain.pem')
    =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?)/sg;
my @milan = ThimSetup::fixture('amd/milan/cert_chain.pem')
    =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?)/sg;
$o->serve('/vcek/v1/Milan/cert_chain', body => $genoa[0] . $milan[1]);
refused("Genoa's ASK with Milan's ARK", '/vcek/v1/Milan/cert_chain',
        qr/not signed by the ARK|not the product's ASK/);
my @vlek_genoa = ThimSetup::fixture('amd/genoa/vlek_cert_chain.pem')
    =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?)/sg;
$o->serve('/vlek/v1/Milan/cert_chain', body => $vlek_genoa[0] . $milan[1]);
refused("Genoa's ASVK with Milan's ARK", '/vlek/v1/Milan/cert_chain',
        qr/not signed by the ARK/);
$o->clear_serves;
is($t->get('/vlek/v1/Genoa/cert_chain')->{status}, 200,
   'a genuine VLEK chain then accepted');

# chains: another product's, or an ASK re-signed by a foreign key
$o->serve('/vcek/v1/Milan/cert_chain', file => 'amd/genoa/cert_chain.pem');
refused("Genoa's chain as Milan's", '/vcek/v1/Milan/cert_chain',
        qr/ARK is not the trusted one/);
$o->clear_serves;
$o->fault('/vcek/v1/Genoa/cert_chain', resign => 1);
refused('a re-signed ASK', '/vcek/v1/Genoa/cert_chain',
        qr/ASK is not signed by the ARK/);
$o->clear_faults;
for my $p (qw(Milan Genoa Turin)) {
    is($t->get("/vcek/v1/$p/cert_chain")->{status}, 200, "$p chain accepted");
}
is($t->get('/vlek/v1/Milan/cert_chain')->{status}, 200,
   'the VLEK chain (ASVK under the same ARK) accepted');

# CRLs: signed by the ARK
$o->serve('/vcek/v1/Milan/crl', file => 'amd/genoa/crl.der');
refused("Genoa's CRL as Milan's", '/vcek/v1/Milan/crl',
        qr/CRL's signature does not verify/);
$o->clear_serves;

# a good CRL stays when its refresh brings a forged one
my $good = $t->get('/vcek/v1/Milan/crl');
is($good->{status}, 200, 'the genuine Milan CRL is accepted');
sleep 2.2;
$o->fault('/vcek/v1/Milan/crl', resign => 1);
$t->mark_log;
my $r = $t->get('/vcek/v1/Milan/crl');
ok($r->{status} == 200 && $r->{content} eq $good->{content},
   'expired, refresh forged: the good CRL is answered');
ok($t->wait_for(sub { $t->log_since_mark =~ /refused origin answer/ }),
   'the forged refresh is refused');
$r = $t->get('/vcek/v1/Milan/crl');
ok($r->{content} eq $good->{content}, 'and never replaces the good CRL');
$o->clear_faults;

# thim_amd without trust anchors does not start
my $bare = ThimTest->new(modules => [ThimSetup::module()]);
$bare->{vars}{ORIGIN_PORT} = $o->port;
my $conf = ThimSetup::config();
$conf =~ s/^\s*thim_amd_trust .*$//mg;
$bare->write_config($conf);
eval { $bare->run };
like($@, qr/verifies what AMD signs/, 'thim_amd without thim_amd_trust: refused');
$bare->{check_alerts} = 0;

# a trust file that is not the product's ASK and ARK does not start
for my $case (['amd/milan/vlek_cert_chain.pem', "Milan's VLEK chain (ASVK)"],
              ['amd/genoa/cert_chain.pem', "Genoa's chain"]) {
    my ($file, $what) = @$case;
    my $wrong = ThimTest->new(modules => [ThimSetup::module()]);
    $wrong->{vars}{ORIGIN_PORT} = $o->port;
    (my $c = ThimSetup::config()) =~
        s{(thim_amd_trust Milan )\S+;}{$1$ThimSetup::DATA/$file;};
    $wrong->write_config($c);
    eval { $wrong->run };
    like($@, qr/is not Milan's ASK signed by its self-signed ARK/,
         "thim_amd_trust Milan with $what: refused");
    $wrong->{check_alerts} = 0;
}

done_testing();
