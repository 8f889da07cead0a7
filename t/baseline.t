#!/usr/bin/perl
# The TCB baseline an operator serves, as THIM does: Intel's latest, a
# fixed tcbEvaluationDataNumber, or N behind the latest available; and
# whether clients may ask for another number.  Real fixtures: FMSPC
# 00606a000000 and the QE identity at evaluation numbers 17, 18 and 19.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use ThimSetup;

my $TCB = '/sgx/certification/v4/tcb?fmspc=00606a000000';
my $QE = '/sgx/certification/v4/qe/identity';
my $NUMBERS = '/sgx/certification/v4/tcbevaluationdatanumbers';

sub eval_of {
    my ($r) = @_;
    my $j = eval { JSON::PP::decode_json($r->{content}) } or return -1;
    my $o = $j->{tcbInfo} // $j->{enclaveIdentity} // {};
    return $o->{tcbEvaluationDataNumber} // -1;
}

# Intel's latest by default, update= as the client says
{
    my ($t, $o) = ThimSetup::start(workers => 1);
    is(eval_of($t->get($TCB)), 19, 'latest: the newest tcbInfo');
    is($o->count("$TCB&update=standard"), 1, '... asked as update=standard');
    is(eval_of($t->get("$TCB&tcbEvaluationDataNumber=17")), 17,
       'a client may ask for 17');
    is(eval_of($t->get("$TCB&tcbEvaluationDataNumber=18")), 18, 'or 18');
    is($o->count("$TCB&tcbEvaluationDataNumber=17"), 1,
       'each number its own entry');
}

# a fixed baseline holds even against update=standard (QCNL, dcap-qvl)
{
    my ($t, $o) = ThimSetup::start(workers => 1,
                                   http => 'thim_intel_baseline 18;');
    is(eval_of($t->get($TCB)), 18, 'baseline 18: tcbInfo 18');
    is(eval_of($t->get("$TCB&update=standard")), 18,
       '... also for update=standard');
    is(eval_of($t->get($QE)), 18, '... and the QE identity 18');
    is($o->count("$TCB&tcbEvaluationDataNumber=18"), 1,
       'the origin is asked for 18, once');
    is($o->count("$TCB&update=standard"), 0, 'never for the latest');
    is(eval_of($t->get("$TCB&tcbEvaluationDataNumber=19")), 19,
       'a client may still ask for another number');
}

# N behind the latest the origin lists
{
    my ($t, $o) = ThimSetup::start(workers => 2,
                                   http => 'thim_intel_baseline latest-1;');
    my $r = $t->get($TCB);
    is($r->{status}, 200, 'latest-1: 200');
    is(eval_of($r), 18, 'latest-1: 19 is the latest listed, 18 is served');
    is(eval_of($t->get($QE)), 18, '... for the QE identity too');
    is($o->count($NUMBERS), 1, 'the numbers are fetched once and cached');
    is($o->count("$TCB&tcbEvaluationDataNumber=18"), 1, 'tcbInfo 18 once');
    $r = $t->get($TCB, http2 => 1);
    is(eval_of($r), 18, 'HTTP/2: the same');
    is($r->{headers}{'x-cache-status'}, 'HIT', '... from the zone');
    is($o->total, 3, 'no further origin request');

    my @res = $t->parallel(20, "$QE?clientid=x");
    is(scalar(grep { eval_of($_) == 18 } @res), 20,
       '20 concurrent clients: all served 18');
}
{
    my ($t, $o) = ThimSetup::start(workers => 1,
                                   http => 'thim_intel_baseline latest-7;');
    is(eval_of($t->get($TCB)), 17, 'latest-7: the oldest listed, 17');
}

# clients may not choose, or only within a range
{
    my ($t, $o) = ThimSetup::start(workers => 1,
        http => "thim_intel_baseline 18; thim_intel_eval_override off;");
    my $r = $t->get("$TCB&tcbEvaluationDataNumber=19");
    is($r->{status}, 400, 'override off: a client number is refused');
    like($r->{content}, qr/"parameter":"tcbEvaluationDataNumber"/,
         '... naming the parameter');
    is(eval_of($t->get($TCB)), 18, 'the baseline is served');
    is($o->count("$TCB&tcbEvaluationDataNumber=19"), 0, 'never asked for 19');
}
{
    my ($t, $o) = ThimSetup::start(workers => 1,
        http => "thim_intel_eval_override 18-19; thim_intel_update early;");
    is($t->get("$TCB&tcbEvaluationDataNumber=17")->{status}, 400,
       'range 18-19: 17 refused');
    is(eval_of($t->get("$TCB&tcbEvaluationDataNumber=19")), 19,
       'range 18-19: 19 served');
    $t->get($TCB);
    is($o->count("$TCB&update=early"), 1,
       'thim_intel_update early: the default stream is early');
    my $n = $t->get($NUMBERS);
    is($n->{status}, 200, 'tcbevaluationdatanumbers served');
    like($n->{content}, qr/"tcbEvalNumbers"/, '... as upstream lists them');
}

done_testing();
