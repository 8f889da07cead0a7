#!/usr/bin/perl

# Self-test of t/lib/ThimTest.pm with plain nginx (no ngx_thim): start,
# HTTP/1.1 + HTTP/2 clients, keep-alive, parallel clients, reload, worker
# kill/respawn, kill -9 + restart, stop, and the error.log alert check.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use ThimTest;

my $T0 = time;

my $t = ThimTest->new(workers => 2, vars => { GEN => 'one' });

# 12 KB of deterministic bytes, all 256 values
my $blob = join '', map { chr(($_ * 7 + ($_ >> 8)) & 0xff) } 0 .. 12 * 1024 - 1;
is(length $blob, 12288, 'blob is 12 KB');
$t->write_file('html/static/blob.bin', $blob);
# text for the sub_filter (chunked) location
my $text = join '', map { "line $_ of the chunked test\n" } 1 .. 400;
$t->write_file('html/static/text.txt', $text);

my $conf = <<'EOF';
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    types { application/octet-stream bin; text/plain txt; }
    default_type text/plain;
    keepalive_requests 1000;

    server {
        listen 127.0.0.1:%%PORT_https%% ssl http2;
        listen 127.0.0.1:%%PORT_http%%;
        %%SSL%%
        add_header X-Conn $connection always;
        add_header X-Pid $pid always;

        location /static/ { root html; }
        location /chunked/ {
            alias html/static/;
            sub_filter 'chunked' 'CHUNKED';
            sub_filter_once off;
            sub_filter_types text/plain;
        }
        location = /hello { return 200 "hello world\n"; }
        location = /gen   { return 200 "gen %%GEN%%\n"; }
        location = /echo  { return 200 "x-test=$http_x_test method=$request_method\n"; }
        location /slow/ { alias html/static/; limit_rate 1k; }
        location = /teapot { return 418 "short and stout\n"; }
    }
}
EOF
$t->write_config($conf);
$t->run;

ok($t->master_pid, 'master pid ' . ($t->master_pid // 'none'));
my @w = $t->worker_pids;
is(scalar @w, 2, "two workers (@w)");
like($t->error_log, qr/start worker process/, 'error.log written (debug level)');

# --- HTTP/1.1 over TLS
my $r = $t->get('/static/blob.bin');
is($r->{status}, 200, 'h1 GET status') or diag explain $r->{error};
is($r->{proto}, 'HTTP/1.1', 'h1 proto');
is($r->{status_line}, 'HTTP/1.1 200 OK', 'h1 status line');
ok($r->{content} eq $blob, 'h1 content equals the 12 KB file');
is($r->{headers}{'content-length'}, 12288, 'h1 content-length');
is($r->{headers}{'content-type'}, 'application/octet-stream', 'h1 content-type');
ok((grep { $_->[0] eq 'Content-Length' } @{ $r->{header_list} }),
   'header_list keeps the original case');
like($r->{raw_headers}, qr/^HTTP\/1\.1 200 OK\r\n.*Server: nginx/s, 'raw_headers');
like($r->{headers}{'x-pid'}, qr/^\d+$/, 'X-Pid header');

# --- HTTP/2 over TLS (curl)
my $r2 = $t->get('/static/blob.bin', http2 => 1);
is($r2->{status}, 200, 'h2 GET status') or diag $r2->{error};
is($r2->{proto}, 'HTTP/2', 'h2 proto');
is($r2->{status_line}, 'HTTP/2 200', 'h2 status line');
ok($r2->{content} eq $blob, 'h2 content equals the 12 KB file');
is($r2->{headers}{'content-length'}, 12288, 'h2 content-length');
is($r2->{headers}{'content-type'}, 'application/octet-stream', 'h2 content-type');

# --- HEAD
for my $h2 (0, 1) {
    my $h = $t->get('/static/blob.bin', method => 'HEAD', http2 => $h2);
    is($h->{status}, 200, "HEAD status (http2=$h2)");
    is($h->{content}, '', "HEAD has no body (http2=$h2)");
    is($h->{headers}{'content-length'}, 12288, "HEAD content-length (http2=$h2)");
}

# --- request headers, methods, return
for my $h2 (0, 1) {
    my $e = $t->get('/echo', method => 'POST', body => 'abc',
                    headers => { 'X-Test' => 'v1' }, http2 => $h2);
    is($e->{content}, "x-test=v1 method=POST\n", "request headers + method (http2=$h2)");
    my $tp = $t->get('/teapot', http2 => $h2);
    is($tp->{status}, 418, "non-200 status (http2=$h2)");
    is($tp->{content}, "short and stout\n", "non-200 body (http2=$h2)");
}

# --- chunked response (sub_filter drops Content-Length)
(my $want = $text) =~ s/chunked/CHUNKED/g;
my $c = $t->get('/chunked/text.txt');
is($c->{headers}{'transfer-encoding'}, 'chunked', 'chunked response');
ok($c->{content} eq $want, 'chunked body decoded');

# --- plain http and plain h2c are refused on a non-h2 port; plain h1 works
my $p = $t->get('/hello', plain => 1);
is($p->{status}, 200, 'plain http status');
is($p->{content}, "hello world\n", 'plain http body');

# --- errors: nothing listens, and h2 that silently falls back is refused
my $bad = $t->get('/hello', port => 'nothing_here', timeout => 2);
is($bad->{status}, 599, 'connect failure gives 599');
like($bad->{error}, qr/connect/i, 'connect failure has an error text');
my $fb = $t->get('/hello', http2 => 1, plain => 1, timeout => 2);
is($fb->{status}, 599, 'h2c to a port without http2 is not reported as success');

# --- keep-alive: several requests over one connection
my @many = $t->get_many(['/hello', '/static/blob.bin',
                         { path => '/echo', headers => { 'X-Test' => 'ka' } },
                         { path => '/static/blob.bin', method => 'HEAD' },
                         '/gen']);
is(scalar @many, 5, 'get_many: five responses');
is_deeply([ map { $_->{status} } @many ], [ (200) x 5 ], 'get_many: all 200');
ok($many[1]{content} eq $blob, 'get_many: file body intact');
is($many[2]{content}, "x-test=ka method=GET\n", 'get_many: per-request headers');
is($many[3]{content}, '', 'get_many: HEAD inside keep-alive');
is($many[4]{content}, "gen one\n", 'get_many: last response');
my %conn = map { $_->{headers}{'x-conn'} => 1 } @many;
is(scalar keys %conn, 1, 'get_many: one nginx connection ($connection)');
my %lp = map { $_->{local_port} => 1 } @many;
is(scalar keys %lp, 1, 'get_many: one client socket');
my ($a1, $a2) = ($t->get('/hello'), $t->get('/hello'));
isnt($a1->{headers}{'x-conn'}, $a2->{headers}{'x-conn'},
     'separate get() calls use separate connections');

# --- 50 parallel clients released together
my $tp0 = time;
my @par = $t->parallel(50, '/hello');
is(scalar @par, 50, 'parallel: 50 responses');
is(scalar(grep { $_->{status} == 200 && $_->{content} eq "hello world\n" } @par),
   50, 'parallel: all 200 with the right body')
    or diag explain [ map { $_->{error} // () } @par ];
my %pids = map { $_->{headers}{'x-pid'} => 1 } @par;
ok(keys %pids >= 1, 'parallel: served by worker(s) ' . join(' ', sort keys %pids));
note sprintf 'parallel(50) took %.2fs', time - $tp0;
my @par2 = $t->parallel(8, '/static/blob.bin', http2 => 1);
is(scalar(grep { $_->{status} == 200 && $_->{proto} eq 'HTTP/2'
                 && $_->{content} eq $blob } @par2),
   8, 'parallel over HTTP/2: binary bodies survive JSON');

# --- reload with a changed config
my @old = $t->worker_pids;
$t->{vars}{GEN} = 'two';
$t->write_config($conf);
$t->reload;
my @new = $t->worker_pids;
is(scalar @new, 2, "reload: two workers (@new)");
my %o = map { $_ => 1 } @old;
ok(!grep({ $o{$_} } @new), "reload: all new pids (old @old)");
for (1 .. 5) {
    my $g = $t->get('/gen');
    is($g->{content}, "gen two\n", "reload: new config served ($_)") or last;
    ok((grep { $_ == $g->{headers}{'x-pid'} } @new), 'reload: answered by a new worker');
}
ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, timeout => 10),
   'reload: old workers exit');

# --- a worker dies, the master respawns it
my @before = $t->worker_pids;
my $killed = $t->kill_worker;
ok((grep { $_ == $killed } @before), "kill_worker killed worker $killed");
my @after = $t->worker_pids;
is(scalar @after, 2, "kill_worker: two workers again (@after)");
ok(!grep({ $_ == $killed } @after), 'kill_worker: killed pid is gone');
is($t->get('/hello')->{status}, 200, 'serving after kill_worker');
like($t->error_log, qr/worker process $killed exited on signal 9/,
     'master logged the killed worker');

# --- kill -9 everything, then start again in the same prefix
my $m1 = $t->master_pid;
my @w1 = $t->worker_pids;
$t->kill_all(9);
ok(!$t->master_pid, 'kill_all: no master recorded');
ok(!grep({ kill 0, $_ } $m1, @w1), 'kill_all: master and workers gone');
is($t->get('/hello', timeout => 2)->{status}, 599, 'kill_all: port closed');
$t->run;
isnt($t->master_pid, $m1, 'run again after kill_all: new master');
is(scalar(my @w2 = $t->worker_pids), 2, 'run again: two workers');
is($t->get('/gen', http2 => 1)->{content}, "gen two\n", 'run again: serving h2');

# --- log helpers
$t->mark_log;
$t->get('/hello?marker=1');
ok($t->wait_for(sub { $t->access_log =~ m{"GET /hello\?marker=1 HTTP/1\.1" 200 } }),
   'access_log has $request and $status');
like($t->log_since_mark, qr/marker=1/, 'log_since_mark has the new request');
unlike($t->log_since_mark, qr/start worker process/, 'log_since_mark skips older lines');

# --- certificate checks and SNI
my $v = $t->get('/hello', verify_name => 'wrong.example');
is($v->{status}, 599, 'certificate name mismatch is a 599');
like($v->{error}, qr/verif/i, 'with a verification error') or diag $v->{error};
for my $h2 (0, 1) {
    my $s = $t->get('/hello', sni => 'localhost', http2 => $h2);
    is($s->{status}, 200, "sni => localhost (http2=$h2)") or diag $s->{error};
}

# --- timeouts (limit_rate 1k on a 12 KB file)
for my $h2 (0, 1) {
    my $t0 = time;
    my $s = $t->get('/slow/blob.bin', timeout => 0.5, http2 => $h2);
    is($s->{status}, 599, "timeout gives 599 (http2=$h2)");
    like($s->{error}, qr/timeout|timed out/i, "timeout error text (http2=$h2)");
    # the whole file would take 12 s
    ok(time - $t0 < 8, sprintf 'timeout honoured: %.2fs (http2=%d)', time - $t0, $h2);
}

# --- graceful stop, idempotent
my $m2 = $t->master_pid;
my $ts = time;
$t->stop;
note sprintf "graceful stop took %.2fs", time - $ts;
ok(!$t->master_pid, 'stop: no master recorded');
ok(!kill(0, $m2), 'stop: master exited');
$t->stop;
pass('stop is idempotent');
is($t->get('/hello', timeout => 2)->{status}, 599, 'stop: port closed');

# --- the alert checker
my $fakelog = <<'EOF';
2024/01/01 00:00:00 [notice] 1#1: start worker processes
2024/01/01 00:00:00 [alert] 1#1: worker process 77 exited on signal 11
2024/01/01 00:00:00 [crit] 2#2: *1 SSL_do_handshake() failed
2024/01/01 00:00:00 [error] 2#2: *2 open() failed
2024/01/01 00:00:00 [emerg] 3#3: bind() failed
==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x1
src/x.c:10:5: runtime error: signed integer overflow
2024/01/01 00:00:00 [alert] 1#1: worker process 42 exited on signal 9
EOF
my @bad = ThimTest::bad_log_lines($fakelog, qr/worker process 42 exited on signal 9/);
is(scalar @bad, 5, 'bad_log_lines: alert, crit, emerg, ASan, UBSan found; error and ignored skipped');
is_deeply([ ThimTest::bad_log_lines("[notice] x\n[warn] y\n") ], [], 'clean log passes');
ok((grep { /exited on signal 9/ } @{ $t->{ignore_alerts} }),
   'kill_worker registered its expected alert');

# --- a broken config makes run() die with nginx -t output
my $b = ThimTest->new(pki => $t->pki, check_alerts => 0);
$b->write_config("%%TEST_GLOBALS%%\nevents {}\nno_such_directive on;\n");
ok(!eval { $b->run; 1 }, 'run dies on a bad config');
like($@, qr/nginx -t failed.*unknown directive "no_such_directive"/s, 'with the nginx -t output');
eval { $b->write_config("%%NOPE%%\n") };
like($@, qr/unknown placeholder %%NOPE%%/, 'unknown placeholder dies');

# --- nginx that passes -t but exits at startup: run dies with its output
$b->write_config("%%TEST_GLOBALS%%\nevents {}\n");
my $fake = $b->write_file('fake-nginx', <<"EOF");
#!/bin/sh
for a in "\$@"; do [ "\$a" = -t ] && exec $ThimTest::NGINX "\$@"; done
echo "fake nginx: refusing to start" >&2
exit 3
EOF
chmod 0755, $fake;
{
    local $ThimTest::NGINX = $fake;
    ok(!eval { $b->run; 1 }, 'run dies when nginx exits early');
    like($@, qr/exited early \(exit code 3\).*refusing to start/s,
         'with the exit status and the output');
}
my $bdir = $b->dir;
undef $b;
ok($ENV{TEST_NGINX_LEAVE} ? -d $bdir : !-e $bdir,
   'temp dir removed when the object goes away (kept with TEST_NGINX_LEAVE=1)');

note sprintf 'harness.t body took %.2fs', time - $T0;
done_testing;
