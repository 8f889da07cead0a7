#!/usr/bin/perl
# make run (scripts/run.sh, conf/thim-run.conf.in): nginx with the real
# origins configured through variables and a resolver, seeded from
# conf/bundle.  It must start whether or not this machine can reach (or
# even resolve) Intel and AMD, answer seeded keys at once from the zone,
# log failed refreshes calmly (the final check fails on [alert], [crit],
# [emerg]), and keep its zone in a snapshot across a restart.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Spec;
use POSIX ();
use Time::HiRes qw(time sleep);
use ThimSetup;
use ThimSnapshot;
use ThimTest;

my $t = ThimTest->new(workers => 2);
my $port = $t->port('run');
my $QE = '/sgx/certification/v4/qe/identity';

my $starts = 0;

sub start_run {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setpgid(0, 0);
        $ENV{THIM_RUN_PREFIX} = $t->dir;
        $ENV{THIM_RUN_PORT} = $port;
        $ENV{THIM_RUN_REFRESH_PORT} = $t->port('refresh');
        $ENV{TEST_THIM_MODULE} = File::Spec->rel2abs(ThimSetup::module());
        $ENV{TEST_NGINX_BINARY} = File::Spec->rel2abs($ThimTest::NGINX)
            if $ThimTest::NGINX =~ m{/};
        open STDOUT, '>>', $t->dir . '/logs/run.out';
        open STDERR, '>&', \*STDOUT;
        exec "$ThimSetup::ROOT/scripts/run.sh" or POSIX::_exit(127);
    }
    # run.sh checks the configuration with nginx -t first, which binds the
    # port too: the server is up when the master (run.sh's own pid, by
    # exec) has written its pid file, after its zone was loaded, and its
    # port answers
    my $pidfile = $t->dir . '/logs/nginx.pid';
    my $up = $t->wait_for(sub {
        my $p = ThimTest::_slurp($pidfile) // '';
        $p =~ /^\s*\Q$pid\E\s*$/
            && IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                     Timeout => 1);
    }, timeout => 30);
    # the zone is filled in the background: wait until it is
    $up &&= $t->wait_for(sub {
        my @done = (ThimTest::_slurp($t->dir . '/logs/error.log') // '')
                   =~ /background load done/g;
        return @done == $starts + 1;
    }, timeout => 60);
    $starts++ if $up;
    return $up ? $pid : undef;
}

sub stop_run {
    my ($pid) = @_;
    return unless $pid;
    kill 'QUIT', $pid;
    my $end = time + 15;
    while (time < $end) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    kill 'KILL', -$pid;
    waitpid($pid, 0);
}

my $pid = start_run();
ok($pid, 'make run starts (whatever the network)')
    or diag(ThimTest::_slurp($t->dir . '/logs/run.out'));

my $t0 = time;
my $r = $t->get($QE, port => $port);
is($r->{status}, 200, 'the QE identity is answered');
is($r->{headers}{'x-cache-status'}, 'HIT', '... from the seed');
# a fetch from the network (or its failure) would take far longer
ok(time - $t0 < 10, '... at once');
ok($r->{content} eq ThimSetup::fixture(
       'intel/pcs/eval-series/qe_identity_eval19_2025-06-06.json'),
   "... Intel's bytes");

$r = $t->get('/vcek/v1/Genoa/cert_chain', port => $port, http2 => 1);
is($r->{status}, 200, 'a KDS cert_chain from the seed (HTTP/2)');
is($r->{headers}{'x-cache-status'}, 'HIT', '... from the zone');

# a PCK certificate, offline, for the platform the bundle holds: by QE ID,
# as the Azure DCAP client asks THIM for it
$r = $t->get('/metadata/THIM/sgx/certification/v4/pckcert?qeid=16a5b41ebb076d263a1e39e64e7175e7'
             . '&cpusvn=0f0f0205ff8007000000000000000000&pcesvn=0900&pceid=0000'
             . '&clientid=production_client&api-version=2021-07-22-preview',
             port => $port, headers => { Metadata => 'true' });
like($r->{status} . ' ' . $r->{content}, qr/^200 \{"pckCert":"-----BEGIN CERTIFICATE-----/,
     "Azure's pckcert JSON from the seeded set");

like(ThimTest::_slurp($t->dir . '/logs/error.log'),
     qr/38 entries seeded from bundle/, 'the bundle was seeded');

stop_run($pid);
ok(-s $t->dir . '/thim.snap', 'the exiting writer left a snapshot');

$pid = start_run();
ok($pid, 'make run starts again');
like(ThimTest::_slurp($t->dir . '/logs/error.log'),
     qr/39 records loaded from snapshot/, 'from the snapshot');
$r = $t->get($QE, port => $port);
is($r->{headers}{'x-cache-status'}, 'HIT', 'the QE identity is still in the zone');
stop_run($pid);

done_testing();
