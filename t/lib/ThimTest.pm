package ThimTest;

use strict;
use warnings;

=pod

=head1 NAME

ThimTest - throw-away nginx instances and HTTP/1.1, HTTP/2 clients for the
ngx_thim integration tests (core perl 5.36 + Debian's IO::Socket::SSL + curl)

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::More;
    use ThimTest;

    my $t = ThimTest->new(workers => 2, modules => ['build/objs/ngx_http_thim_module.so']);
    $t->write_file('html/x.json', '{"a":1}');
    $t->write_config(<<'EOF');
    %%TEST_GLOBALS%%
    events {}
    http {
        %%TEST_GLOBALS_HTTP%%
        server {
            listen 127.0.0.1:%%PORT_https%% ssl http2;
            listen 127.0.0.1:%%PORT_http%%;
            %%SSL%%
            location / { root html; }
        }
    }
    EOF
    $t->run;
    my $r = $t->get('/x.json');                  # HTTPS, HTTP/1.1
    is($r->{status}, 200);
    $r = $t->get('/x.json', http2 => 1);         # HTTPS, HTTP/2 (curl)
    done_testing;                                # + one "no alerts" test per instance

=head1 CONSTRUCTOR

=over

=item ThimTest->new(%opt)

Makes a temporary prefix directory (under $TMPDIR or /tmp) with F<logs/>,
F<tmp/>, F<html/> and F<pki/>, and a test PKI in F<pki/> (L<ThimPKI>).
Options, all stored in the object:

    workers      => 1      worker_processes (also what run/reload/kill_worker wait for)
    modules      => [...]  .so files for load_module (made absolute)
    pki          => {ca, cert, key} of another instance (or a directory for ThimPKI::make)
    vars         => {NAME => 'text'}   extra %%NAME%% placeholders ($t->{vars} may be changed later)
    check_alerts => 1      0: no final error.log test
    ignore_alerts => [qr/.../]   error.log lines the final check tolerates
    timeout      => 10     seconds for run/reload/kill_worker/stop waits and client requests

The binary is C<$ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx'> (package
variable C<$ThimTest::NGINX>), curl is C<$ENV{TEST_CURL_BINARY} || 'curl'>.
C<$ENV{TEST_NGINX_GLOBALS}> is appended to %%TEST_GLOBALS%%. A shared PKI
lives in the directory of the instance that made it: keep that one alive
as long as the others. Works as root (C<user root;>) and as any other user:
nothing is written outside the prefix.

=back

=head1 METHODS

=over

=item dir, pki

The prefix directory; the PKI hash C<{ca, cert, key}> (file names).

=item port($name)

A free 127.0.0.1 TCP port, stable per name for the life of the object (a numeric
C<$name> is returned as is). Ports are taken at random from 20000 up to the start of
the kernel's ephemeral range, so that outgoing connections do not collide with them.
A port handed out is locked (flock on a file under $TMPDIR/thim-test-ports-UID) for
the life of the process, so that test runs side by side (the plain and the sanitizer
pass in parallel) never pick the same port between the probe and nginx's bind.

=item write_config($conf)

Writes F<nginx.conf> in the prefix after expanding, in this order: every
C<%%NAME%%> from C<< $t->{vars} >>, C<%%PORT_name%%>, C<%%TEST_GLOBALS%%>
(pid, lock_file, C<error_log ... debug> (or the C<log_level> given to new:
a flood test would write gigabytes at debug), C<user root> when euid is 0,
worker_processes, worker_shutdown_timeout 5s, load_module lines),
C<%%TEST_GLOBALS_HTTP%%> (log_format C<thimtest> with $request and $status,
access_log, the five C<*_temp_path> under F<tmp/>), C<%%SSL%%> (ssl_certificate,
ssl_certificate_key, ssl_protocols TLSv1.2 TLSv1.3), C<%%CA%%> (the CA file, e.g.
for proxy_ssl_trusted_certificate) and C<%%TESTDIR%%>. An unknown placeholder
dies. Do not set pid, error_log or worker_processes yourself when you use
%%TEST_GLOBALS%%.

=item write_file($relpath, $bytes), read_file($relpath)

A file relative to the prefix (directories are made; absolute paths and ".."
die). write_file returns the absolute name.

=item run

Runs C<nginx -t> (dies with its output on failure), then starts
C<nginx -p DIR/ -c DIR/nginx.conf -e DIR/logs/error.log -g 'daemon off;'> as a
child in its own process group (stdout/stderr to F<logs/stderr.log>). Waits
until the pid file names the master, every C<%%PORT_x%%> that appears in a
C<listen> directive accepts TCP connections (ports used only in e.g.
proxy_pass are not waited for: an origin may be down on purpose), and
C<workers> worker processes exist. Dies with the error log if nginx exits
early or does not come up within C<timeout>.

=item master_pid, worker_pids, worker_pids(all => 1)

The master pid (undef when stopped). The workers: children of the master
whose title is exactly C<nginx: worker process> (from /proc; zombies and
C<... is shutting down> workers are left out unless C<< all => 1 >>), sorted.

=item reload(wait_old => 0)

Sends HUP and waits until C<workers> new workers (none of the old pids) are up
and no old worker still accepts (each has exited or is shutting down), so the
next request hits the new configuration. Dies if the master logs an C<[emerg]>
(bad new config) or the wait times out. C<< wait_old => 1 >> also waits until
the old workers have exited. Returns $t.

=item kill_worker($pid?)

SIGKILLs one worker (default: the lowest pid), waits until the master has
respawned a replacement, returns the killed pid. The master's
C<[alert] worker process PID exited on signal 9> line is added to
ignore_alerts.

=item kill_all($sig = 9)

Sends $sig to the whole process group (master and workers), reaps the master,
waits until no process of the group is left, removes the pid file. C<run>
works again afterwards with the same prefix and config.

=item stop

QUIT (graceful), after C<timeout> TERM, after 5 s KILL to the process group;
also kills leftovers of the group. Idempotent. Returns $t.

=item get($path, %opt)

One request; returns a response hash (below). Options:

    port    => name or number   default 'https' ('http' with plain => 1)
    plain   => 1                no TLS
    http2   => 1                HTTP/2 via curl (TLS: ALPN h2; plain: prior knowledge)
    method  => 'GET'            HEAD has no body
    headers => {Name => 'v' or [v1, v2]}   a Host header replaces the default 127.0.0.1:port
    body    => $bytes           request body (Content-Length is added)
    timeout => 10               seconds, whole request
    sni     => 'name'           TLS server name (default none: an IP has no SNI);
                                HTTP/2 then uses https://name:port/ (curl --resolve)
    verify_name => $sni // '127.0.0.1'   name checked in the server certificate (HTTP/1.1)

C<timeout> counts per request (also in get_many). HTTP/1.1 sends only Host,
your headers, Content-Length and Connection; curl adds its own User-Agent and
Accept. HTTP/1.1 is written and parsed here (IO::Socket::SSL verifying the test CA,
C<Connection: close>, Content-Length, chunked or read-to-EOF bodies, 1xx
responses skipped). HTTP/2 runs C<curl --http2 -sS --cacert CA -D hdr -o body>
and checks that the response really was C<HTTP/2>; anything else gives 599.
Response:

    { status => 200, proto => 'HTTP/1.1' | 'HTTP/2', status_line => 'HTTP/1.1 200 OK',
      headers => { 'lower-case' => 'v1, v2' }, header_list => [[Name, v], ...],
      raw_headers => "status line and header lines as received",
      content => $bytes, local_port => N (HTTP/1.1 only), elapsed => seconds,
      error => 'text' }   # only on failure: status 599 (what was received is kept,
                          # its status as got_status)

=item get_many(\@reqs, %opt)

Sends the requests one after the other over ONE HTTP/1.1 keep-alive connection
(TLS unless plain) and returns the list of responses. An element is a path or
a hash C<< {path, method, headers, body} >>; %opt as in get (http2 not
allowed). The last request carries C<Connection: close>. If the connection
breaks, the remaining responses are 599s.

=item parallel($n, $path, %opt)

Forks $n clients, waits until all are ready, releases them at the same
instant (the parent closes a pipe all of them block on), each does
C<< $t->get($path, %opt) >> and sends its response back as JSON. Returns the
list of responses in client order.

=item error_log, access_log, mark_log, log_since_mark

Contents of F<logs/error.log> / F<logs/access.log>; mark_log remembers the
current error.log length, log_since_mark returns what was appended since.

=item wait_for(sub {...}, timeout => 5, interval => 0.05)

Calls the sub until it returns true; returns that value, or false after the
timeout.

=item check_alerts

Emits the "no alerts" test now (normally automatic, see below).

=item ThimTest::bad_log_lines($text, @ignore_regexps)

The lines of $text matching C</\[(alert|crit|emerg)\]/> or
C</Sanitizer|runtime error/>, minus those matching an ignore regexp.

=back

=head1 CLEANUP

Each instance is stopped and its temp dir removed (unless
C<TEST_NGINX_LEAVE=1>) when it is destroyed, when C<done_testing> is called,
or at the end of the test: an END block stops every instance and kills every
child the harness forked (curl, parallel clients), also after C<die>; INT,
TERM and HUP (if not handled by the test) exit through END too. Before the
directory goes, one test is added per instance (unless C<check_alerts> is 0)
that fails on any bad_log_lines() of F<logs/error.log> and F<logs/stderr.log>,
printing them. With C<< plan tests => N >> count that test in N; with
done_testing nothing is needed. Only the process that created an instance
cleans it up (forked children never do).

nginx runs in its own process group (so kill_all/stop can reach every
process at once), which means a Ctrl-C on the terminal reaches it only through
the INT handler above; a test killed with SIGKILL leaves it running. The test
process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so
workers orphaned by kill_all are re-parented to it and reaped, instead of
staying as C<< <defunct> >> under a PID 1 that does not reap (containers).

=cut

use Cwd qw(abs_path);
use Errno ();
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL qw(SSL_VERIFY_PEER SSL_WANT_WRITE);
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(refaddr weaken);
use Time::HiRes qw(time sleep);
use Test::More ();
use Test2::API ();

use ThimPKI;

our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $CURL  = $ENV{TEST_CURL_BINARY} || 'curl';

my %LIVE;         # refaddr => weak ref of every instance not finished yet
my %PORTS_TAKEN;  # ports handed out in this process (all instances):
                  # port => the open, flocked lock file that reserves it
my $HOOKED;

###########################################################################
# construction, files, config

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        workers       => 1,
        modules       => [],
        vars          => {},
        check_alerts  => 1,
        ignore_alerts => [],
        timeout       => 10,
        log_level     => 'debug',
        %opt,
        owner    => $$,
        ports    => {},
        children => {},
    }, $class;

    $self->{dir} = tempdir('thim-test-XXXXXXXX', TMPDIR => 1);
    make_path(map { "$self->{dir}/$_" } qw(logs tmp html pki));
    $self->{modules} = [ map { File::Spec->rel2abs($_) } @{ $self->{modules} } ];

    my $pki = $self->{pki};
    $self->{pki} = !defined $pki  ? ThimPKI::make("$self->{dir}/pki")
                 : ref $pki       ? $pki
                 :                  ThimPKI::make($pki);

    _set_subreaper();
    $LIVE{ refaddr $self } = $self;
    weaken $LIVE{ refaddr $self };
    _install_hooks();
    return $self;
}

sub dir { $_[0]{dir} }
sub pki { $_[0]{pki} }

sub _install_hooks {
    return if $HOOKED++;
    # the final alert tests go in before done_testing / the END plan check
    Test2::API::test2_add_callback_testing_done(sub {
        my (undef, $hub) = @_;
        my $skip = ($hub->plan // '') eq 'SKIP';
        $_->_finish(!$skip) for _live();
    });
    my %num = (HUP => 1, INT => 2, TERM => 15);
    for my $sig (keys %num) {
        my $cur = $SIG{$sig};
        next if defined $cur && $cur ne '' && $cur ne 'DEFAULT';
        $SIG{$sig} = sub { $SIG{$sig} = 'DEFAULT'; exit(128 + $num{$sig}) };
    }
}

# prctl(PR_SET_CHILD_SUBREAPER): orphaned nginx workers become our children
my $SUBREAPER;
sub _set_subreaper {
    return if $SUBREAPER++;
    my $nr = { x86_64 => 157, aarch64 => 167, riscv64 => 167 }->{ (POSIX::uname())[4] }
        // eval { require 'syscall.ph'; main::SYS_prctl() };
    syscall($nr, 36, 1, 0, 0, 0) == 0 or warn "ThimTest: PR_SET_CHILD_SUBREAPER: $!\n"
        if $nr;
}

sub _live {
    return grep { defined $_ && $_->{owner} == $$ } values %LIVE;
}

END {
    local ($?, $@, $!);
    for my $t (_live()) {
        eval { $t->stop; $t->_kill_children; 1 }
            or warn "ThimTest cleanup: $@";
    }
}

sub _port_range {
    my ($lo) = (_slurp('/proc/sys/net/ipv4/ip_local_port_range') // '')
        =~ /^(\d+)/;
    $lo = 32768 if !$lo || $lo > 32768;
    return (20000, $lo - 1);
}

# Another test process (a second prove run beside this one) may have probed
# the same port and not bound it yet: a port is ours only while we hold its
# lock.  The lock goes with the process (or its last child holding the fd).
sub _port_lock {
    my ($p) = @_;
    my $dir = File::Spec->tmpdir . "/thim-test-ports-$<";
    mkdir $dir, 0700 unless -d $dir;
    open(my $fh, '>', "$dir/$p") or return undef;
    return flock($fh, LOCK_EX | LOCK_NB) ? $fh : undef;
}

sub port {
    my ($self, $name) = @_;
    die "port: name required\n" unless defined $name;
    return $name if $name =~ /^\d+$/;
    return $self->{ports}{$name} //= do {
        my ($lo, $hi) = _port_range();
        my $port;
        for (1 .. 1000) {
            my $p = $lo + int(rand($hi - $lo + 1));
            next if $PORTS_TAKEN{$p};
            my $lock = _port_lock($p) or next;
            my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                LocalPort => $p, Proto => 'tcp', Listen => 1) or next;
            close $s;
            $port = $p;
            $PORTS_TAKEN{$port} = $lock;
            last;
        }
        die "port: no free port found\n" unless $port;
        $port;
    };
}

sub _path {
    my ($self, $rel) = @_;
    die "path must be relative to the prefix: $rel\n"
        if $rel =~ m{^/} || $rel =~ m{(?:^|/)\.\.(?:/|$)};
    return "$self->{dir}/$rel";
}

sub write_file {
    my ($self, $rel, $bytes) = @_;
    my $f = $self->_path($rel);
    make_path(dirname($f));
    open my $fh, '>:raw', $f or die "$f: $!\n";
    print $fh $bytes;
    close $fh or die "$f: $!\n";
    return $f;
}

sub read_file {
    my ($self, $rel) = @_;
    return _slurp($self->_path($rel));
}

sub _slurp {
    my ($f, $offset) = @_;
    open my $fh, '<:raw', $f or return undef;
    seek $fh, $offset, 0 if $offset;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _globals {
    my ($self) = @_;
    my $d = $self->{dir};
    return join '',
        "pid $d/logs/nginx.pid;\n",
        "lock_file $d/logs/nginx.lock;\n",
        "error_log $d/logs/error.log $self->{log_level};\n",
        ($> == 0 ? "user root;\n" : ''),
        "worker_processes $self->{workers};\n",
        "worker_shutdown_timeout 5s;\n",
        (map { "load_module $_;\n" } @{ $self->{modules} }),
        ($ENV{TEST_NGINX_GLOBALS} ? "$ENV{TEST_NGINX_GLOBALS}\n" : '');
}

sub _globals_http {
    my ($self) = @_;
    my $d = $self->{dir};
    return join '',
        "log_format thimtest '\$remote_addr [\$time_local] \"\$request\" "
            . "\$status \$body_bytes_sent \$request_time "
            . "conn=\$connection:\$connection_requests pid=\$pid "
            . "\"\$http_user_agent\"';\n",
        "access_log $d/logs/access.log thimtest;\n",
        map { "${_}_temp_path $d/tmp/$_;\n" }
            qw(client_body proxy fastcgi uwsgi scgi);
}

sub write_config {
    my ($self, $conf) = @_;
    my $d = $self->{dir};
    my $vars = $self->{vars} || {};

    $conf =~ s{%%(\w+)%%}{exists $vars->{$1} ? $vars->{$1} : "%%$1%%"}ge;

    # ports nginx itself listens on: run() waits for them
    my %listen;
    while ($conf =~ /^\s*listen\s+([^;]*);/mg) {
        my $args = $1;
        next if $args =~ /\budp\b/;
        $listen{$1} = 1 while $args =~ /%%PORT_(\w+)%%/g;
    }
    $self->{listen_ports} = [ sort keys %listen ];

    my %x = (
        TEST_GLOBALS      => $self->_globals,
        TEST_GLOBALS_HTTP => $self->_globals_http,
        SSL => "ssl_certificate $self->{pki}{cert};\n"
             . "ssl_certificate_key $self->{pki}{key};\n"
             . "ssl_protocols TLSv1.2 TLSv1.3;\n",
        CA      => $self->{pki}{ca},
        TESTDIR => $d,
    );
    $conf =~ s{%%PORT_(\w+)%%}{$self->port($1)}ge;
    $conf =~ s{%%(\w+)%%}{
        exists $x{$1} ? $x{$1} : die "write_config: unknown placeholder %%$1%%\n"
    }ge;

    open my $fh, '>', "$d/nginx.conf" or die "$d/nginx.conf: $!\n";
    print $fh $conf;
    close $fh or die "$d/nginx.conf: $!\n";
    return $self;
}

###########################################################################
# processes

sub _nginx_args {
    my ($self) = @_;
    my $d = $self->{dir};
    return ('-p', "$d/", '-c', "$d/nginx.conf", '-e', "$d/logs/error.log",
            '-g', 'daemon off;');
}

# run a command, return (exit code, stdout+stderr)
sub _capture {
    my (@cmd) = @_;
    local $?;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or print "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8 || $? & 127, $out);
}

sub run {
    my ($self) = @_;
    my $d = $self->{dir};
    die "run: already running (pid $self->{pid})\n" if $self->{pid};
    die "run: write_config first\n" unless -f "$d/nginx.conf";

    my ($rc, $out) = _capture($NGINX, $self->_nginx_args, '-t');
    die "nginx -t failed (exit $rc):\n$out" if $rc;

    unlink "$d/logs/nginx.pid";
    my $mark = -s "$d/logs/error.log" // 0;

    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        eval {
            POSIX::setpgid(0, 0);
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT PIPE USR1 USR2 WINCH CHLD ALRM);
            open STDIN, '<', '/dev/null';
            open STDOUT, '>>', "$d/logs/stderr.log";
            open STDERR, '>&', \*STDOUT;
            exec { $NGINX } $NGINX, $self->_nginx_args
                or print STDERR "exec $NGINX: $!\n";
        };
        POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);   # also here, against the race with the child
    $self->{pid} = $self->{pgid} = $pid;

    my $exited;
    my $up = $self->wait_for(sub {
        local $?;
        if (waitpid($pid, WNOHANG) == $pid) {
            $exited = $? & 127 ? "killed by signal " . ($? & 127)
                                 : "exit code " . ($? >> 8);
            return 1;
        }
        my ($p) = (_slurp("$d/logs/nginx.pid") // '') =~ /(\d+)/;
        return 0 unless $p && $p == $pid;
        return 0 unless $self->_ports_open;
        return scalar($self->worker_pids) == $self->{workers};
    }, timeout => $self->{timeout}, interval => 0.02);

    if ($exited) {
        delete @$self{qw(pid pgid)};
        $self->_kill_group_leftovers($pid);
        die "nginx exited early ($exited):\n" . _tail(_slurp("$d/logs/error.log", $mark))
            . _tail(_slurp("$d/logs/stderr.log"), 10);
    }
    if (!$up) {
        my $log = _slurp("$d/logs/error.log", $mark);
        $self->stop;
        die "nginx did not come up within $self->{timeout}s (workers: "
            . join(' ', $self->worker_pids) . "):\n" . _tail($log);
    }
    return $self;
}

sub _ports_open {
    my ($self) = @_;
    for my $name (@{ $self->{listen_ports} || [] }) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $self->port($name), Proto => 'tcp', Timeout => 1)
            or return 0;
        close $s;
    }
    return 1;
}

# /proc/PID/stat of all processes: [pid, state, ppid, pgrp]
sub _procs {
    my @p;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = _slurp("/proc/$pid/stat") // next;
        my $r = rindex($stat, ')');
        next if $r < 0;
        my ($state, $ppid, $pgrp) = split ' ', substr($stat, $r + 2);
        push @p, [ $pid, $state, $ppid, $pgrp ];
    }
    return @p;
}

sub _title {
    my ($pid) = @_;
    my $c = _slurp("/proc/$pid/cmdline") // return '';
    $c =~ s/\0.*//s;
    $c =~ s/\s+$//;
    return $c;
}

sub master_pid { $_[0]{pid} }

sub worker_pids {
    my ($self, %o) = @_;
    my $m = $self->{pid} or return;
    my @w;
    for my $p (_procs()) {
        next unless $p->[2] == $m && $p->[1] ne 'Z' && $p->[1] ne 'X';
        my $title = _title($p->[0]);
        push @w, $p->[0]
            if $title eq 'nginx: worker process'
            || ($o{all} && $title eq 'nginx: worker process is shutting down');
    }
    @w = sort { $a <=> $b } @w;
    return @w;      # (a bare sort in scalar context is undefined)
}

# live (non-zombie) members of a process group
sub _group_pids {
    my ($pgid) = @_;
    return map { $_->[0] }
        grep { $_->[3] == $pgid && $_->[1] ne 'Z' && $_->[1] ne 'X' } _procs();
}

sub _reap {
    my ($pid, $timeout) = @_;
    local $?;
    my $end = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        return 0 if time > $end;
        sleep 0.01;
    }
}

# Kill whatever is left of a process group and reap what became our child.
# Workers orphaned by a killed master are re-parented to us (we are a child
# subreaper, see new) and reaped here; otherwise PID 1 would have to, and in
# containers it often does not: they would stay as <defunct> nginx.
sub _kill_group_leftovers {
    my ($self, $pgid) = @_;
    return unless $pgid;
    my $clean = sub {
        my @left;
        for my $p (_procs()) {
            next unless $p->[3] == $pgid;
            if ($p->[1] eq 'Z' || $p->[1] eq 'X') {
                local $?;
                waitpid($p->[0], WNOHANG) if $p->[2] == $$;
                next;
            }
            push @left, $p->[0];
        }
        kill 'KILL', @left if @left;
        return !@left;
    };
    $self->wait_for($clean, timeout => 5, interval => 0.01)
        or warn "ThimTest: processes of group $pgid survive SIGKILL: "
            . join(' ', _group_pids($pgid)) . "\n";
    $clean->();     # reap the zombies of the last round
}

sub reload {
    my ($self, %o) = @_;
    my $m = $self->{pid} or die "reload: not running\n";
    my %old = map { $_ => 1 } $self->worker_pids;
    my $log = "$self->{dir}/logs/error.log";
    my $mark = -s $log // 0;
    my $err;

    kill 'HUP', $m;
    my $ok = $self->wait_for(sub {
        local $?;
        if (waitpid($m, WNOHANG) == $m) {
            delete @$self{qw(pid pgid)};
            $err = "master exited";
            return 1;
        }
        if ((_slurp($log, $mark) // '') =~ /^(.*\[emerg\].*)$/m) {
            $err = $1;
            return 1;
        }
        my @w = $self->worker_pids;
        return @w == $self->{workers} && !grep { $old{$_} } @w;
    }, timeout => $self->{timeout}, interval => 0.02);

    die "reload failed: $err\n" . _tail(_slurp($log, $mark)) if $err;
    die "reload: no new set of workers within $self->{timeout}s\n"
        . _tail(_slurp($log, $mark)) unless $ok;

    # an old worker changes its title just before it closes its listening
    # sockets; give it that moment
    sleep 0.05;

    if ($o{wait_old}) {
        $self->wait_for(sub { !grep { _state($_) !~ /^[ZX]?$/ } keys %old },
                        timeout => $self->{timeout})
            or die "reload: old workers still alive\n";
    }
    return $self;
}

sub _state {
    my ($pid) = @_;
    my $stat = _slurp("/proc/$pid/stat") // return '';
    return substr($stat, rindex($stat, ')') + 2, 1);
}

sub kill_worker {
    my ($self, $victim) = @_;
    $self->{pid} or die "kill_worker: not running\n";
    ($victim) = $self->worker_pids unless $victim;
    die "kill_worker: no worker\n" unless $victim;
    push @{ $self->{ignore_alerts} },
        qr/\bworker process $victim exited on signal 9\b/;
    kill 'KILL', $victim;
    $self->wait_for(sub {
        my @w = $self->worker_pids;
        @w == $self->{workers} && !grep { $_ == $victim } @w;
    }, timeout => $self->{timeout}, interval => 0.02)
        or die "kill_worker: no replacement for $victim within $self->{timeout}s\n"
            . _tail($self->error_log);
    return $victim;
}

sub kill_all {
    my ($self, $sig) = @_;
    $sig //= 9;
    my $m = $self->{pid} or return $self;
    my $pg = $self->{pgid};
    kill(($sig =~ /^\d+$/ ? -$sig : "-$sig"), $pg);
    unless (_reap($m, 5)) {
        kill '-KILL', $pg;
        _reap($m, 5);
    }
    delete @$self{qw(pid pgid)};
    $self->_kill_group_leftovers($pg);
    unlink "$self->{dir}/logs/nginx.pid";
    return $self;
}

sub stop {
    my ($self) = @_;
    my $m = $self->{pid} or return $self;
    return $self unless $self->{owner} == $$;
    my $pg = $self->{pgid};
    kill 'QUIT', $m;
    unless (_reap($m, $self->{timeout})) {
        warn "ThimTest: nginx $m ignored QUIT, sending TERM\n";
        kill 'TERM', $m;
        unless (_reap($m, 5)) {
            kill '-KILL', $pg;
            _reap($m, 5);
        }
    }
    delete @$self{qw(pid pgid)};
    $self->_kill_group_leftovers($pg);
    unlink "$self->{dir}/logs/nginx.pid";
    return $self;
}

sub _kill_children {
    my ($self) = @_;
    local $?;
    for my $pid (keys %{ $self->{children} }) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        delete $self->{children}{$pid};
    }
}

sub wait_for {
    my ($self, $cb, %o) = @_;
    my $end = time + ($o{timeout} // 5);
    while (1) {
        my $r = $cb->();
        return $r if $r;
        return $r if time > $end;
        sleep($o{interval} // 0.05);
    }
}

###########################################################################
# logs, alerts, cleanup

# the last lines of a log without [debug] lines, for die messages
sub _tail {
    my ($text, $n) = @_;
    my @l = grep { !/\[debug\]/ } split /\n/, $text // '';
    splice @l, 0, @l - ($n // 40) if @l > ($n // 40);
    return join '', map { "$_\n" } @l;
}

sub error_log  { _slurp("$_[0]{dir}/logs/error.log") // '' }
sub access_log { _slurp("$_[0]{dir}/logs/access.log") // '' }

sub mark_log {
    my ($self) = @_;
    return $self->{mark} = -s "$self->{dir}/logs/error.log" // 0;
}

sub log_since_mark {
    my ($self) = @_;
    return _slurp("$self->{dir}/logs/error.log", $self->{mark} // 0) // '';
}

sub bad_log_lines {
    my ($text, @ignore) = @_;
    return grep {
        my $l = $_;
        ($l =~ /\[(?:alert|crit|emerg)\]/ || $l =~ /Sanitizer|runtime error/)
            && !grep { $l =~ $_ } @ignore
    } split /\r?\n/, $text // '';
}

sub check_alerts {
    my ($self) = @_;
    my @bad = bad_log_lines($self->error_log
            . (_slurp("$self->{dir}/logs/stderr.log") // ''),
        @{ $self->{ignore_alerts} || [] });
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(!@bad, "no alert/crit/emerg/sanitizer lines in error.log")
        or Test::More::diag(join "\n", "offending lines ($self->{dir}):", @bad);
    return !@bad;
}

sub _finish {
    my ($self, $emit) = @_;
    return if $self->{finished} || $self->{owner} != $$;
    $self->{finished} = 1;
    delete $LIVE{ refaddr $self };
    eval { $self->stop; $self->_kill_children; 1 } or warn "ThimTest: $@";
    if ($emit && $self->{check_alerts}) {
        eval { $self->check_alerts; 1 } or warn "ThimTest: alert check: $@";
    }
    if ($ENV{TEST_NGINX_LEAVE}) {
        Test::More::diag("ThimTest: left $self->{dir}") if $emit;
    } else {
        remove_tree($self->{dir}, { error => \my $err });
        warn "ThimTest: could not remove all of $self->{dir}\n" if @$err;
    }
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($?, $@, $!);
    # also reached while exit() unwinds (skip_all, signals), before END
    my $hub = eval { Test2::API::test2_stack()->top };
    my $emit = ${^GLOBAL_PHASE} ne 'DESTRUCT' && $hub && !$hub->ended
        && ($hub->plan // '') ne 'SKIP';
    $self->_finish($emit);
}

###########################################################################
# HTTP clients

sub _fail {
    my ($msg, %extra) = @_;
    $msg //= 'unknown error';
    $msg =~ s/\s+$//;
    # a partial response keeps its parts; its status moves to got_status
    $extra{got_status} = delete $extra{status} if defined $extra{status};
    return { proto => '', status_line => '', headers => {},
             header_list => [], raw_headers => '', content => '',
             %extra, status => 599, error => $msg };
}

sub _conn_port {
    my ($self, $opt) = @_;
    return $self->port($opt->{port} // ($opt->{plain} ? 'http' : 'https'));
}

sub get {
    my ($self, $path, %opt) = @_;
    return $self->_h2_request($path, %opt) if $opt{http2};
    my ($r) = $self->_h1_exchange([ { path => $path, %opt } ], %opt);
    return $r;
}

sub get_many {
    my ($self, $reqs, %opt) = @_;
    die "get_many: HTTP/1.1 only\n" if $opt{http2};
    my @r = map { ref $_ ? { %$_ } : { path => $_ } } @$reqs;
    for my $r (@r) {
        $r->{$_} //= $opt{$_} for qw(method headers body);
    }
    return $self->_h1_exchange(\@r, %opt);
}

sub _connect {
    my ($self, $port, $opt, $timeout) = @_;
    my $sock;
    if ($opt->{plain}) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
            Proto => 'tcp', Timeout => $timeout)
            or die "connect 127.0.0.1:$port: $!\n";
    } else {
        $sock = IO::Socket::SSL->new(
            PeerHost => '127.0.0.1', PeerPort => $port, Timeout => $timeout,
            SSL_verify_mode     => SSL_VERIFY_PEER,
            SSL_ca_file         => $self->{pki}{ca},
            SSL_verifycn_name   => $opt->{verify_name} // $opt->{sni} // '127.0.0.1',
            SSL_verifycn_scheme => 'http',
            SSL_hostname        => $opt->{sni} // '',
            SSL_alpn_protocols  => ['http/1.1'],
        ) or die "TLS connect 127.0.0.1:$port: "
            . ($IO::Socket::SSL::SSL_ERROR || $!) . "\n";
    }
    $sock->blocking(0);
    return $sock;
}

sub _wait_io {
    my ($sock, $deadline, $write) = @_;
    if ($sock->isa('IO::Socket::SSL')) {
        $write = ($IO::Socket::SSL::SSL_ERROR // 0) == SSL_WANT_WRITE;
    }
    my $left = $deadline - time;
    die "timeout\n" if $left <= 0;
    my $v = '';
    vec($v, fileno($sock), 1) = 1;
    my $n = $write ? select(undef, my $w = $v, undef, $left)
                   : select(my $r = $v, undef, undef, $left);
    die "timeout\n" if $n == 0;
}

sub _retry_io {
    return $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
}

sub _write_all {
    my ($sock, $data, $deadline) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if ($n) { $off += $n; next }
        die "write: " . ($! || 'connection closed') . "\n" unless _retry_io();
        _wait_io($sock, $deadline, 1);
    }
}

# append to $$buf; returns the number of bytes read, 0 at EOF
sub _fill {
    my ($sock, $buf, $deadline) = @_;
    while (1) {
        my $n = sysread($sock, $$buf, 65536, length $$buf);
        return $n if defined $n;
        die "read: $!" . ($sock->isa('IO::Socket::SSL')
            ? " ($IO::Socket::SSL::SSL_ERROR)" : '') . "\n" unless _retry_io();
        _wait_io($sock, $deadline, 0);
    }
}

sub _read_line {
    my ($sock, $buf, $deadline) = @_;
    my $i;
    until (($i = index($$buf, "\n")) >= 0) {
        _fill($sock, $buf, $deadline) or die "connection closed in chunked body\n";
    }
    my $line = substr($$buf, 0, $i + 1, '');
    $line =~ s/\r?\n$//;
    return $line;
}

sub _read_n {
    my ($sock, $buf, $n, $deadline) = @_;
    while (length $$buf < $n) {
        _fill($sock, $buf, $deadline)
            or die "connection closed after " . length($$buf) . " of $n body bytes\n";
    }
    return substr($$buf, 0, $n, '');
}

sub _parse_head {
    my ($head) = @_;
    my @lines = split /\r?\n/, $head;
    my $sl = shift @lines // '';
    $sl =~ /^(HTTP\/[\d.]+)\s+(\d{3})\b/ or die "bad status line: '$sl'\n";
    my ($proto, $status) = ($1, $2 + 0);
    $sl =~ s/\s+$//;
    my (@list, %h);
    for my $l (@lines) {
        if ($l =~ /^[ \t]/ && @list) {          # obsolete line folding
            $l =~ s/^\s+|\s+$//g;
            $list[-1][1] .= " $l";
            next;
        }
        $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @list, [ $1, $2 ];
    }
    for my $p (@list) {
        my $k = lc $p->[0];
        $h{$k} = exists $h{$k} ? "$h{$k}, $p->[1]" : $p->[1];
    }
    return { status => $status, proto => $proto, status_line => $sl,
             headers => \%h, header_list => \@list, raw_headers => $head };
}

sub _h1_one {
    my ($sock, $buf, $rq, $port, $close, $deadline) = @_;
    my $t0 = time;
    my $method = uc($rq->{method} // 'GET');
    my $hdrs = $rq->{headers} || {};
    my %have = map { lc($_) => 1 } keys %$hdrs;

    my $req = "$method $rq->{path} HTTP/1.1\r\n";
    $req .= "Host: 127.0.0.1:$port\r\n" unless $have{host};
    for my $k (sort keys %$hdrs) {
        my $v = $hdrs->{$k};
        $req .= "$k: $_\r\n" for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    if (defined $rq->{body} && !$have{'content-length'}
        && !$have{'transfer-encoding'})
    {
        $req .= "Content-Length: " . length($rq->{body}) . "\r\n";
    }
    $req .= "Connection: close\r\n" if $close && !$have{connection};
    $req .= "\r\n" . ($rq->{body} // '');
    _write_all($sock, $req, $deadline);

    my $r;
    while (1) {
        my $end;
        until (($end = index($$buf, "\r\n\r\n")) >= 0) {
            _fill($sock, $buf, $deadline) or die length $$buf
                ? "connection closed in response headers\n"
                : "connection closed without a response\n";
        }
        my $head = substr($$buf, 0, $end + 4, '');
        $head =~ s/\r\n\r\n$//;
        $r = _parse_head($head);
        last unless $r->{status} >= 100 && $r->{status} < 200
                 && $r->{status} != 101;
    }

    my $h = $r->{headers};
    my $closed = 0;
    if ($method eq 'HEAD' || $r->{status} < 200
        || $r->{status} == 204 || $r->{status} == 304)
    {
        $r->{content} = '';
    } elsif (($h->{'transfer-encoding'} // '') =~ /\bchunked\b/i) {
        my $body = '';
        while (1) {
            my $line = _read_line($sock, $buf, $deadline);
            $line =~ /^([0-9a-fA-F]+)/ or die "bad chunk size line: '$line'\n";
            my $n = hex $1;
            if ($n == 0) {
                1 while _read_line($sock, $buf, $deadline) ne '';   # trailers
                last;
            }
            $body .= _read_n($sock, $buf, $n, $deadline);
            _read_n($sock, $buf, 2, $deadline) eq "\r\n"
                or die "chunk not followed by CRLF\n";
        }
        $r->{content} = $body;
    } elsif (defined $h->{'content-length'}) {
        $h->{'content-length'} =~ /^(\d+)/ or die "bad content-length\n";
        $r->{content} = _read_n($sock, $buf, $1, $deadline);
    } else {
        1 while _fill($sock, $buf, $deadline);
        $r->{content} = $$buf;
        $$buf = '';
        $closed = 1;
    }
    $closed = 1 if ($h->{connection} // '') =~ /\bclose\b/i
        || ($r->{proto} eq 'HTTP/1.0'
            && ($h->{connection} // '') !~ /\bkeep-alive\b/i);
    $r->{elapsed} = time - $t0;
    return ($r, $closed);
}

sub _h1_exchange {
    my ($self, $reqs, %opt) = @_;
    my $timeout = $opt{timeout} // $self->{timeout};
    local $SIG{PIPE} = 'IGNORE';
    my $port = eval { $self->_conn_port(\%opt) }
        // return map { _fail($@) } @$reqs;
    my $sock = eval { $self->_connect($port, \%opt, $timeout) }
        // return map { _fail($@) } @$reqs;
    my $lport = $sock->sockport;
    my ($buf, @res) = ('');
    for my $i (0 .. $#$reqs) {
        my $last = $i == $#$reqs;
        my ($r, $closed) = eval {
            _h1_one($sock, \$buf, $reqs->[$i], $port, $last, time + $timeout)
        };
        if (!$r) {
            push @res, _fail($@, local_port => $lport);
            push @res, _fail("not sent: connection failed before", local_port => $lport)
                for $i + 1 .. $#$reqs;
            last;
        }
        $r->{local_port} = $lport;
        push @res, $r;
        if ($closed && !$last) {
            push @res, _fail("not sent: server closed the connection",
                             local_port => $lport) for $i + 1 .. $#$reqs;
            last;
        }
    }
    close $sock;
    return @res;
}

# run a command with stdout and stderr redirected to files; exit code
sub _run_cmd {
    my ($self, $cmd, $stderr) = @_;
    local $?;
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        eval {
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', $stderr;
            exec { $cmd->[0] } @$cmd or print STDERR "exec $cmd->[0]: $!\n";
        };
        POSIX::_exit(127);
    }
    $self->{children}{$pid} = 1;
    waitpid($pid, 0);
    delete $self->{children}{$pid};
    return $? >> 8 || $? & 127;
}

sub _h2_request {
    my ($self, $path, %opt) = @_;
    my $t0 = time;
    my $timeout = $opt{timeout} // $self->{timeout};
    my $port = eval { $self->_conn_port(\%opt) } // return _fail($@);
    my $method = uc($opt{method} // 'GET');
    my $tmp = "$self->{dir}/tmp/curl.$$." . ++$self->{seq};

    my @cmd = ($CURL, '-sS', '-g', '--path-as-is', '--max-time', $timeout,
               '-D', "$tmp.h", '-o', "$tmp.b");
    if ($opt{plain}) {
        push @cmd, '--http2-prior-knowledge';
    } else {
        push @cmd, '--http2', '--cacert', $self->{pki}{ca};
        push @cmd, '--resolve', "$opt{sni}:$port:127.0.0.1" if $opt{sni};
    }
    if ($method eq 'HEAD') {
        push @cmd, '--head';
    } elsif ($method ne 'GET' || defined $opt{body}) {
        push @cmd, '-X', $method;
    }
    my $hdrs = $opt{headers} || {};
    for my $k (sort keys %$hdrs) {
        my $v = $hdrs->{$k};
        push @cmd, '-H', ($_ eq '' ? "$k;" : "$k: $_")
            for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    if (defined $opt{body}) {
        open my $fh, '>:raw', "$tmp.in" or return _fail("$tmp.in: $!");
        print $fh $opt{body};
        close $fh;
        push @cmd, '--data-binary', "\@$tmp.in";
    }
    my $host = $opt{sni} // '127.0.0.1';
    push @cmd, ($opt{plain} ? 'http' : 'https') . "://$host:$port$path";

    my $rc = eval { $self->_run_cmd(\@cmd, "$tmp.e") } // return _fail($@);
    my $err = _slurp("$tmp.e") // '';
    my $dump = _slurp("$tmp.h") // '';
    my $body = _slurp("$tmp.b") // '';
    unlink map { "$tmp.$_" } qw(h b e in);

    # the dump holds every header block (1xx first); the last one counts
    my @blocks = grep { /\S/ } split /\r?\n\r?\n/, $dump;
    my $r = eval { _parse_head($blocks[-1] // '') };
    return _fail("curl exit $rc: $err", %{ $r || {} },
                 elapsed => time - $t0) if $rc;
    return _fail("no response headers from curl: $@$err") unless $r;
    $r->{content} = $method eq 'HEAD' ? '' : $body;
    $r->{elapsed} = time - $t0;
    return _fail("curl did not use HTTP/2 (got '$r->{status_line}')", %$r)
        unless $r->{proto} eq 'HTTP/2';
    return $r;
}

sub parallel {
    my ($self, $n, $path, %opt) = @_;
    $self->_conn_port(\%opt);           # resolve the port before forking
    my $json = JSON::PP->new->latin1->canonical;
    local $SIG{PIPE} = 'IGNORE';

    pipe(my $go_r, my $go_w) or die "pipe: $!\n";
    pipe(my $ready_r, my $ready_w) or die "pipe: $!\n";
    my @kids;
    for my $i (1 .. $n) {
        pipe(my $res_r, my $res_w) or die "pipe: $!\n";
        my $pid = fork;
        if (!defined $pid) {
            my $e = $!;
            close $go_w;
            $self->_kill_children;
            die "parallel: fork: $e\n";
        }
        if (!$pid) {
            eval {
                $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
                close $_ for $go_w, $ready_r, $res_r, map { $_->{fh} } @kids;
                syswrite $ready_w, 'r';
                close $ready_w;
                sysread $go_r, my $b, 1;    # EOF when the parent closes $go_w
                my $r = eval { $self->get($path, %opt) } || _fail($@);
                my $out = $json->encode($r);
                my $off = 0;
                while ($off < length $out) {
                    my $w = syswrite($res_w, $out, length($out) - $off, $off);
                    last unless $w;
                    $off += $w;
                }
                close $res_w;
            };
            POSIX::_exit(0);
        }
        close $res_w;
        $self->{children}{$pid} = 1;
        push @kids, { pid => $pid, fh => $res_r };
    }
    close $ready_w;
    close $go_r;
    my $ready = 0;
    while ($ready < $n) {
        my $got = sysread $ready_r, my $b, 4096;
        last unless $got;
        $ready += $got;
    }
    close $ready_r;
    close $go_w;                        # release all clients at once

    my @res;
    local $?;
    for my $k (@kids) {
        my $fh = $k->{fh};
        my $data = do { local $/; <$fh> } // '';
        close $fh;
        waitpid($k->{pid}, 0);
        my $st = $?;
        delete $self->{children}{ $k->{pid} };
        push @res, (length $data ? eval { $json->decode($data) } : undef)
            || _fail("client $k->{pid} gave no response (wait status $st)");
    }
    return @res;
}

1;
