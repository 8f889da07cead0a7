#!/usr/bin/perl
# Negative answers tighten an origin's cold-key budget (issue 18, 2): a
# burst of distinct cold FMSPCs that all come back 404 from Intel (the
# signature of a random-ID flood) halves, window after window, the share
# of the rate cold keys get, so the origin sees far fewer than its rate
# for the rest of the flood; positive answers (real collateral asked for
# the first time) give the share back.  Counted at the emulator.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use ThimSetup;

my $WRK = `command -v wrk 2>/dev/null`;
chomp $WRK;
plan skip_all => 'wrk is not installed (make deps)' unless $WRK;

my $RATE = 20;
my $STATUS = '/thim/status';
my $TCB = '/sgx/certification/v4/tcb';

my ($t, $o) = ThimSetup::start(workers => 2,
    rate => ["intel ${RATE}r/s burst=4"],
    server => "location = $STATUS { thim_status; }");

sub budget {
    my $z = eval { decode_json($t->get($STATUS)->{content})->{zones}{thim} }
            // {};
    return { map { $_ => $z->{"budget_$_"}{intel} // 0 }
             qw(cold refused tightened cold_divisor) };
}

my $script = $t->dir . '/fmspc.lua';
open my $fh, '>', $script or die "$script: $!";
print $fh <<'LUA';
local n = 0
function setup(thread)
    n = n + 1
    thread:set("id", n)
end
function init(args)
    math.randomseed(os.time() * 1000 + id * 104729)
end
request = function()
    return wrk.format("GET", string.format(
        "/sgx/certification/v4/tcb?fmspc=%06x%06x",
        math.random(0, 0xffffff), math.random(0, 0xffffff)))
end
LUA
close $fh;

# --- 8 s of random FMSPCs: every fetch is a 404 -------------------------

my $port = $t->port('https');
system("$WRK -t2 -c4 -d8s --timeout 5s -s $script "
       . "'https://127.0.0.1:$port/' >/dev/null 2>&1");

my @at = sort { $a <=> $b }
         map { $_->{time} } grep { $_->{target} =~ /^\Q$TCB\E\?/ }
         @{ $o->requests };
ok(@at >= 10, scalar(@at) . ' fetches reached Intel, all 404');

my $b = budget();
cmp_ok($b->{tightened}, '>=', 3, "windows of 404s tightened the cold share "
       . "($b->{tightened} times)");
cmp_ok($b->{cold_divisor}, '>=', 8,
       "thim_status: cold keys get 1/$b->{cold_divisor} of the rate");

# the first second may use the whole rate; the last four a small share
my $last = @at ? $at[-1] : 0;
my $first = grep { $_ < $at[0] + 1 } @at;
my $late = grep { $_ >= $last - 4 } @at;
cmp_ok($first, '>=', 5, "first second: $first fetches");
cmp_ok($first, '<=', $RATE + 4 + $RATE / 4, 'within rate + burst (and a '
       . "quarter second's arrival spread)");
cmp_ok($late, '<=', $RATE, "last 4 s of the flood: $late fetches, not "
       . 4 * $RATE . ': the 404s cost the origin once per window');

# --- real collateral, cold: positive answers loosen the budget again -----

my @real = map { "$TCB?fmspc=$_" }
           qw(00906ea10000 00a06d080000 90806f000000 00606a000000);
push @real, '/sgx/certification/v4/qe/identity',
            '/sgx/certification/v4/qve/identity',
            '/sgx/certification/v4/pckcrl?ca=processor',
            '/sgx/certification/v4/pckcrl?ca=platform';

my ($got, $refused, $start) = (0, 0, time);
while (@real && time - $start < 30) {
    my $r = $t->get($real[0]);
    if ($r->{status} == 200) {
        $got++;
        shift @real;
        last if budget()->{cold_divisor} == 1;
        next;
    }
    $refused++ if $r->{status} == 503;
    sleep 0.3;
}

$b = budget();
is($b->{cold_divisor}, 1, "after $got positive answers the cold share is "
   . 'whole again');
cmp_ok($got, '<=', 6, 'each positive answer doubles it back');
note("$refused answers 503 while the share was tightened");

done_testing();
