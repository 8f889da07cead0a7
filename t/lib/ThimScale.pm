package ThimScale;

# Snapshots of many distinct, verifiable records, for t/persist_scale.t and
# bench/snapshot.pl: Intel TCB info for N FMSPCs, each signed by the
# look-alike Intel PKI of t/lib/ThimIntelPKI.pm (nginx started with
# intel_root => $pki->{root}{cert}), so that every record passes the
# re-check a load does, as an origin answer would.
#
#   my $tpl = ThimScale::template($t, $o, $pki);  fetched through nginx,
#                                                 read back from its files
#   my @records = ThimScale::records($pki, $tpl, $n, $first);
#   ThimScale::write_snapshot($file, $tpl, \@records);

use strict;
use warnings;

use File::Basename qw(dirname);
use ThimIntelPKI ();
use ThimSetup ();
use ThimSnapshot ();

our $TCB = '/sgx/certification/v4/tcb';
my $SIGNER = dirname(__FILE__) . '/thim_sign_tcb.py';

sub key { return "intel:$TCB?fmspc=$_[0]&update=standard" }

# one TCB info record as nginx stores it, and the snapshot it came in;
# stops $t
sub template {
    my ($t, $o, $pki) = @_;
    my $body = ThimSetup::fixture(
        'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json');
    $o->serve($TCB, body => $pki->sign_json('tcb', $body),
              chain => $pki->chain_file('tcb'));
    my $r = $t->get("$TCB?fmspc=00906ed50000");
    die "template: $r->{status}\n" unless $r->{status} == 200;
    $t->stop;
    my $s = ThimSnapshot::read_all($t->dir . '/thim.snap');
    my ($rec) = grep { $_->{key} eq key('00906ed50000') } @{ $s->{records} };
    die "template: no record\n" unless $rec;
    return { snapshot => $s, record => $rec };
}

# $n records of FMSPCs $first, $first + 1, ...
sub records {
    my ($pki, $tpl, $n, $first) = @_;
    my $blob = ThimSnapshot::blob_read($tpl->{record}{value});
    my ($off, $len) = ThimIntelPKI::_member($blob->{body});
    my $in = "$pki->{dir}/scale.body";
    ThimIntelPKI::_spew($in, $blob->{body});
    open my $fh, '-|', 'python3', $SIGNER, $pki->{tcb}{key}, $off, $len,
         $n, $first // 1, $in
        or die "$SIGNER: $!";
    binmode $fh;
    my @out;
    while (my $line = <$fh>) {
        my ($fmspc, $len) = $line =~ /^([0-9a-f]{12}) (\d+)$/ or last;
        read($fh, my $body, $len) == $len or last;
        my %b = (%$blob, body => $body);
        push @out, { %{ $tpl->{record} }, key => key($fmspc),
                     value => ThimSnapshot::blob_write(\%b) };
    }
    close $fh or die "$SIGNER failed\n";
    die "$SIGNER: " . scalar(@out) . " of $n records\n" unless @out == $n;
    return @out;
}

# a base of these records, its journal removed
sub write_snapshot {
    my ($file, $tpl, $records) = @_;
    my %s = (%{ $tpl->{snapshot} }, records => $records);
    ThimSnapshot::write_file($file, \%s);
    unlink "$file.journal";
}

1;
