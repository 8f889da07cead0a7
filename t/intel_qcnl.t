#!/usr/bin/perl
# Intel's QCNL with a customParameter (PROTOCOLS.md 2a): it always sends
# update=standard|early and, from the *_with_params calls, appends
# customParameter (base64 of "tcbEvaluationDataNumber=N;region=..", with
# "+", "/" and "=" as %2B %2F %3D).  The number wins over update on tcb and
# the identities, SGX and TDX; the origin is asked for the number alone, and
# every spelling of the same number shares one cache entry.  An explicit
# tcbEvaluationDataNumber with update stays a 400, as at Intel PCS.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Test::More;
use ThimSetup;

my ($t, $o) = ThimSetup::start(workers => 2);

my $SGX4 = '/sgx/certification/v4';
my $TDX4 = '/tdx/certification/v4';

sub fx { ThimSetup::fixture(@_) }
sub xcs { $_[0]{headers}{'x-cache-status'} // '' }

# QCNL's customParameter: base64 with + / = percent-encoded, upper case
sub qcnl_cp {
    my $b = encode_base64($_[0], '');
    $b =~ s/([+\/=])/sprintf '%%%02X', ord $1/ge;
    return $b;
}

# the queries the origin received for one route
sub origin_queries {
    my ($path) = @_;
    my $c = $o->counts;
    return map { "$_=$c->{$_}" } sort grep { (split /\?/, $_, 2)[0] eq $path }
        keys %$c;
}

my $CP17 = qcnl_cp('tcbEvaluationDataNumber=17;region=usa');
ok($CP17 =~ /%3D/, "precondition: QCNL's form of the value has an escape");

my @cases = (
    [ "$SGX4/tcb", 'fmspc=00606A000000&update=standard&customParameter=' . $CP17,
      'fmspc=00606a000000&tcbEvaluationDataNumber=17',
      'intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06',
      [ 'fmspc=00606a000000&tcbEvaluationDataNumber=17',
        'fmspc=00606a000000&customParameter='
            . encode_base64('tcbEvaluationDataNumber=017', ''),
        'fmspc=00606A000000&update=early&customParameter=' . $CP17 ] ],
    [ "$SGX4/qe/identity", 'update=standard&customParameter=' . $CP17,
      'tcbEvaluationDataNumber=17',
      'intel/pcs/eval-series/qe_identity_eval17_2025-06-06',
      [ 'tcbEvaluationDataNumber=17', 'update=early&customParameter=' . $CP17,
        'customParameter=' . $CP17 ] ],
    [ "$TDX4/tcb", 'fmspc=50806F000000&update=early&customParameter='
                   . qcnl_cp('tcbEvaluationDataNumber=15'),
      'fmspc=50806f000000&tcbEvaluationDataNumber=15',
      'intel/pcs/tdx/tcb_50806f000000_eval15_2023-06-18',
      [ 'fmspc=50806f000000&tcbEvaluationDataNumber=15',
        'fmspc=50806F000000&update=standard&customParameter='
            . qcnl_cp('tcbEvaluationDataNumber=15;region=eu') ] ],
    [ "$TDX4/qe/identity", 'update=standard&customParameter='
                           . qcnl_cp('tcbEvaluationDataNumber=15;region=us'),
      'tcbEvaluationDataNumber=15',
      'intel/pcs/tdx/qe_identity_eval15_2023-06-08',
      [ 'tcbEvaluationDataNumber=15' ] ],
);

for my $c (@cases) {
    my ($path, $qcnl, $canonical, $fixture, $others) = @$c;
    for my $h2 (0, 1) {
        $o->reset;
        my $r = $t->get("$path?$qcnl", http2 => $h2);
        my $proto = $h2 ? 'HTTP/2' : 'HTTP/1.1';
        is($r->{status}, 200, "$proto QCNL $path?$qcnl: 200")
            or diag(substr($r->{content} // '', 0, 200));
        ok(($r->{content} // '') eq fx("$fixture.json"),
           "$proto $path: the body of the number customParameter names");
        is(xcs($r), $h2 ? 'HIT' : 'MISS',
           $h2 ? '... the same entry over HTTP/2' : '... fetched');
        is(join(' ', origin_queries($path)),
           $h2 ? '' : "$path?$canonical=1",
           $h2 ? '... no origin request'
               : "... the origin was asked $path?$canonical alone, once");
    }
    for my $q (@$others) {
        my $r = $t->get("$path?$q");
        is($r->{status}, 200, "$path?$q: 200");
        is(xcs($r), 'HIT', '... the same entry');
    }
    is(join(' ', origin_queries($path)), '', "$path: no further origin request");
}

# QVE identity: no fixture at that number, but the origin is asked for the
# number alone
{
    $o->reset;
    my $r = $t->get("$SGX4/qve/identity?update=standard&customParameter=$CP17");
    isnt($r->{status}, 400, 'QCNL qve/identity with customParameter: not refused');
    is(join(' ', origin_queries("$SGX4/qve/identity")),
       "$SGX4/qve/identity?tcbEvaluationDataNumber=17=1",
       '... the origin was asked for the number alone');
}

# still refused
sub bad {
    my ($url, $name, $param) = @_;
    my $r = $t->get($url);
    is($r->{status}, 400, "$name: 400");
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    is($j && $j->{parameter}, $param, "$name: names $param");
}

$o->reset;
bad("$SGX4/tcb?fmspc=00606A000000&update=standard&tcbEvaluationDataNumber=17",
    'update with an explicit tcbEvaluationDataNumber (as PCS)', 'update');
bad("$SGX4/qe/identity?tcbEvaluationDataNumber=17&update=early",
    'identity: explicit number with update', 'update');
bad("$SGX4/tcb?fmspc=00606A000000&update=sometimes&customParameter=$CP17",
    'an invalid update value with customParameter', 'update');
bad("$SGX4/tcb?fmspc=00606A000000&update=standard&customParameter=$CP17"
    . '&tcbEvaluationDataNumber=17',
    'customParameter and an explicit number', 'customParameter');
bad("/sgx/certification/v3/tcb?fmspc=00606A000000&update=standard"
    . "&customParameter=$CP17",
    'v3 (no evaluation numbers at Intel)', 'tcbEvaluationDataNumber');
is($o->total, 0, 'no refused request reached the origin');

done_testing();
