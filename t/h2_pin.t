#!/usr/bin/perl
# Zone memory is never on the wire after its pin is released.  A hit's body
# is sent straight from the zone; an HTTP/2 stream that is reset (or times
# out) while its DATA frames still wait in the connection's queue must keep
# the record pinned until those frames are gone: the record may meanwhile
# be replaced, freed, and its memory given to another record.  Here five
# large PCK certificate sets (about 52 KB each) are asked for on one HTTP/2
# connection that reads almost nothing, the streams are reset, every set is
# refreshed (thim_cache_valid 1s) so that each old copy is freed and its
# pages reused by the next, and then the connection is read to its end:
# every byte each stream got must be a prefix of its own genuine set.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use IO::Socket::SSL;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More;
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my %seen;
my @paths = map { "$V4/pckcerts?encrypted_ppid=$_->[0]&pceid=$_->[1]" }
            grep { !$seen{ $_->[4] }++ }
            map { [split /,/] } grep { /^[0-9a-f]{768},/i }
            split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');

# ---- a raw HTTP/2 client: enough to reset streams and stop reading -------

sub frame {
    my ($type, $flags, $sid, $payload) = @_;
    return substr(pack('N', length $payload), 1)
           . pack('CCN', $type, $flags, $sid) . $payload;
}

sub hpack_str {            # a literal string, no Huffman coding
    my ($s) = @_;
    my $n = length $s;
    return chr($n) . $s if $n < 127;
    my $out = chr(127);
    $n -= 127;
    while ($n >= 128) { $out .= chr(($n & 127) | 128); $n >>= 7 }
    return $out . chr($n) . $s;
}

sub h2_connect {
    my ($t) = @_;
    my $sock = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    # a small receive window: the answers stay queued in nginx
    setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
    $sock->connect(pack_sockaddr_in($t->port('h2'), inet_aton('127.0.0.1')))
        or die "connect: $!";
    IO::Socket::SSL->start_SSL($sock, SSL_verify_mode => SSL_VERIFY_NONE,
                               SSL_alpn_protocols => ['h2'])
        or die "TLS: $SSL_ERROR";
    my $max = 0x7fffffff;
    print $sock "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        frame(4, 0, 0, pack('nN', 4, $max)),          # INITIAL_WINDOW_SIZE
        frame(8, 0, 0, pack('N', $max - 65535));      # the connection's
    return $sock;
}

sub h2_get {
    my ($sock, $sid, $path, $port) = @_;
    my $block = "\x82\x87"                            # GET, https
                . "\x04" . hpack_str($path)          # :path
                . "\x01" . hpack_str("127.0.0.1:$port");
    print $sock frame(1, 0x5, $sid, $block);         # END_STREAM|END_HEADERS
}

# reads frames until $until->() or $secs pass without any; DATA per stream
sub h2_read {
    my ($sock, $data, $secs, $until) = @_;
    my $buf = \${*$sock}{h2_buf};          # a frame may span two calls
    $$buf //= '';
    my $last = time;
    while (time - $last < $secs) {
        my $n = sysread($sock, $$buf, 65536, length $$buf);
        if (!defined $n) {
            diag("read: $! / $SSL_ERROR") if $ENV{H2_DEBUG} && !($!{EAGAIN} || $!{EWOULDBLOCK});
            last unless $!{EAGAIN} || $!{EWOULDBLOCK} || $SSL_ERROR == SSL_WANT_READ;
            sleep 0.02;
            next;
        }
        diag('read: EOF') if $n == 0 && $ENV{H2_DEBUG};
        last if $n == 0;
        $last = time;
        while (length $$buf >= 9) {
            my ($l1, $l2, $type, $flags, $sid) = unpack('CnCCN', $$buf);
            my $len = ($l1 << 16) | $l2;
            last if length $$buf < 9 + $len;
            my $payload = substr($$buf, 9, $len);
            substr($$buf, 0, 9 + $len) = '';
            $sid &= 0x7fffffff;
            $main::FRAMES{"$type/$sid"}++;
            if ($type == 0) {
                if ($flags & 0x8) {                  # PADDED
                    my $pad = ord $payload;
                    $payload = substr($payload, 1, length($payload) - 1 - $pad);
                }
                $data->{$sid} .= $payload;
            } elsif ($type == 4 && !($flags & 1)) {
                print $sock frame(4, 1, 0, '');      # SETTINGS ack
            }
        }
        return 1 if $until && $until->();
    }
    return 0;
}

# ---- the test --------------------------------------------------------------

# the streams time out after 2 s; the connection itself waits (60 s), so
# that what is queued for them can still be read
my ($t, $o) = ThimSetup::start(workers => 1, http => 'thim_cache_valid 1s;',
    server => 'location /sgx/certification/v4/pckcerts '
              . '{ thim_intel; send_timeout 2s; }'
              # a send buffer that does not grow: frames stay queued in nginx
              . 'listen 127.0.0.1:%%PORT_h2%% ssl http2 sndbuf=8k;');

my %genuine;
for my $p (@paths) {
    my $r = $t->get($p);
    is($r->{status}, 200, 'a PCK certificate set cached: ' . length($r->{content}) . ' bytes');
    $genuine{$p} = $r->{content};
}
is(scalar(keys %{{ map { $_ => 1 } values %genuine }}), scalar(@paths),
   scalar(@paths) . ' different sets');

for my $how ('RST_STREAM', 'send_timeout') {
    # all cached and fresh: hits sent straight from the zone
    $t->get($_) for @paths;
    $t->mark_log;
    my $sock = h2_connect($t);
    $sock->blocking(0);
    my %data;
    my $sid = 1;
    my %path_of;
    for my $p (@paths) {
        $path_of{$sid} = $p;
        h2_get($sock, $sid, $p, $t->port('h2'));
        $sid += 2;
    }
    h2_read($sock, \%data, 2, sub { grep { length } values %data });
    ok(scalar(grep { length } values %data), "$how: the answers have begun");
    sleep 0.5;                       # nginx queues what it cannot write

    if ($how eq 'RST_STREAM') {
        print $sock frame(3, 0, $_, pack('N', 8)) for sort keys %path_of;   # CANCEL
        sleep 0.5;
    } else {
        # the streams time out while their frames wait in the queue
        sleep 2.5;
    }

    # every set expires, is refetched and replaced, old copies freed and
    # their memory taken by the next set's new copy; twice over
    for my $round (1 .. 2) {
        sleep 1.2;
        for my $p (@paths) {
            my $n = $o->count($p);
            $t->get($p);
            $t->wait_for(sub { $o->count($p) > $n }, timeout => 10);
        }
        $t->get($_) for @paths;
    }

    # the test's point: a stream was closed with frames still queued
    my $log = $t->log_since_mark;
    SKIP: {
        skip 'nginx without debug logging', 1 unless $log =~ /\[debug\]/;
        ok($log =~ /http2 close stream \d+, queued [1-9]/,
           "$how: a stream's frames were still queued when it ended");
    }

    # now read everything the connection still holds
    h2_read($sock, \%data, 5);
    diag(join ' ', map { "$_=$main::FRAMES{$_}" } sort keys %main::FRAMES) if $ENV{H2_DEBUG};
    close $sock;

    my ($bad, $bytes) = (0, 0);
    for my $s (sort { $a <=> $b } keys %path_of) {
        my $got = $data{$s} // '';
        my $want = $genuine{ $path_of{$s} };
        $bytes += length $got;
        next if length($got) <= length($want) && $got eq substr($want, 0, length $got);
        $bad++;
        my $i = 0;
        $i++ while $i < length($got) && substr($got, $i, 1) eq substr($want, $i, 1);
        diag("stream $s: " . length($got) . " bytes, differ from its set at byte $i");
    }
    is($bad, 0, "$how: every stream got only its own set's bytes ($bytes bytes in all)");
}

done_testing();
