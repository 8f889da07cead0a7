#!/usr/bin/perl
# Nothing read back from a snapshot is trusted (issue 11, item 3): a
# record's refresh_at, expires and next_update are made again from its
# re-checked content as a fetch at its fetch time would make them, and
# its fetch time is clamped to now.  Forged times (next_update 0, expires
# in 2100, a fetch time in the future, none at all) and a record under
# another key's name do not survive a restart; the snapshot file and its
# .tmp are 0600.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;
use ThimSnapshot;

my $SGX4 = '/sgx/certification/v4';
my $Y2100 = 4102444800;
my $VALID_MAX = 86400;                  # thim_cache_valid's default maximum

my %KEY = (
    qe  => ["$SGX4/qe/identity", "intel:$SGX4/qe/identity?update=standard"],
    tcb => ["$SGX4/tcb?fmspc=00906ed50000",
            "intel:$SGX4/tcb?fmspc=00906ed50000&update=standard"],
    crl => ["$SGX4/pckcrl?ca=platform&encoding=der",
            "intel:$SGX4/pckcrl?ca=platform&encoding=der"],
);
my $OTHER = ["$SGX4/tcb?fmspc=00906ea10000",
             "intel:$SGX4/tcb?fmspc=00906ea10000&update=standard"];

my ($t, $o) = ThimSetup::start(workers => 1,
    zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s');
my $snap = $t->dir . '/thim.snap';

sub mode { my @s = stat $_[0]; return @s ? sprintf('%04o', $s[2] & 07777) : 'none' }
sub xcs { $_[0]{headers}{'x-cache-status'} // '' }
sub max_age { ($_[0]{headers}{'cache-control'} // '') =~ /max-age=(\d+)/ ? $1 : undef }

sub snapshot_written {
    my ($what) = @_;
    ok($t->wait_for(sub { $t->log_since_mark =~ /snapshot of \d+ records/ },
                    timeout => 15), "$what: snapshot written");
}

sub records {
    my $s = ThimSnapshot::read_all($snap);
    return ($s, { map { $_->{key} => $_ } @{ $s->{records} } });
}

# --- a good snapshot, written 0600 even over a wider .tmp -------------------

open my $fh, '>', "$snap.tmp" or die;
print $fh "left behind by an older build\n";
close $fh;
chmod 0644, "$snap.tmp";

$t->mark_log;
my %body;
for my $n (sort keys %KEY) {
    my $r = $t->get($KEY{$n}[0]);
    is($r->{status}, 200, "$n fetched");
    $body{$n} = $r->{content};
}
snapshot_written('first run');
$t->stop;

is(mode($snap), '0600', 'the snapshot file is 0600');
ok(!-e "$snap.tmp", 'its .tmp (left 0644 by an older build) was renamed over it');

my ($good, $at) = records();
for my $n (sort keys %KEY) {
    ok($at->{ $KEY{$n}[1] }, "the snapshot holds $n") or BAIL_OUT('no record');
    cmp_ok($at->{ $KEY{$n}[1] }{next_update}, '>', 1e9, "$n: a real nextUpdate");
}
my %nu = map { $_ => $at->{ $KEY{$_}[1] }{next_update} } keys %KEY;

# --- forged times -----------------------------------------------------------

my $future = time + 10 * 365 * 86400;
my $s = ThimSnapshot::read_all($snap);
for my $r (@{ $s->{records} }) {
    if ($r->{key} eq $KEY{qe}[1]) {
        # never past its nextUpdate, never refreshed, fetched in ten years
        @$r{qw(fetched refresh_at expires next_update)}
            = ($future, $Y2100, $Y2100, 0);

    } elsif ($r->{key} eq $KEY{tcb}[1]) {
        @$r{qw(fetched refresh_at expires next_update)}
            = ($future, $future + 86400, $future + 2 * 86400, $Y2100);

    } elsif ($r->{key} eq $KEY{crl}[1]) {
        $r->{fetched} = 0;
        @$r{qw(refresh_at expires)} = ($Y2100, $Y2100);
    }
}
# a genuine record under another FMSPC's key
my ($tcb) = grep { $_->{key} eq $KEY{tcb}[1] } @{ $s->{records} };
push @{ $s->{records} }, { %$tcb, key => $OTHER->[1], fetched => time - 10,
                           refresh_at => $Y2100, expires => $Y2100 };
ThimSnapshot::write_file($snap, $s);
unlink "$snap.journal";
chmod 0644, $snap;

$t->mark_log;
$t->run;
my $start = time;
ok(ThimSnapshot::wait_loaded($t), 'loaded');
is(mode($snap), '0600', 'the loader narrowed a snapshot file wider than 0600');
my $log = $t->log_since_mark;

like($log, qr/\[error\].*"\Q$snap\E": snapshot record "\Q$OTHER->[1]\E" refused: fmspc 00906ed50000 in the body, 00906ea10000 asked/,
     'the record under another key is refused, naming the file and the reason');
like($log, qr/\[error\].*"\Q$snap\E": snapshot record "\Q$KEY{crl}[1]\E" refused: its fetch time is not a time/,
     'a record without a fetch time is refused');

my $before = $o->total;
for my $n (qw(qe tcb)) {
    my $r = $t->get($KEY{$n}[0]);
    is($r->{status}, 200, "$n answered after the restart");
    is(xcs($r), 'HIT', "$n served from the snapshot");
    ok($r->{content} eq $body{$n}, "$n: the origin's bytes");
    my $age = max_age($r);
    ok(defined $age && $age <= $VALID_MAX,
       "$n: max-age " . ($age // 'none') . " within thim_cache_valid, "
       . 'not the forged expiry');
}
is($o->total, $before, 'no origin fetch for the forged-time records');

for my $p ($KEY{crl}[0], $OTHER->[0]) {
    my $r = $t->get($p);
    is($r->{status}, 200, "$p answered");
    is(xcs($r), 'MISS', "$p: the refused record was not served");
}
is($o->total, $before + 2, 'both refused records were fetched from the origin');

# the times the zone holds now, as the next snapshot shows them (a load
# that refused records is written anew: maybe already, since the restart)
snapshot_written('after the restart');
$t->stop;

is(mode($snap), '0600', 'the re-written snapshot is 0600 again');
(undef, $at) = records();
for my $n (qw(qe tcb)) {
    my $r = $at->{ $KEY{$n}[1] };
    ok($r, "$n re-written") or next;
    is($r->{next_update}, $nu{$n}, "$n: next_update is the body's, not the file's");
    cmp_ok($r->{fetched}, '<=', time, "$n: a fetch time in the future became now");
    cmp_ok($r->{fetched}, '>=', $start - 60, "$n: ... when it was loaded");
    my $ttl = $nu{$n} - $r->{fetched};
    $ttl = $VALID_MAX if $ttl > $VALID_MAX;
    $ttl = 300 if $ttl < 300;
    is($r->{expires}, $r->{fetched} + $ttl,
       "$n: expires as a fetch at that time makes it");
    is($r->{refresh_at}, $r->{expires} - int($ttl / 4),
       "$n: refresh_at as a fetch at that time makes it");
}

# --- a key that names a platform is not logged ---------------------------------

$s = ThimSnapshot::read_all($snap);
my $ppid = 'ab' x 384;
push @{ $s->{records} }, { %{ $s->{records}[0] },
    key => "intel:$SGX4/pckcerts?encrypted_ppid=$ppid&pceid=0000" };
ThimSnapshot::write_file($snap, $s);
unlink "$snap.journal";

$t->mark_log;
$t->run;
ThimSnapshot::wait_loaded($t);
$log = $t->log_since_mark;
$t->stop;
like($log, qr/snapshot record "intel:\Q$SGX4\E\/pckcerts\?\(hidden: it names a platform\)" refused/,
     'a refused record whose key names a platform is logged without it');
unlike($log, qr/abababab/, 'no part of the encrypted PPID is logged');

done_testing();
