package ThimPages;

# How a process maps a zone (Linux): the zone's mapping is the one whose
# size is the zone's, so a test picks a size no other mapping has.
#
#   my $m = ThimPages::zone_mapping($pid, $kb);  smaps fields, or undef
#   ThimPages::advised($m)        VM_HUGEPAGE ("hg") set on the mapping
#   ThimPages::huge_kb($m)        kB of it mapped with huge pages
#   ThimPages::shmem_policy()     the kernel's shmem_enabled choice
#   ThimPages::shmem_huge()       whether that lets advised memory be huge

use strict;
use warnings;

sub zone_mapping {
    my ($pid, $kb) = @_;
    open my $fh, '<', "/proc/$pid/smaps" or return undef;
    my ($cur, @maps);
    while (my $line = <$fh>) {
        if ($line =~ /^[0-9a-f]+-[0-9a-f]+ /) {
            push @maps, $cur = { head => $line };
        } elsif ($cur && $line =~ /^(\w+):\s+(.*?)\s*$/) {
            $cur->{$1} = $2;
        }
    }
    my @zone = grep { ($_->{Size} // '') eq "$kb kB" } @maps;
    return @zone == 1 ? $zone[0] : undef;
}

sub advised { return ($_[0]{VmFlags} // '') =~ /\bhg\b/ }

sub huge_kb { return (($_[0]{ShmemPmdMapped} // '0') =~ /^(\d+)/)[0] }

sub shmem_policy {
    open my $fh, '<', '/sys/kernel/mm/transparent_hugepage/shmem_enabled'
        or return 'none';
    my ($p) = (<$fh> // '') =~ /\[(\w+)\]/;
    return $p // 'none';
}

sub shmem_huge {
    return shmem_policy() =~ /^(?:advise|within_size|always|force)$/;
}

1;
