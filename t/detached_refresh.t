#!/usr/bin/perl
# A background refresh never holds the client that triggered it (issue
# 18, 3): the origin accepts the refresh's connection and never answers
# (the proxy would wait 10 s for it); the expired key's client gets its
# stale copy at once, and its keep-alive connection goes straight on to
# its next request, over HTTP/1.1 and over HTTP/2, well before the proxy
# could have given up on the origin.  The refresh runs under a request of
# its own, which nginx frees when the origin finally times out.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use ThimSetup;
use ThimTest;

my $TCB = '/sgx/certification/v4/tcb';
my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e6'
          . '5631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $VCEK = "/vcek/v1/Milan/$MILAN?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115";
my @EXPIRED = map { "$TCB?fmspc=$_" } qw(00906ed50000 00906ea10000);

my ($t, $o) = ThimSetup::start(workers => 1, read_timeout => '10s',
                               http => 'thim_cache_valid 1s;');

for my $p (@EXPIRED, $VCEK) {
    is($t->get($p)->{status}, 200, "cached: $p");
}

sleep 1.5;

# from now on Intel accepts and never answers within the proxy's timeout
$o->fault($TCB, latency => 30000);

# --- HTTP/1.1: two requests on one keep-alive connection ------------------

my $start = time;
my @r = $t->get_many([$EXPIRED[0], $VCEK], timeout => 20);
my $took = time - $start;

is($r[0]{status}, 200, 'HTTP/1.1: the expired key answered');
is($r[0]{headers}{'x-cache-status'}, 'UPDATING', '... stale, refreshing');
is($r[1]{status}, 200, 'HTTP/1.1: the next request on the connection too');
is($r[1]{local_port}, $r[0]{local_port}, '... on the same connection');
cmp_ok($took, '<', 3, sprintf('HTTP/1.1: both answered in %.2f s, not '
       . 'after the proxy timeout (10 s)', $took));

# --- HTTP/2: two streams, one after the other, on one connection ---------

my $url = 'https://127.0.0.1:' . $t->port('https');
$start = time;
open my $curl, '-|', $ThimTest::CURL, '-sS', '--http2', '--max-time', '20',
     '--cacert', $t->pki->{ca}, '-o', '/dev/null', '-o', '/dev/null',
     '-w', '%{http_version} %{http_code} %{num_connects} %{time_total}\n',
     "$url$EXPIRED[1]", "$url$VCEK"
    or die "curl: $!";
my @h2 = map { chomp; [split / /] } <$curl>;
close $curl;
$took = time - $start;

is(scalar @h2, 2, 'HTTP/2: two answers');
is(join(' ', map { "$_->[0] $_->[1]" } @h2), '2 200 2 200',
   'HTTP/2: both 200');
is($h2[1][2], 0, '... the second on the same connection');
cmp_ok($took, '<', 3, sprintf('HTTP/2: both answered in %.2f s', $took));

# the refreshes did reach the origin, and hang there
my @asked;
$t->wait_for(sub {
    @asked = grep { $_->{target} =~ /^\Q$TCB\E\?/ } @{ $o->requests };
    return @asked >= 4;
}, timeout => 5, interval => 0.2);
cmp_ok(scalar @asked, '>=', 4, 'both expired keys were refreshed '
       . '(the origin got their fetches: ' . scalar(@asked) . ' in all)');

# --- the hung refreshes end with the proxy timeout; a fresh one works ----

$o->clear_faults;

my $fresh = $t->wait_for(sub {
    my $r = $t->get($EXPIRED[0]);
    return ($r->{headers}{'x-cache-status'} // '') eq 'HIT';
}, timeout => 25, interval => 0.5);
ok($fresh, 'after the proxy timed out, a refresh stores a fresh copy');

done_testing();
