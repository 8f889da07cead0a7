#!/usr/bin/perl
# A flood of cold keys never becomes a flood at Intel or AMD (issue 18):
# 20,000 distinct cold VCEKs (random chip IDs) and FMSPCs, sent by wrk
# over HTTP/1.1 keep-alive connections as fast as they go, cost each
# origin no more than its thim_origin_rate: counted at the emulator, by
# its own arrival times, in every one-second window (sliding, so no
# alignment hides a burst).  Meanwhile hot keys keep being answered 200,
# and the hot keys' refreshes (thim_cache_valid 2s: they expire all the
# time) still reach the origin: refreshes come first.  Misses the budget
# cannot pay for are 503 with Retry-After and a JSON reason, and
# thim_status counts them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use ThimSetup;

my $WRK = `command -v wrk 2>/dev/null`;
chomp $WRK;
plan skip_all => 'wrk is not installed (make deps)' unless $WRK;

my %RATE = (intel => 20, amd => 10);
my %BURST = (intel => 10, amd => 6);
my $COLD = 20_000;
my $STATUS = '/thim/status';

my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e6'
          . '5631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $Q115 = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';
my %HOT = (intel => '/sgx/certification/v4/tcb?fmspc=00906ed50000',
           amd => "/vcek/v1/Milan/$MILAN?$Q115",
           'amd crl' => '/vcek/v1/Milan/crl');
# what the origin receives for those that expire (a VCEK never does)
my %HOT_AT = (intel => qr{^/sgx/certification/v4/tcb\?.*fmspc=00906ed50000}i,
              'amd crl' => qr{^/vcek/v1/Milan/crl$});

my ($t, $o) = ThimSetup::start(workers => 2,
    rate => [map { "$_ $RATE{$_}r/s burst=$BURST{$_}" } keys %RATE],
    http => 'thim_cache_valid 2s; thim_amd_max_fetches 4;',
    server => "location = $STATUS { thim_status; }");

for my $k (sort keys %HOT) {
    is($t->get($HOT{$k})->{status}, 200, "hot $k key cached");
}

my $script = $t->dir . '/flood.lua';
open my $fh, '>', $script or die "$script: $!";
print $fh <<'LUA';
-- each thread its own random stream: every key is new
local n = 0
function setup(thread)
    n = n + 1
    thread:set("id", n)
end
function init(args)
    math.randomseed(os.time() * 1000 + id * 7919)
end
local hex = "0123456789abcdef"
local function rhex(len)
    local t = {}
    for i = 1, len do
        local k = math.random(16)
        t[i] = hex:sub(k, k)
    end
    return table.concat(t)
end
request = function()
    if math.random(2) == 1 then
        return wrk.format("GET", "/vcek/v1/Milan/" .. rhex(128)
            .. "?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115")
    end
    return wrk.format("GET", "/sgx/certification/v4/tcb?fmspc=" .. rhex(12))
end
LUA
close $fh;

# the flood: wrk rounds (2 threads, 8 keep-alive connections) until the
# access log holds $COLD cold requests, or 45 s
sub cold_answers {
    my %st;
    my $n = 0;
    for my $l (ThimSetup::thim_log($t)) {
        my $req = $l->[3] // '';
        next if grep { $req =~ /^GET \Q$_\E / } values %HOT;
        next unless $req =~ m{^GET /(?:vcek/v1/Milan/|sgx/certification/v4/tcb\?)};
        $st{$l->[1]}++;
        $n++;
    }
    return ($n, \%st);
}

my $port = $t->port('https');
my $flood_start = time;
my $kid = fork // die "fork: $!";
if (!$kid) {
    open STDOUT, '>', $t->dir . '/wrk.out';
    open STDERR, '>&', \*STDOUT;
    my $start = time;
    while (time - $start < 45) {
        system($WRK, '-t2', '-c8', '-d5s', '--timeout', '5s', '-s', $script,
               "https://127.0.0.1:$port/");
        my $lines = 0;
        if (open my $l, '<', $t->dir . '/logs/thim.log') {
            $lines++ while <$l>;
        }
        last if $lines > $COLD + 400;
    }
    POSIX::_exit(0);
}

# hot clients meanwhile, HTTP/1.1 and HTTP/2 in turn
my (%hot_status, $i);
while (waitpid($kid, POSIX::WNOHANG()) == 0) {
    for my $k (sort keys %HOT) {
        my $r = $t->get($HOT{$k}, http2 => $i++ % 2);
        $hot_status{$k}{$r->{status}}++;
    }
    sleep 0.1;
}
my $flood_end = time;

my ($cold, $st) = cold_answers();
cmp_ok($cold, '>=', $COLD, "$cold distinct cold keys asked for in "
       . sprintf('%.1f s', $flood_end - $flood_start));
cmp_ok($st->{503} // 0, '>', $cold * 0.9,
       'nearly all of them refused: 503 (' . ($st->{503} // 0) . ')');
note(explain($st));

for my $k (sort keys %HOT) {
    my $h = $hot_status{$k} // {};
    my $all = 0;
    $all += $_ for values %$h;
    ok($all > 10 && ($h->{200} // 0) == $all,
       "hot $k key answered 200 throughout the flood "
       . "($all requests: " . join(', ', map { "$_: $h->{$_}" } sort keys %$h)
       . ')');
}

# --- what the origins saw -----------------------------------------------

my @reqs = @{ $o->requests };
my %times;
my %hot_fetches;
for my $q (@reqs) {
    my $origin = $q->{target} =~ m{^/(?:vcek|vlek)/} ? 'amd' : 'intel';
    push @{ $times{$origin} }, $q->{time};
    for my $k (keys %HOT_AT) {
        $hot_fetches{$k}++ if $q->{target} =~ $HOT_AT{$k}
                              && $q->{time} > $flood_start + 1;
    }
}

# Whole seconds from the first arrival: none may exceed rate + burst.  A
# sliding one-second window is checked too, with a quarter of a second's
# rate more: a request arrives some time after nginx took its token (a new
# upstream connection, a TLS handshake, the emulator forking for it), and
# on a loaded machine that spread bunches a few arrivals together.
for my $k (sort keys %RATE) {
    my @t = sort { $a <=> $b } @{ $times{$k} // [] };
    my ($worst, $j) = (0, 0);
    for my $i (0 .. $#t) {
        $j++ while $j <= $#t && $t[$j] < $t[$i] + 1;
        $worst = $j - $i if $j - $i > $worst;
    }
    my %bin;
    $bin{int($_ - $t[0])}++ for @t;
    my ($max) = sort { $b <=> $a } values %bin;
    my $span = @t ? $t[-1] - $t[0] : 0;
    cmp_ok($max // 0, '<=', $RATE{$k} + $BURST{$k},
           "$k: at most " . ($max // 0) . " requests in any second (rate "
           . "$RATE{$k}, burst $BURST{$k}; per second: "
           . join(' ', map { $bin{$_} // 0 } 0 .. int($span)) . ')');
    cmp_ok($worst, '<=', $RATE{$k} + $BURST{$k} + int($RATE{$k} / 4),
           "$k: at most $worst in any sliding second");
    cmp_ok(scalar @t, '<=', $BURST{$k} + $RATE{$k} * ($span + 1),
           "$k: " . scalar(@t) . ' requests in ' . sprintf('%.1f s', $span));
    cmp_ok(scalar @t, '>=', 3, "$k: the origin was asked at all");
}

for my $k (sort keys %HOT_AT) {
    cmp_ok($hot_fetches{$k} // 0, '>=', 2,
           "hot $k key refreshed during the flood ("
           . ($hot_fetches{$k} // 0) . ' origin fetches)');
}

# --- the refusal itself, and thim_status -----------------------------------

my $r;
for (1 .. 50) {
    $r = $t->get('/sgx/certification/v4/tcb?fmspc=' . sprintf('%012x', 77 + $_));
    last if $r->{status} == 503;
}
is($r->{status}, 503, 'a cold miss past the budget: 503');
like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'with Retry-After');
like(eval { decode_json($r->{content})->{error} } // '',
     qr/request budget is spent/, 'and a JSON reason');

my $z = eval { decode_json($t->get($STATUS)->{content})->{zones}{thim} } // {};
for my $k (sort keys %RATE) {
    cmp_ok($z->{budget_refused}{$k} // 0, '>', 1000,
           "thim_status: $k refusals counted ($z->{budget_refused}{$k})");
    cmp_ok($z->{budget_refreshes}{$k} // 0, '>=', 2,
           "thim_status: $k refreshes counted");
    cmp_ok($z->{budget_cold}{$k} // 0, '>=', 1, "thim_status: $k cold taken");
}
like($t->get("$STATUS?format=prometheus")->{content} // '',
     qr/thim_origin_budget_refused_total\{zone="thim",origin="amd"\} [1-9]/,
     'Prometheus: refusals by origin');

done_testing();
