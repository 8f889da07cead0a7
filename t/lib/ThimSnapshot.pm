package ThimSnapshot;

# Reads and writes ngx_thim snapshot files (format version 1, see
# src/ngx_thim_snapshot.c) and the record blobs inside them
# (src/ngx_thim_record.h), so that tests can damage or forge them.
#
#   my $s = ThimSnapshot::read_file($path);   a base or a journal
#   $s->{header}            the header bytes (24: version 1, 32: version 2)
#   $s->{records}[i]        { key, negative, fetched, refresh_at, expires,
#                             next_update, value, offset, length }
#   ThimSnapshot::write_file($path, $s)     crcs recomputed
#   my $rec = ThimSnapshot::blob_read($value)
#       { status, content_type, headers => [[name, value], ...], body }
#   my $value = ThimSnapshot::blob_write($rec)

use strict;
use warnings;

use Compress::Raw::Zlib ();
use ThimTest ();

sub read_file {
    my ($file) = @_;
    my $d = ThimTest::_slurp($file) // die "$file: $!";
    # version 1: a 24-byte header; 2: 32 bytes, a base or its journal
    my $hlen = unpack('V', substr($d, 12, 4));
    my $s = { header => substr($d, 0, $hlen), records => [] };
    my $p = $hlen;
    while ($p + 52 <= length $d) {
        die "no record marker at $p\n" unless substr($d, $p, 4) eq 'THRC';
        my ($len, $klen, $neg, undef, $f, $r, $e, $n, $vlen)
            = unpack('V v C C q< q< q< q< V', substr($d, $p + 4, 44));
        push @{ $s->{records} }, {
            offset => $p, length => $len, negative => $neg,
            fetched => $f, refresh_at => $r, expires => $e, next_update => $n,
            key => substr($d, $p + 48, $klen),
            value => substr($d, $p + 48 + $klen, $vlen),
        };
        $p += $len;
    }
    return $s;
}

# the records of the base and then of its journal (FILE.journal), as the
# loader reads them
sub read_all {
    my ($file) = @_;
    my $s = read_file($file);
    if (-e "$file.journal") {
        my $j = read_file("$file.journal");
        push @{ $s->{records} }, @{ $j->{records} }
            if substr($j->{header}, 24, 8) eq substr($s->{header}, 24, 8);
    }
    return $s;
}

# the background load of the files (and the bundle) has ended
sub wait_loaded {
    my ($t, $timeout) = @_;
    return $t->wait_for(sub {
        $t->log_since_mark =~ /background load done/;
    }, timeout => $timeout // 30);
}

sub record_bytes {
    my ($r) = @_;
    my $len = 48 + length($r->{key}) + length($r->{value}) + 4;
    my $b = 'THRC' . pack('V v C C q< q< q< q< V', $len, length $r->{key},
                          $r->{negative} // 0, 0, $r->{fetched},
                          $r->{refresh_at}, $r->{expires}, $r->{next_update},
                          length $r->{value})
            . $r->{key} . $r->{value};
    return $b . pack('V', Compress::Raw::Zlib::crc32($b));
}

sub bytes {
    my ($s) = @_;
    return join '', $s->{header}, map { record_bytes($_) } @{ $s->{records} };
}

sub write_file {
    my ($file, $s, $bytes) = @_;
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $bytes // bytes($s);
    close $fh;
}

sub blob_read {
    my ($v) = @_;
    my ($ver, $nh, $status, $ctlen, $blen) = unpack('C C v v V', $v);
    my $p = 10;
    my @lens;
    for (1 .. $nh) {
        push @lens, [unpack('v V', substr($v, $p, 6))];
        $p += 6;
    }
    my $rec = { status => $status, content_type => substr($v, $p, $ctlen),
                headers => [] };
    $p += $ctlen;
    for my $l (@lens) {
        my $name = substr($v, $p, $l->[0]);
        my $value = substr($v, $p + $l->[0], $l->[1]);
        push @{ $rec->{headers} }, [$name, $value];
        $p += $l->[0] + $l->[1];
    }
    $rec->{body} = substr($v, $p, $blen);
    return $rec;
}

sub blob_write {
    my ($rec) = @_;
    my @h = @{ $rec->{headers} };
    my $v = pack('C C v v V', 1, scalar @h, $rec->{status},
                 length $rec->{content_type}, length $rec->{body});
    $v .= pack('v V', length $_->[0], length $_->[1]) for @h;
    $v .= $rec->{content_type};
    $v .= $_->[0] . $_->[1] for @h;
    return $v . $rec->{body};
}

1;
