#!/usr/bin/perl
# Malformed requests get a 4xx with a JSON error and never reach the
# origin; HEAD works on a cold key too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';

my ($t, $o) = ThimSetup::start(workers => 2);

my @bad = (
    [ "$QE?update=bogus",                         400, 'update' ],
    [ "$QE?update=",                              400, 'update' ],
    [ "$QE?update=%65arly",                       400, 'update' ],
    [ "$QE?update=early&tcbEvaluationDataNumber=17", 400, 'update' ],
    [ "$QE?tcbEvaluationDataNumber=",             400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=-1",           400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=1e3",          400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=0x11",         400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=12345678901",  400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=%zz",          400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=1%00",         400, 'tcbEvaluationDataNumber' ],
    [ "$QE?tcbEvaluationDataNumber=" . ('1' x 40), 400, 'tcbEvaluationDataNumber' ],
    [ "$QE?" . join('&', map { "k$_=v" } 1 .. 33), 400, undef ],
    [ "$QE?x=" . ('a' x 5000),                    400, undef ],
    [ "$QE/",                                     404, undef ],
    [ '/sgx/certification/v4/nope',               404, undef ],
    [ '/sgx/certification/v9/qe/identity',        404, undef ],
    [ '/sgx/certification/v4/QE/identity',        404, undef ],
);

for my $case (@bad) {
    my ($path, $status, $param) = @$case;
    my $r = $t->get($path);
    is($r->{status}, $status, substr($path, 0, 80) . " -> $status");
    is($r->{headers}{'content-type'}, 'application/json', '... JSON');
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    ok($j && length $j->{error}, '... with an error text');
    is($j && $j->{parameter}, $param, '... naming ' . ($param // 'no parameter'))
        if $param;
    ok($r->{headers}{'error-code'} && $r->{headers}{'error-message'},
       '... and Error-Code / Error-Message headers');
}

for my $m (qw(POST PUT DELETE OPTIONS)) {
    my $r = $t->get($QE, method => $m, body => $m eq 'POST' ? '{}' : undef);
    is($r->{status}, 405, "$m -> 405");
}

is($o->total, 0, 'no malformed request reached the origin');

# HEAD on a cold key: fetched with GET, answered without a body
my $r = $t->get("$QE?update=early", method => 'HEAD');
is($r->{status}, 200, 'HEAD on a cold key: 200');
is($r->{content}, '', 'HEAD: no body');
ok($r->{headers}{'content-length'} > 1000, 'HEAD: the length of the body');
is($r->{headers}{'x-cache-status'}, 'MISS', 'HEAD: fetched');
$r = $t->get("$QE?update=early");
is($r->{headers}{'x-cache-status'}, 'HIT', 'a GET after it is a HIT');
is(length $r->{content}, $r->{headers}{'content-length'}, 'full body');
is($o->total, 1, 'one origin request');

# dot segments are resolved by nginx before the module sees the URI
$r = $t->get("$QE/../identity");
is($r->{status}, 200, 'qe/identity/../identity is the QE identity route');
is($o->count("$QE?update=standard"), 1, '... fetched canonically');

done_testing();
