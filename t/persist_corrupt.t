#!/usr/bin/perl
# A damaged or forged snapshot never stops nginx from starting and costs
# only its bad records: truncated, a flipped byte, a damaged length, wrong
# version, wrong magic; and records with a valid crc whose content is not
# a verified origin answer for their key (a tampered or re-signed body, a
# key moved to another FMSPC or chip, an extra header, an unknown family)
# are refused by the re-check.  Everything is logged below [alert].

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;
use ThimSnapshot;

my $SGX4 = '/sgx/certification/v4';
my $HWID = '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d';
my $HWID2 = 'd49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6';
my $VCEK = "/vcek/v1/Milan/$HWID?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68";

my %KEY = (
    qe    => ["$SGX4/qe/identity", "intel:$SGX4/qe/identity?update=standard"],
    tcb   => ["$SGX4/tcb?fmspc=00906ed50000",
              "intel:$SGX4/tcb?fmspc=00906ed50000&update=standard"],
    crl   => ["$SGX4/pckcrl?ca=platform&encoding=der",
              "intel:$SGX4/pckcrl?ca=platform&encoding=der"],
    vcek  => [$VCEK, "amd:$VCEK"],
    chain => ['/vcek/v1/Milan/cert_chain', 'amd:/vcek/v1/Milan/cert_chain'],
);
my @NAMES = sort keys %KEY;

my ($t, $o) = ThimSetup::start(workers => 1,
    zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s');
my $snap = $t->dir . '/thim.snap';

$t->mark_log;
my %body;
for my $n (@NAMES) {
    my $r = $t->get($KEY{$n}[0]);
    is($r->{status}, 200, "$n fetched");
    $body{$n} = $r->{content};
}
ok($t->wait_for(sub {
    my $sum = 0;
    $sum += $_ for $t->log_since_mark
        =~ /(?:snapshot of|journal:) (\d+) (?:changed )?records/g;
    return $sum >= 5;
}, timeout => 10), 'snapshot written');
$t->stop;

is(ThimSnapshot::bytes(ThimSnapshot::read_file($snap)),
   do { local $/; open my $f, '<:raw', $snap; <$f> },
   'the test reader re-encodes the file byte for byte');

# the base and its journal, as one base
ThimSnapshot::write_file("$snap.good", ThimSnapshot::read_all($snap));
my $good = ThimSnapshot::read_file("$snap.good");
my %at = map { $good->{records}[$_]{key} => $_ } 0 .. $#{ $good->{records} };
for my $n (@NAMES) {
    ok(defined $at{$KEY{$n}[1]}, "the snapshot holds $KEY{$n}[1]")
        or diag(join "\n", keys %at);
}
my $good_bytes = ThimSnapshot::bytes($good);

# start from these bytes: which entries are served from the zone
sub start_with {
    my ($bytes, $what) = @_;
    ThimSnapshot::write_file($snap, undef, $bytes);
    unlink "$snap.journal";
    $t->mark_log;
    my $ok = eval { $t->run; 1 };
    ok($ok, "$what: nginx starts") or diag($@);
    ok(ThimSnapshot::wait_loaded($t), "$what: loaded");
    my %hit;
    for my $n (@NAMES) {
        my $r = $t->get($KEY{$n}[0]);
        $hit{$n} = ($r->{headers}{'x-cache-status'} // '') eq 'HIT'
                   && $r->{content} eq $body{$n} ? 1 : 0;
        is($r->{status}, 200, "$what: $n answered");
        ok($r->{content} eq $body{$n}, "$what: $n: the origin's bytes");
    }
    my $log = $t->log_since_mark;
    $t->stop;
    return (\%hit, $log);
}

sub only_lost {
    my ($hit, $what, @lost) = @_;
    my %lost = map { $_ => 1 } @lost;
    for my $n (@NAMES) {
        is($hit->{$n}, $lost{$n} ? 0 : 1,
           "$what: $n " . ($lost{$n} ? 'lost' : 'kept'));
    }
}

sub with_record {
    my ($name, $edit) = @_;
    my $s = ThimSnapshot::read_file($snap . '.good');
    $edit->($s->{records}[$at{$KEY{$name}[1]}], $s);
    return ThimSnapshot::bytes($s);
}


# --- damage: crc and length ---------------------------------------------------

my $last = $good->{records}[-1];
my ($lastname) = grep { $KEY{$_}[1] eq $last->{key} } @NAMES;
my ($hit, $log) = start_with(substr($good_bytes, 0,
                                    $last->{offset} + int($last->{length} / 2)),
                             'truncated');
only_lost($hit, 'truncated', $lastname);
like($log, qr/\[warn\].*damaged or truncated record/, 'truncation logged at warn');

my $r1 = $good->{records}[$at{$KEY{tcb}[1]}];
my $b = $good_bytes;
my $mid = $r1->{offset} + 48 + length($r1->{key}) + int(length($r1->{value}) / 2);
substr($b, $mid, 1) = chr(ord(substr($b, $mid, 1)) ^ 0x20);
($hit, $log) = start_with($b, 'flipped byte');
only_lost($hit, 'flipped byte', 'tcb');
like($log, qr/\[warn\].*damaged or truncated record at offset $r1->{offset}/,
     'the flipped record is logged with its offset');

$b = $good_bytes;
substr($b, $r1->{offset} + 4, 4) = pack('V', 7);
($hit, $log) = start_with($b, 'damaged length');
only_lost($hit, 'damaged length', 'tcb');

# a file that cannot be read is kept aside, said at [alert], and a new
# snapshot is written beside it, never over it
push @{ $t->{ignore_alerts} }, qr/\[alert\].*thim\.snap" cannot be read \(.*\), kept as ".*thim\.snap\.unreadable-\d+"/;

sub kept_aside {
    my ($bytes, $what) = @_;
    my @aside = glob("$snap.unreadable-*");
    is(scalar @aside, 1, "$what: the file is kept aside")
        or return;
    is(do { local $/; open my $f, '<:raw', $aside[0]; <$f> }, $bytes,
       "$what: byte for byte");
    unlink @aside;
}

$b = $good_bytes;
substr($b, 8, 4) = pack('V', 3);
($hit, $log) = start_with($b, 'wrong version');
only_lost($hit, 'wrong version', @NAMES);
like($log, qr/\[alert\].*cannot be read \(a format version this build does not read\), kept as/,
     'wrong version logged at alert');
kept_aside($b, 'wrong version');

$b = $good_bytes;
substr($b, 0, 8) = 'NOTASNAP';
($hit, $log) = start_with($b, 'wrong magic');
only_lost($hit, 'wrong magic', @NAMES);
like($log, qr/\[alert\].*cannot be read \(bad magic\), kept as/,
     'wrong magic logged at alert');
kept_aside($b, 'wrong magic');

($hit, $log) = start_with('', 'empty file');
only_lost($hit, 'empty file', @NAMES);
kept_aside('', 'empty file');

# a version 1 snapshot (24-byte header, no journal) still loads
$b = $good_bytes;
substr($b, 8, 24) = pack('V V q<', 1, 24, time);
($hit, $log) = start_with($b, 'version 1');
only_lost($hit, 'version 1');

# --- forged with a valid crc: refused by the re-check -----------------------

$b = with_record('qe', sub {
    my ($r) = @_;
    my $rec = ThimSnapshot::blob_read($r->{value});
    $rec->{body} =~ s/"isvprodid":1/"isvprodid":2/ or die 'no isvprodid';
    $r->{value} = ThimSnapshot::blob_write($rec);
});
($hit, $log) = start_with($b, 'tampered body');
only_lost($hit, 'tampered body', 'qe');
like($log, qr/\[error\].*snapshot record "\Q$KEY{qe}[1]\E" refused/,
     'tampered body refused at error level');

my $resigned = $o->get('/sgx/certification/v4/tcb?fmspc=00906ed50000');
$o->fault('/sgx/certification/v4/tcb', resign => 1);
$resigned = $o->get('/sgx/certification/v4/tcb?fmspc=00906ed50000');
$o->clear_faults;
ok($resigned->{body} ne $body{tcb}, 'the emulator re-signed the tcb body');
$b = with_record('tcb', sub {
    my ($r) = @_;
    my $rec = ThimSnapshot::blob_read($r->{value});
    $rec->{body} = $resigned->{body};
    $r->{value} = ThimSnapshot::blob_write($rec);
});
($hit, $log) = start_with($b, 're-signed body');
only_lost($hit, 're-signed body', 'tcb');
like($log, qr/snapshot record "\Q$KEY{tcb}[1]\E" refused/, 're-signed body refused');

$b = with_record('tcb', sub {
    $_[0]{key} = "intel:$SGX4/tcb?fmspc=00906ea10000&update=standard";
});
($hit, $log) = start_with($b, 'tcb key moved to another FMSPC');
only_lost($hit, 'tcb key moved', 'tcb');
like($log, qr/fmspc=00906ea10000&update=standard" refused: fmspc \w+ in the body, 00906ea10000 asked/,
     'a body under another FMSPC is refused');

$b = with_record('vcek', sub {
    $_[0]{key} =~ s/$HWID/$HWID2/ or die;
});
($hit, $log) = start_with($b, 'VCEK key moved to another chip');
only_lost($hit, 'VCEK moved', 'vcek');
like($log, qr/\Q$HWID2\E.*" refused/, 'a VCEK under another chip is refused');

$b = with_record('tcb', sub {
    $_[0]{key} = "intel:$SGX4/tcb?update=standard&fmspc=00906ed50000";
});
($hit, $log) = start_with($b, 'non-canonical key');
only_lost($hit, 'non-canonical key', 'tcb');
like($log, qr/refused: the key is not the one its request makes/,
     'a key that is not canonical is refused');

$b = with_record('crl', sub {
    my ($r) = @_;
    my $rec = ThimSnapshot::blob_read($r->{value});
    push @{ $rec->{headers} }, ['X-Injected', 'yes'];
    $r->{value} = ThimSnapshot::blob_write($rec);
});
($hit, $log) = start_with($b, 'extra header');
only_lost($hit, 'extra header', 'crl');
like($log, qr/refused: the record is not what its origin answer makes/,
     'a record with a header the origin answer does not make is refused');

$b = with_record('chain', sub { $_[0]{key} = 'kds:/vcek/v1/Milan/cert_chain' });
($hit, $log) = start_with($b, 'unknown family');
only_lost($hit, 'unknown family', 'chain');
like($log, qr/\[warn\].*"kds:\/vcek\/v1\/Milan\/cert_chain" skipped: no route family/,
     'a key of no known family is skipped with a log line');

# --- the good file again: everything back -----------------------------------

($hit, $log) = start_with($good_bytes, 'good snapshot');
only_lost($hit, 'good snapshot');
like($log, qr/5 records loaded from snapshot .*\(0 damaged, 0 refused, 0 skipped, 0 evicted for room\)/,
     'the good snapshot loads whole');

done_testing();
