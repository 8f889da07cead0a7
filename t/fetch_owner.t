#!/usr/bin/perl
# A fetch is the origin's, never a client's (issue 12, items 1 and 3):
#  - the client whose request started a fetch hangs up (HTTP/1.1 close,
#    HTTP/2 stream reset): the fetch goes on, its waiters get the
#    collateral, the origin saw one request, no failure is counted;
#  - an origin slower than thim_fetch_timeout: the fetch keeps its lease,
#    so one key never has two origin fetches at once and
#    thim_amd_max_fetches is never exceeded (measured on the emulator's
#    own log: a request's line is written when it is answered, after the
#    injected latency).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use ThimSetup;

my $STATUS = '/thim/status';
my $QE = '/sgx/certification/v4/qe/identity';
my $TDX = '/tdx/certification/v4/qe/identity';
my $QE18 = "$QE?tcbEvaluationDataNumber=18";

my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $MC384 = 'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e';
my $Q115 = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';
my $V1 = "/vcek/v1/Milan/$MILAN?$Q115";
my $V2 = "/vcek/v1/Milan/$MC384?$Q115";

sub results {
    my ($t) = @_;
    my $r = $t->get($STATUS);
    my $j = eval { JSON::PP::decode_json($r->{content}) } || {};
    my %sum;
    my $walk;
    $walk = sub {
        my ($x) = @_;
        if (ref $x eq 'HASH') {
            if (ref $x->{results} eq 'HASH') {
                $sum{$_} += $x->{results}{$_} for keys %{ $x->{results} };
            }
            $walk->($_) for values %$x;
        } elsif (ref $x eq 'ARRAY') {
            $walk->($_) for @$x;
        }
    };
    $walk->($j);
    return \%sum;
}

# a client in a child process; its answer is read back with collect()
sub spawn {
    my ($t, $path, %opt) = @_;
    my $file = $t->dir . "/tmp/spawn." . $$ . "." . int(rand(1e9));
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $r = eval { $t->get($path, %opt) } || { status => 0 };
        delete $r->{headers_raw};
        open my $fh, '>', "$file.tmp";
        print $fh JSON::PP->new->latin1->encode({ status => $r->{status},
            content => $r->{content} // '',
            xcs => $r->{headers}{'x-cache-status'} // '' });
        close $fh;
        rename "$file.tmp", $file;
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file };
}

sub collect {
    my (@kids) = @_;
    my @r;
    for my $k (@kids) {
        waitpid($k->{pid}, 0);
        open my $fh, '<', $k->{file} or do { push @r, { status => 0 }; next };
        local $/;
        push @r, JSON::PP->new->latin1->decode(<$fh>);
    }
    return @r;
}

# the origin's answers to a path, as [end time] from the emulator's log
sub answered {
    my ($o, $re) = @_;
    open my $fh, '<', $o->log_file or return ();
    my @t;
    while (<$fh>) {
        next unless /^\[(\d\d):(\d\d):(\d\d)\.(\d{3})\] emulator\[\d+\] GET (\S+) -> /;
        my ($h, $m, $s, $ms, $path) = ($1, $2, $3, $4, $5);
        next unless $path =~ $re;
        push @t, $h * 3600 + $m * 60 + $s + $ms / 1000;
    }
    return sort { $a <=> $b } @t;
}

# ---------------------------------------------------------------------------
# 1. the client that started the fetch hangs up

{
    my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '10s',
        http => 'thim_fetch_timeout 20s;',
        server => "location = $STATUS { thim_status; }");

    # HTTP/1.1: the fetcher sends its request and closes the connection
    $o->fault($QE, latency => 3000);
    my $r0 = results($t);

    # in a child of its own: a forked waiter must not hold its socket open
    my $hanger = fork;
    die "fork: $!" unless defined $hanger;
    if (!$hanger) {
        my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1',
            PeerPort => $t->port('https'), SSL_verify_mode => SSL_VERIFY_NONE)
            or POSIX::_exit(1);
        print $s "GET $QE HTTP/1.1\r\nHost: localhost\r\n\r\n";
        sleep 1;
        close $s;
        POSIX::_exit(0);
    }

    ok($t->wait_for(sub { $o->count($QE) >= 1 }, timeout => 10),
       'HTTP/1.1: its fetch reached the origin');

    my @w = map { spawn($t, $QE) } 1 .. 4;
    waitpid($hanger, 0);
    is($?, 0, 'HTTP/1.1: the fetching client hung up');

    my @r = collect(@w);
    is(scalar(grep { $_->{status} == 200 } @r), 4,
       'HTTP/1.1: every waiter gets 200 although the fetcher hung up');
    my %bodies = map { $_->{content} => 1 } @r;
    ok(keys(%bodies) == 1 && $r[0]{content} =~ /"enclaveIdentity"/,
       'HTTP/1.1: ... with the collateral, the same for all');
    is($o->count($QE), 1, 'HTTP/1.1: the origin saw exactly one request');

    my $r1 = results($t);
    is(($r1->{error} // 0) - ($r0->{error} // 0), 0,
       'HTTP/1.1: no origin failure counted');
    is(($r1->{ok} // 0) - ($r0->{ok} // 0), 1, 'HTTP/1.1: one fetch, ok');
    unlike($t->error_log, qr/origin answered 502|origin fetch failed/,
           'HTTP/1.1: nothing blames the origin');

    # HTTP/2: the fetcher gives up after a second and resets its stream
    $o->fault($TDX, latency => 3000);
    $r0 = results($t);

    my $h = spawn($t, $TDX, http2 => 1, timeout => 1);
    ok($t->wait_for(sub { $o->count($TDX) >= 1 }, timeout => 10),
       'HTTP/2: its fetch reached the origin');
    @w = map { spawn($t, $TDX, http2 => $_ % 2) } 1 .. 4;

    my ($hr) = collect($h);
    isnt($hr->{status}, 200, 'HTTP/2: the fetching client went away');
    @r = collect(@w);
    is(scalar(grep { $_->{status} == 200 } @r), 4,
       'HTTP/2: every waiter gets 200 although the fetcher reset');
    is($o->count($TDX), 1, 'HTTP/2: the origin saw exactly one request');
    $r1 = results($t);
    is(($r1->{error} // 0) - ($r0->{error} // 0), 0,
       'HTTP/2: no origin failure counted');

    my $r = $t->get($TDX);
    is($r->{headers}{'x-cache-status'}, 'HIT', 'HTTP/2: and it is cached');

    $t->stop;
    $o->stop;
}

# ---------------------------------------------------------------------------
# 2. an origin slower than thim_fetch_timeout

{
    my ($t, $o) = ThimSetup::start(workers => 2, read_timeout => '10s',
        http => 'thim_fetch_timeout 1s; thim_amd_max_fetches 1;');

    # one key, six clients: one origin request, whatever the waiters do
    $o->fault($QE18, latency => 3000);
    my @r = $t->parallel(6, $QE18);
    my %st;
    $st{$_->{status}}++ for @r;
    ok($st{200}, 'slow origin: the fetching client gets the collateral');
    is(($st{200} // 0) + ($st{504} // 0), 6,
       'slow origin: the others get it or 504 (gave up waiting)')
        or diag(explain(\%st));
    is($o->count($QE18), 1,
       'slow origin: one origin request for the key, not one per lease');
    is($t->get($QE18)->{headers}{'x-cache-status'}, 'HIT',
       'slow origin: cached once it arrived');

    # AMD bounded to one fetch: two keys never reach KDS at once
    $o->fault('/vcek/v1/', latency => 3000);
    my @k = (spawn($t, $V1), spawn($t, $V2), spawn($t, $V1),
             spawn($t, $V2));
    @r = collect(@k);
    ok($t->wait_for(sub {
        my $x = $t->get($V1);
        my $y = $t->get($V2);
        $x->{status} == 200 && $y->{status} == 200
    }, timeout => 20), 'AMD: both keys are served in the end');
    ok(!grep({ $_->{status} != 200 && $_->{status} != 504
               && $_->{status} != 503 } @r),
       'AMD: clients get the collateral, 504 or 503')
        or diag(explain([ map { $_->{status} } @r ]));

    my @end = answered($o, qr{^/vcek/v1/});
    cmp_ok(scalar(@end), '>=', 2, 'AMD: both keys reached KDS');
    is($o->count($V1) + 0, 1, 'AMD: one KDS request for the first key');
    is($o->count($V2) + 0, 1, 'AMD: one for the second');
    my $overlap = 0;
    for my $i (1 .. $#end) {
        # each took 3 s: answered less than that apart, they overlapped
        $overlap++ if $end[$i] - $end[$i - 1] < 2.9;
    }
    is($overlap, 0, 'AMD: never two KDS requests at once '
                    . '(thim_amd_max_fetches 1)')
        or diag(explain(\@end));

    $t->stop;
    $o->stop;
}

done_testing();
