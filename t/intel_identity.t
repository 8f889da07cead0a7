#!/usr/bin/perl
# The first path end to end: GET /sgx/certification/v4/qe/identity through
# the shared zone, filled by one in-memory subrequest to the internal
# proxy_pass location (TLS, verified) in front of the origin emulator.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;

my $QE = '/sgx/certification/v4/qe/identity';

my ($t, $o) = ThimSetup::start(workers => 2);

# what the origin itself answers, fetched directly (then forgotten)
my $direct = $t->get($QE . '?update=standard', port => $o->port);
is($direct->{status}, 200, 'origin answers directly');
my $chain = $direct->{headers}{'sgx-enclave-identity-issuer-chain'};
ok($chain, 'origin sends the issuer chain');
$o->reset;

# cold miss: one origin request
my $r = $t->get($QE);
is($r->{status}, 200, 'first request: 200');
is($r->{status_line}, 'HTTP/1.1 200 OK', 'HTTP/1.1 status line');
is($r->{headers}{'x-cache-status'}, 'MISS', 'first request is a MISS');
ok($r->{content} eq $direct->{content}, 'body byte-identical to the origin')
    or diag(length($r->{content}) . ' vs ' . length($direct->{content}));
is($r->{headers}{'sgx-enclave-identity-issuer-chain'}, $chain,
   'issuer chain header replayed verbatim');
like($chain, qr/^-----BEGIN%20CERTIFICATE-----%0A/, 'chain is %20/%0A encoded');
unlike($chain, qr/\+/, 'no + in the chain header');
like($chain, qr/%0A$/, 'chain ends with %0A as Intel sends it');
is($r->{headers}{'content-type'}, 'application/json', 'content type');
like($r->{headers}{'cache-control'}, qr/^max-age=(\d+)$/, 'Cache-Control');
my ($age) = ($r->{headers}{'cache-control'} // '') =~ /(\d+)/;
ok($age && $age >= 1 && $age <= 86400, 'max-age within 1..86400');
like($r->{headers}{'request-id'}, qr/^[0-9a-f]{32}$/, 'Request-ID');
ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), 'no empty header values');
is($o->count($QE), 1, 'origin asked once');
is($o->count("$QE?update=standard"), 1, 'with the canonical query');

# later requests, over many connections, from both workers: no origin call
my %pids;
for my $round (1 .. 20) {
    my @res = $t->parallel(8, $QE);
    is(scalar(grep { $_->{status} == 200
                     && $_->{content} eq $direct->{content} } @res),
       8, "round $round: 8 identical answers") or last;
    $pids{$_->[0]}++ for grep { $_->[2] eq 'HIT' } ThimSetup::thim_log($t);
    last if keys %pids >= 2 && $round >= 2;
}
is(scalar(keys %pids), 2, 'hits served by both workers');
is($o->count($QE), 1, 'still one origin request');

# HTTP/2
$r = $t->get($QE, http2 => 1);
is($r->{proto}, 'HTTP/2', 'HTTP/2 used');
is($r->{status}, 200, 'HTTP/2: 200');
is($r->{headers}{'x-cache-status'}, 'HIT', 'HTTP/2: HIT');
ok($r->{content} eq $direct->{content}, 'HTTP/2: same bytes');
is($r->{headers}{'sgx-enclave-identity-issuer-chain'}, $chain,
   'HTTP/2: same chain');

# HEAD
$r = $t->get($QE, method => 'HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content}, '', 'HEAD: no body');
is($r->{headers}{'content-length'}, length $direct->{content},
   'HEAD: Content-Length of the body');

# equivalent spellings share the entry (G6, any-case update)
for my $q ('?update=standard', '?update=STANDARD&clientid=x',
           '?clientid=production_client&api-version=2018-10-01-preview',
           '?update=standard&update=early')
{
    $r = $t->get("$QE$q");
    is($r->{headers}{'x-cache-status'}, 'HIT', "HIT for $q");
}
is($o->count($QE), 1, 'equivalent queries: still one origin request');

# a different canonical key is a different entry
$r = $t->get("$QE?update=early");
is($r->{headers}{'x-cache-status'}, 'MISS', 'update=early is its own entry');
is($o->count("$QE?update=early"), 1, 'fetched with update=early');
$r = $t->get("$QE?tcbEvaluationDataNumber=0017");
is($r->{status}, 200, 'tcbEvaluationDataNumber=0017');
is($t->get("$QE?tcbEvaluationDataNumber=17")->{headers}{'x-cache-status'},
   'HIT', '0017 and 17 share an entry');
is($o->count("$QE?tcbEvaluationDataNumber=17"), 1,
   'origin got the canonical number once');

# Request-ID: echoed when sane, replaced when not
$r = $t->get($QE, headers => { 'Request-ID' => 'abc-123' });
is($r->{headers}{'request-id'}, 'abc-123', 'client Request-ID echoed');
$r = $t->get($QE, headers => { 'Request-ID' => 'x' x 65 });
like($r->{headers}{'request-id'}, qr/^[0-9a-f]{32}$/,
     'overlong Request-ID replaced');

# the TDX QE identity is another route with its own body
my $tdx = $t->get('/tdx/certification/v4/qe/identity');
is($tdx->{status}, 200, 'tdx qe identity');
like($tdx->{content}, qr/"id":"TD_QE"/, 'tdx body is the TD_QE identity');

is($o->total, 4, 'origin requests: standard, early, eval 17, tdx');

done_testing();
