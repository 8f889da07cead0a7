#!/usr/bin/perl
# Composed answers are kept, not rebuilt (issue 14, item 3b):
#  - Azure's AMD JSON (THIM) and ACC-cache PEM are kept as derived
#    records: a repeated question is one zone lookup (the hits counter
#    moves by one, not by two lookups of chain and VCEK), with the same
#    bytes, over HTTP/1.1 and HTTP/2;
#  - a derived answer never outlives or disagrees with its sources: a
#    PCK set refreshed with other bytes (ahead of expiry, while the answer
#    derived from the old set is still fresh) makes the next pckcert
#    answer come from the new set;
#  - derived records are never written to snapshots.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use ThimSetup;

my $STATUS = '/thim/status';
my $V4 = '/sgx/certification/v4';
my $CHIP = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3'
         . 'e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $TCB = '7308000000000003';
my $THIM = "/metadata/THIM/amd/certification?platformId=$CHIP"
         . "&tcbVersion=$TCB&productName=Milan";
my $ACC = "/SevSnpVM/certificates/$CHIP/$TCB?productName=Milan";
my @MD = (headers => { Metadata => 'true' });

my ($t, $o) = ThimSetup::start(workers => 2,
    zone => '4m snapshot=%%TESTDIR%%/thim.snap',
    http => 'thim_cache_valid 12s;',
    server => "location = $STATUS { thim_status; }");

sub hits { ThimSetup::status_sum($t, 'hits') }

# ---- Azure AMD: composed once, then one lookup --------------------------

for my $form (['THIM JSON', $THIM, @MD], ['ACC PEM', $ACC]) {
    my ($name, $path, @hdr) = @$form;
    my $first = $t->get($path, @hdr);
    is($first->{status}, 200, "$name: 200") or diag $first->{content};

    for my $h2 (0, 1) {
        my $proto = $h2 ? 'HTTP/2' : 'HTTP/1.1';
        my $h0 = hits();
        my $r = $t->get($path, @hdr, $h2 ? (http2 => 1) : ());
        my $h1 = hits();
        is($r->{status}, 200, "$name again over $proto: 200");
        ok($r->{content} eq $first->{content},
           "$name again over $proto: the same bytes");
        is($r->{headers}{'x-cache-status'}, 'HIT', "$name: HIT");
        is($r->{headers}{'cache-control'}, $first->{headers}{'cache-control'},
           "$name: the same Cache-Control");
        is($h1 - $h0, 1, "$name over $proto: one lookup, the kept answer");
    }
}

is($o->count("/vcek/v1/Milan/$CHIP"), 1, 'one VCEK fetch for both forms');

# ---- a PCK set replaced: the answer derived from it goes with it ---------

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid, $cpusvn, $pcesvn) = @{ $rows[0] };
my $SET = "$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid";
my $PCK = "$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpusvn&pcesvn=$pcesvn"
        . "&pceid=$pceid";
my $FX = 'intel/pckcerts/pckcerts_00906ea10000_processor_%s'
       . '_qeid-16a5b41ebb076d263a1e39e64e7175e7.json';

sub serve_set {
    my ($date) = @_;
    $o->serve($SET, file => sprintf($FX, $date),
              pckset => { fmspc => '00906ea10000', ca => 'processor' });
}

serve_set('2020-05-18');
my $t0 = time;
my $old = $t->get($PCK);
is($old->{status}, 200, 'pckcert from the 2020 set: 200')
    or diag $old->{content};
my $again = $t->get($PCK);
ok($again->{content} eq $old->{content}, 'asked again: the same answer');
my $h0 = hits();
$t->get($PCK);
is(hits() - $h0, 1, 'asked again: one lookup, the kept answer');

# past the set's refresh time (3/4 of 12 s), before its expiry (and the
# kept answer's): the set's own route refreshes it, from the 2024 set
serve_set('2024-06-28');
sleep(9.3 - (time - $t0)) if time - $t0 < 9.3;
my $set_old = $t->get($SET)->{content};
ok($t->wait_for(sub { $o->count("$V4/pckcerts") >= 2 }, timeout => 2,
                interval => 0.05), 'the set was refreshed');
ok($t->wait_for(sub { $t->get($SET)->{content} ne $set_old }, timeout => 2,
                interval => 0.05), '... with the 2024 set');
my $new = $t->get($PCK);
my $late = time - $t0;
is($new->{status}, 200, 'pckcert after the refresh: 200');
ok($late < 12, sprintf 'still inside the old answer\'s life (%.1f s)', $late);
ok($new->{content} ne $old->{content},
   'the answer is made again from the new set, not the kept one');

# ---- derived records are not written to snapshots -----------------------

$t->stop;
my $snap = $t->read_file('thim.snap') // '';
ok(length $snap, 'a snapshot was written at exit');
like($snap, qr/amd:\/vcek\/v1\/Milan/, 'it holds the VCEK');
unlike($snap, qr/amd-azure:/, 'but no composed Azure answer');
unlike($snap, qr/intel-pck-tcb:/, 'nor a chosen PCK certificate');

done_testing;
