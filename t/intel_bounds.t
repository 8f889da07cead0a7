#!/usr/bin/perl
# What an unauthenticated client can make the module do to Intel PCS and
# to the zone is bounded: Intel fetches by thim_intel_max_fetches (many
# distinct cold keys against a slow origin: it never sees more at once);
# a 429 on pckcerts (the API-key-limited route) holds off that route only,
# not the TCB infos everyone needs; and the answers derived from one
# platform's PCK set are at most 16, however many raw TCBs a client that
# knows the platform makes up.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my $TCB = "$V4/tcb";

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[0] };

my ($t, $o) = ThimSetup::start(
    workers => 2, read_timeout => '20s',
    http => 'thim_intel_max_fetches 2; thim_fetch_timeout 60s;',
    server => 'location = /thim/status { thim_status; }');

sub zone {
    my $r = $t->get('/thim/status');
    my $j = eval { JSON::PP::decode_json($r->{content}) } // {};
    return $j->{zones}{thim} // {};
}

# GETs of distinct paths at once, one client process each: their statuses
sub all_at_once {
    my (@paths) = @_;
    my @kids;
    for my $i (0 .. $#paths) {
        my $file = $t->dir . "/client.$i";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $r = eval { $t->get($paths[$i], timeout => 60) };
            open my $fh, '>', $file;
            print $fh ($r ? $r->{status} : 'none');
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, [$pid, "client.$i"];
    }
    return map { waitpid($_->[0], 0); $t->read_file($_->[1]) } @kids;
}

# --- the Intel concurrency bound ---------------------------------------------

# 6 unknown FMSPCs, each answered 404 after 5 s: with 2 slots, the origin
# has exactly 2 of them at a time, and the others wait for a slot (the
# 5 s are only a window wide enough to look in on a busy machine)
$o->fault($TCB, latency => 5000);
my @cold = map { sprintf("$TCB?fmspc=ee00000000%02x", $_) } 1 .. 6;

my $pid = fork // die "fork: $!";
if (!$pid) {
    my @st = all_at_once(@cold);
    $t->write_file('bound.status', join(' ', @st));
    POSIX::_exit(0);
}

ok($t->wait_for(sub { ($o->total // 0) >= 2 }, timeout => 20),
   'the first fetches reached the origin');
sleep 1;    # within the 5 s the first two take
is($o->total, 2, 'thim_intel_max_fetches 2: the origin has 2 at once, '
                 . 'not 6');
waitpid($pid, 0);
is($t->read_file('bound.status'), join(' ', (404) x 6),
   'every cold key was fetched in turn and answered');
is($o->total, 6, 'one origin request per key');
$o->clear_faults;
$o->reset;

# --- a 429 on pckcerts holds off pckcerts only --------------------------------

sub pckcert_q {
    my ($cpu, $pce) = @_;
    return "$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpu&pcesvn=$pce"
           . "&pceid=$pceid";
}

$o->fault("$V4/pckcerts", status => 429, retry_after => 600);
my $r = $t->get(pckcert_q($cpusvn, $pcesvn));
is($r->{status}, 503, 'pckcert with pckcerts answered 429: 503');
my $z = zone();
cmp_ok($z->{holdoff}{intel_pck}, '>', time, 'holdoff.intel_pck is set');
is($z->{holdoff}{intel}, 0, 'holdoff.intel is not');

$r = $t->get("$TCB?fmspc=00906ed50000");
is($r->{status}, 200, 'a TCB info is still fetched from Intel');
is($o->count($TCB), 1, "... from the origin");

$r = $t->get(pckcert_q($cpusvn, $pcesvn));
is($r->{status}, 503, 'pckcert is still held off');
my $c = $o->counts;
is(eval { my $n = 0; $n += $c->{$_} for grep { /pckcerts/ } keys %$c; $n },
   1, '... without asking the origin again');
$o->clear_faults;

# --- derived answers per platform --------------------------------------------

# a fresh start for the hold-off; the zone keeps the TCB info
$t->stop;
($t, $o) = ThimSetup::start(
    workers => 1,
    server => 'location = /thim/status { thim_status; }');

$r = $t->get(pckcert_q($cpusvn, $pcesvn));
is($r->{status}, 200, 'pckcert: the platform set is fetched');
my $first = zone()->{entries};

# 40 made-up raw TCBs above every level: each selects the best certificate
my $ok = 0;
for my $i (1 .. 40) {
    $r = $t->get(pckcert_q(sprintf('ffffffffffffffffffffffffffff%04x', $i),
                           'ffff'));
    $ok++ if $r->{status} == 200;
}
is($ok, 40, 'every made-up raw TCB is answered');
my $last = zone()->{entries};
cmp_ok($last - $first, '<=', 16,
       'at most 16 derived answers are kept for one platform')
    or diag("entries $first -> $last");
cmp_ok($last - $first, '>=', 10, '... and they are kept')
    or diag("entries $first -> $last");

$r = $t->get(pckcert_q('ffffffffffffffffffffffffffff0028', 'ffff'));
is($r->{headers}{'x-cache-status'}, 'HIT', 'the newest one is a hit');

done_testing();
