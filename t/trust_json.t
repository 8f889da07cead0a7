#!/usr/bin/perl
# Only signed bytes count, and they must answer the request: Intel's
# signed JSON is read once, strictly (no duplicate member at any depth, no
# escaped member name, nothing after the document, no BOM, no NUL), its
# fields out of the bytes the signature covers; its id, FMSPC and
# evaluation number are the ones asked, and a refresh never brings an
# older evaluation number.  Each forged or mismatched answer: not cached,
# not served (a 502 naming the reason), a good cached copy stays served,
# and the "invalid" counter moves.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $DATA = "$FindBin::Bin/data";
my $ES = 'intel/pcs/eval-series';

my $TCB_PATH = '/sgx/certification/v4/tcb';
my $TCB = "$TCB_PATH?fmspc=00606a000000";
my $QE = '/sgx/certification/v4/qe/identity';

my ($t, $o) = ThimSetup::start(workers => 2, http => 'thim_cache_valid 2s;',
    server => 'location = /thim/status { thim_status; }');

sub slurp {
    my ($f) = @_;
    open(my $h, '<:raw', "$DATA/$f") or die "$f: $!";
    local $/;
    my $s = <$h>;
    $s =~ s/\s+\z//;
    return $s;
}

sub invalid {
    my $j = JSON::PP::decode_json($t->get('/thim/status')->{content});
    return $j->{zones}{thim}{results}{invalid} // 0;
}

my $tcb19 = slurp("$ES/tcb_00606a000000_eval19_2025-06-06.json");
my $tcb17 = slurp("$ES/tcb_00606a000000_eval17_2025-06-06.json");
my $qe19 = slurp("$ES/qe_identity_eval19_2025-06-06.json");
my $TCB_CHAIN = "$ES/tcb_00606a000000_eval19_2025-06-06.issuer_chain.pem";
my $QE_CHAIN = "$ES/qe_identity_eval19_2025-06-06.issuer_chain.pem";

# an unsigned copy that would live forever and list no TCB level
my $forged_tcb = '"tcbInfo":{"id":"SGX","version":3,'
    . '"issueDate":"2025-06-06T12:30:41Z","nextUpdate":"2099-01-01T00:00:00Z",'
    . '"fmspc":"00606a000000","pceId":"0000","tcbType":0,'
    . '"tcbEvaluationDataNumber":99,"tcbLevels":[]}';
my $forged_qe = '"enclaveIdentity":{"id":"QE","version":2,'
    . '"issueDate":"2025-06-06T12:16:50Z","nextUpdate":"2099-01-01T00:00:00Z",'
    . '"tcbEvaluationDataNumber":99,"miscselect":"00000000",'
    . '"miscselectMask":"00000000","attributes":"00000000000000000000000000000000",'
    . '"attributesMask":"00000000000000000000000000000000",'
    . '"mrsigner":"0000000000000000000000000000000000000000000000000000000000000000",'
    . '"isvprodid":1,"tcbLevels":[]}';

sub swapped {
    my ($s, $from, $to) = @_;
    my $i = index($s, $from);
    die "'$from' not in the document" if $i < 0;
    substr($s, $i, length $from) = $to;
    return $s;
}

# served in place of the genuine answer, with nothing cached: refused
# (a refused answer is never cached, so every case starts cold)
my @cases;

sub refused {
    my (%c) = @_;
    my $what = $c{what};

    push @cases, \%c;
    $o->serve($c{key}, %{ $c{serve} });
    my $n = invalid();
    $t->mark_log;

    my $r = $t->get($c{path});
    is($r->{status}, 502, "$what: 502");
    like(eval { JSON::PP::decode_json($r->{content})->{error} } // '',
         qr/refused: .*\Q$c{why}\E/, "$what: the 502 names the reason");
    like($t->log_since_mark, qr/refused origin answer.*\Q$c{why}\E/,
         "$what: logged");
    is(invalid(), $n + 1, "$what: counted as invalid");

    $o->clear_serves;
}

# then the genuine answer is cached and expires, and the same answer
# comes as its refresh: refused, the good copy stays
sub good_copy_stays {
    my (%c) = %{ $_[0] };
    my $what = $c{what};

    return if $c{no_genuine};

    my $r = $t->get($c{path});
    is($r->{status}, 200, "$what: the genuine answer is fetched");
    my $good = $r->{content};

    sleep 2.2;
    $o->serve($c{key}, %{ $c{serve} });
    my $n = invalid();
    $t->mark_log;

    $r = $t->get($c{path});
    ok($r->{status} == 200 && $r->{content} eq $good,
       "$what: expired, refresh refused: the good copy is answered");
    ok($t->wait_for(sub {
           $t->log_since_mark =~ /refused origin answer.*\Q$c{why}\E/ }),
       "$what: the refresh is refused");
    ok($t->wait_for(sub { invalid() == $n + 1 }), "$what: counted as invalid");

    $r = $t->get($c{path});
    ok($r->{status} == 200 && $r->{content} eq $good,
       "$what: the good copy stays");

    $o->clear_serves;
}

my %TCB = (path => $TCB, key => $TCB_PATH);
my %QE = (path => $QE, key => $QE);

# duplicates: the signature covers the first, another parser keeps the last
refused(%TCB, what => 'tcbInfo: the signed member first, a forged one last',
        serve => { body => substr($tcb19, 0, -1) . ",$forged_tcb}",
                   chain => $TCB_CHAIN },
        why => 'member name twice');
refused(%QE, what => 'enclaveIdentity: the signed member first, a forged one last',
        serve => { body => substr($qe19, 0, -1) . ",$forged_qe}",
                   chain => $QE_CHAIN },
        why => 'member name twice');
refused(%TCB, what => 'tcbInfo: a forged member first, the signed one last',
        serve => { body => "{$forged_tcb," . substr($tcb19, 1),
                   chain => $TCB_CHAIN },
        why => 'member name twice');
refused(%QE, what => 'enclaveIdentity: a forged member first, the signed one last',
        serve => { body => "{$forged_qe," . substr($qe19, 1),
                   chain => $QE_CHAIN },
        why => 'member name twice');
refused(%TCB, what => 'tcbInfo: a duplicate key inside the signed object',
        serve => { body => swapped($tcb19, '"tcbType":0,',
                                   '"tcbType":0,"tcbType":1,'),
                   chain => $TCB_CHAIN },
        why => 'member name twice');

# what one parser reads and another ignores
refused(%TCB, what => 'tcbInfo: a second document after it',
        serve => { body => "$tcb19\n{$forged_tcb}", chain => $TCB_CHAIN },
        why => 'data after the JSON document');
refused(%TCB, what => 'tcbInfo: an escaped member name',
        serve => { body => swapped($tcb19, '"tcbInfo"', '"tcb\u0049nfo"'),
                   chain => $TCB_CHAIN },
        why => 'written with an escape');
refused(%QE, what => 'enclaveIdentity: an escaped member name inside',
        serve => { body => swapped($qe19, '"tcbEvaluationDataNumber"',
                                   '"tcbEvaluation\u0044ataNumber"'),
                   chain => $QE_CHAIN },
        why => 'written with an escape');
refused(%TCB, what => 'tcbInfo: a byte order mark',
        serve => { body => "\xef\xbb\xbf$tcb19", chain => $TCB_CHAIN },
        why => 'byte order mark');
refused(%QE, what => 'enclaveIdentity: a NUL byte',
        serve => { body => "$qe19\0", chain => $QE_CHAIN },
        why => 'NUL byte');
refused(%TCB, what => 'tcbInfo: another top-level member',
        serve => { body => "{\"x\":1," . substr($tcb19, 1),
                   chain => $TCB_CHAIN },
        why => 'neither the signed object nor its signature');

# genuine, signed, and not what was asked
refused(path => "$TCB&tcbEvaluationDataNumber=18", key => $TCB_PATH,
        what => 'a genuine tcbInfo of another evaluation number',
        serve => { file => "$ES/tcb_00606a000000_eval17_2025-06-06.json" },
        why => 'tcbEvaluationDataNumber 17 in the body, 18 asked');
refused(path => "$QE?tcbEvaluationDataNumber=19", key => $QE,
        what => 'a genuine QE identity of another evaluation number',
        serve => { file => "$ES/qe_identity_eval18_2025-06-06.json" },
        why => 'tcbEvaluationDataNumber 18 in the body, 19 asked');
refused(%TCB, what => 'a genuine tcbInfo of another FMSPC',
        serve => { file => 'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json' },
        why => 'fmspc 00906ed50000 in the body, 00606a000000 asked');
refused(path => "$TCB_PATH?fmspc=00a06d080000", key => $TCB_PATH,
        what => 'a genuine TDX tcbInfo for an SGX request',
        serve => { file => 'intel/pcs/tdx/tcb_00a06d080000_eval18_2026-02-26.json' },
        why => 'id TDX in the body, SGX asked');
refused(path => '/tdx/certification/v4/qe/identity',
        key => '/tdx/certification/v4/qe/identity',
        what => 'an SGX QE identity for the TD QE',
        serve => { file => "$ES/qe_identity_eval19_2025-06-06.json" },
        why => 'id QE in the body, TD_QE asked');
# (no QvE identity signed by Intel is in t/data: QVL's sample has the
# right shape; the id is compared before the signature is)
refused(%QE, what => 'a QvE identity for the QE',
        serve => { file => 'intel/negative/qvl-sample-fake-root/qveIdentity.json',
                   chain => 'intel/negative/qvl-sample-fake-root/tcbSignChain.pem' },
        why => 'id QVE in the body, QE asked');
refused(path => '/tdx/certification/v4/tcbevaluationdatanumbers',
        key => '/tdx/certification/v4/tcbevaluationdatanumbers',
        what => "SGX's evaluation numbers for TDX", no_genuine => 1,
        serve => { file => "$ES/tcbevaluationdatanumbers_sgx_2025-06-03.json" },
        why => 'id SGX in the body, TDX asked');

# nothing refused was cached: each first genuine answer is a miss
my %seen;
for my $c (grep { !$_->{no_genuine} } @cases) {
    next if $seen{ $c->{path} }++;
    my $r = $t->get($c->{path});
    ok($r->{status} == 200 && $r->{headers}{'x-cache-status'} eq 'MISS',
       "$c->{path}: nothing was cached, the genuine answer is fetched");
}

good_copy_stays($_) for @cases;

# never a silent downgrade: eval 19 cached, a refresh brings a genuine 17
{
    my $r = $t->get("$TCB_PATH?fmspc=00606A000000&update=early");
    is($r->{status}, 200, 'downgrade: the newest tcbInfo (eval 19) cached');
    like($r->{content}, qr/"tcbEvaluationDataNumber":19/, '... eval 19');
    my $good = $r->{content};

    sleep 2.2;
    $o->serve($TCB_PATH, file => "$ES/tcb_00606a000000_eval17_2025-06-06.json");
    my $n = invalid();
    $t->mark_log;

    $r = $t->get("$TCB_PATH?fmspc=00606a000000&update=early");
    ok($r->{status} == 200 && $r->{content} eq $good,
       'downgrade: expired, an older refresh: eval 19 answered');
    ok($t->wait_for(sub { $t->log_since_mark =~
         /refused origin answer.*tcbEvaluationDataNumber 17 in the body is older than the 19 cached/ }),
       'downgrade: refused, naming both numbers');
    ok($t->wait_for(sub { invalid() == $n + 1 }), 'downgrade: counted as invalid');
    $r = $t->get("$TCB_PATH?fmspc=00606a000000&update=early");
    ok($r->{status} == 200 && $r->{content} eq $good,
       'downgrade: eval 19 stays');
    $o->clear_serves;
}

done_testing();
