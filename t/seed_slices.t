#!/usr/bin/perl
# Seeding from a bundle runs in the background load's slices (issue 14, 1),
# as the snapshot load does: the worker that seeds keeps serving between
# slices, and the place reached is in the zone.  Before, the whole bundle
# was seeded in one call: one worker served nothing for its whole length
# (20-30 s for 25,000 TCB infos), and after the 10 s load lease ran out
# another worker seeded the same bundle again.
#
# The bundle: the shipped one, plus thousands of older copies of one of
# its TCB infos, each re-checked and then logged as "a newer copy is
# cached".  With one worker, requests answered while those lines are being
# written show that it served between slices; the log's own order is the
# proof, no clock.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;
use ThimSnapshot;

my $BUNDLE = "$ThimSetup::ROOT/conf/bundle";
my $COPIES = 6000;
my $QE = '/sgx/certification/v4/qe/identity';

my $t = ThimTest->new(workers => 1, modules => [ThimSetup::module()]);
my $dir = $t->dir . '/bundle';
system('cp', '-a', $BUNDLE, $dir) == 0 or die 'cp';

my $idx = decode_json($t->read_file('bundle/index.json'));
my ($tcb) = grep { ($_->{query} // '') =~ /fmspc=00606a000000/ }
    @{ $idx->{entries} };
ok($tcb, 'the bundle has the TCB info of 00606a000000');
my $base = 1764374400;    # 2025-11-29, before the shipped entries
for my $i (1 .. $COPIES) {
    push @{ $idx->{entries} }, { %$tcb,
        fetched => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($base - $i)) };
}
$t->write_file('bundle/index.json', encode_json($idx));

$t->{vars}{ORIGIN_PORT} = $t->port('origin');
$t->write_config(ThimSetup::config(zone => "4m seed=$dir"));
$t->run;

# ask all along the seeding, until its line
my ($asked, $answered) = (0, 0);
until ($t->error_log =~ /entries seeded from bundle/) {
    my $r = eval { $t->get($QE, timeout => 60) };
    $asked++;
    $answered++ if $r && $r->{status};
    last if $asked > 100000;
}
ok($answered, "requests answered during the start ($answered)");

my @lines = split /\n/, $t->error_log;
my @kept = grep { $lines[$_] =~ /not loaded: a newer copy is cached/ } 0 .. $#lines;
is(scalar @kept, $COPIES, 'every older copy re-checked and set aside');
my @served = grep { $lines[$_] =~ /http request line: "GET \Q$QE\E/ } 0 .. $#lines;
my $between = grep { $_ > $kept[0] && $_ < $kept[-1] } @served;
ok($between, "the seeding worker served between its slices ($between "
             . 'requests while it seeded)');

my ($seeded) = grep { /entries seeded from bundle/ } @lines;
like($seeded, qr/\(0 skipped, $COPIES had a newer copy/,
     '... and its counts, kept in the zone across slices, are whole');
is(scalar(grep { /entries seeded from bundle/ } @lines), 1,
   'the bundle is seeded once');
ThimSnapshot::wait_loaded($t);
is($t->get($QE)->{status}, 200, 'the seeded collateral is served');

done_testing();
