#!/usr/bin/perl
# The zone asks the kernel for transparent huge pages (issue 14): the
# master advises its mapping once, and every worker inherits it, across a
# reload too.  With 4 KB pages a zone of 100,000 records costs each
# worker megabytes of page tables that every lookup walks and that a
# hypervisor shadowing page tables pays for at each wake-up.  Whether the
# kernel then backs shared memory with huge pages is its policy
# (shmem_enabled); t/persist_scale.t checks where it allows them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimPages;
use ThimSetup;

plan skip_all => 'Linux /proc/PID/smaps needed' unless -r "/proc/$$/smaps";

my $QE = '/sgx/certification/v4/qe/identity';
my $KB = 24 * 1024;                     # a size no other mapping has

my ($t, $o) = ThimSetup::start(workers => 2, zone => "${KB}k");

sub advised {
    my ($pid) = @_;
    my $m = ThimPages::zone_mapping($pid, $KB)
        or return 'no single mapping of the zone';
    return ThimPages::advised($m) ? 'hg' : "VmFlags: $m->{VmFlags}";
}

is(advised($t->master_pid), 'hg', 'the master advised the zone');
my @w = $t->worker_pids;
is(scalar @w, 2, 'two workers');
is(advised($_), 'hg', "worker $_ inherits the advice") for @w;

is($t->get($QE)->{status}, 200, 'collateral fetched into the zone');
is($t->get($QE)->{headers}{'x-cache-status'}, 'HIT', '... and served');

$t->reload;
ok($t->wait_for(sub { my @n = $t->worker_pids;
                      @n == 2 && !grep { my $p = $_; grep { $_ == $p } @w } @n }),
   'reloaded: new workers');
is(advised($_), 'hg', "after the reload, worker $_ too") for $t->worker_pids;
is($t->get($QE)->{headers}{'x-cache-status'}, 'HIT',
   'the zone kept its record across the reload');

# that the records then sit in huge pages where the kernel allows them
# is checked with thousands of them, by t/persist_scale.t

$t->check_alerts;
done_testing;
