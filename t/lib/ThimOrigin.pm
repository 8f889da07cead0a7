package ThimOrigin;

# Perl client for the test origin emulator (t/origin/emulator.pl): an HTTPS
# server on 127.0.0.1 that answers as Intel PCS v3/v4, the Intel SGX root CA
# CRL location and AMD KDS from the fixtures in t/data, counts what it
# receives, and injects faults on demand.
#
#   use ThimOrigin;
#   my $o = ThimOrigin->start(pki => ThimPKI::make("$tmp/pki"),
#                             data => "$FindBin::Bin/data", dir => $tmp,
#                             api_key => 'k');  # pckcerts: 401 unless sent
#   $o->port; $o->ctl_port; $o->url;      # https://127.0.0.1:<port>
#   $o->count('/sgx/certification/v4/qe/identity');   # path only: any query
#   $o->count('/sgx/certification/v4/tcb?fmspc=00906ea10000'); # exact path?query as received
#   $o->counts; $o->total; $o->reset;     # reset: counts + faults (not serves)
#   $o->requests; $o->requests(3);        # [{target, method, headers => {lc name => value}}]
#                                         # of every (or the last 3) request received
#   $o->fault('/sgx/certification/v4/tcb', status => 429, retry_after => 5, times => 1);
#   $o->clear_faults;
#   $o->serve('/sgx/certification/v4/tcb?fmspc=00906ea10000', file => $f, chain => $pem);
#   $o->unserve($key); $o->clear_serves;
#   $o->stop;                             # also done by DESTROY
#
# fault($prefix, %opt): applies to requests whose path starts with $prefix
# (if $prefix contains '?', to requests whose "path?query" as received starts
# with it).  Several faults may be set; the longest matching prefix wins (ties:
# the most recent).  Options, combinable:
#   status => 4xx|5xx      answer with that status and an empty body instead;
#                          429 always carries Retry-After (retry_after, default
#                          30), 503 carries it when retry_after is given
#   retry_after => secs
#   latency => ms          delay before answering (also before status/drop)
#   truncate => 1          only the first half of the body, Content-Length = what is sent
#   corrupt => 1           flip one byte inside the signed part (JSON: one digit
#                          inside tcbInfo/enclaveIdentity/tcbEvaluationDataNumbers,
#                          the one nearest its middle, d -> d+1, 9 -> 8; DER
#                          certificate/CRL: the middle byte of the TBS XOR 0x01;
#                          PEM: the same on the DER of the first PEM block)
#   resign => 1            valid signature by a freshly generated non-Intel/non-AMD
#                          key over the unchanged signed bytes (JSON: new r||s
#                          in "signature"; certificate/CRL: TBS unchanged, new
#                          signature, same algorithm, same key type/size);
#                          issuer-chain headers unchanged
#   drop => 1              close the connection without any response
#   times => n             only the next n matching requests (default: until cleared)
# truncate/corrupt/resign apply to 200 answers only.
#
# serve($key, %opt): swap the answer for matching requests.  A request matches
# $key when $key equals, in this order of precedence:
#   1. the request's "path?query" exactly as received (or its path, if it had no query);
#   2. the route's canonical form of the request:
#        tcb:       /{sgx,tdx}/certification/vN/tcb?fmspc=<lower>[&tcbEvaluationDataNumber=<N>][&update=early]
#        identity:  /.../qe/identity[?tcbEvaluationDataNumber=<N>][&update=early]   ('?' if first)
#                   (update=standard is the default and is dropped)
#        pckcrl:    /sgx/certification/vN/pckcrl?ca=<processor|platform>&encoding=<der|pem>
#                   (no encoding = pem)
#        vcek:      /vcek/v1/<Product>/<lower hwid>?blSPL=&teeSPL=&snpSPL=&ucodeSPL=
#        pckcerts:  /sgx/certification/vN/pckcerts?encrypted_ppid=<lower>&pceid=<lower>
#                   (Turin: ?fmcSPL=..&blSPL=.. ; unpadded decimals, omitted = 0)
#        others:    the path
#   3. the request's path alone (so serve('/sgx/certification/v4/qe/identity', ...)
#      catches every query), except for requests the route rejects with 400.
# Options: file => body file (absolute, relative to cwd, or relative to the data
# dir); body => string (written to a file in the state dir); chain => PEM file
# for the route's issuer-chain header (default: <file stem>.issuer_chain.pem
# next to the file if present, else the route's own fixture chain);
# chain_header => name (for paths the emulator has no route for);
# content_type => (default from the file name: .json, .pem, *crl*.der, .der);
# status => (default 200); headers => { Name => value, Name => undef (remove) };
# pckset => { fmspc => ..., ca => processor|platform }: file is a fixture
# PCK certificate set (rust-sgx .certs), answered as PCS renders pckcerts.
# A served file works even where no fixture exists (unknown fmspc, pckcert, ...).

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno qw(EINTR);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our $EMULATOR = abs_path(dirname(abs_path(__FILE__)) . '/../origin/emulator.pl');
my $JSON = JSON::PP->new->canonical->utf8;

sub start {
    my ($class, %a) = @_;
    my $pki = $a{pki} or croak 'ThimOrigin->start: pki required';
    my $data = $a{data} or croak 'ThimOrigin->start: data required';
    my $dir = $a{dir} or croak 'ThimOrigin->start: dir required';
    -d $data or croak "ThimOrigin->start: no data dir $data";
    -d $dir or croak "ThimOrigin->start: no dir $dir";
    $data = abs_path($data);
    my $state = tempdir('origin-XXXXXX', DIR => $dir);
    $state = abs_path($state);
    my $log = "$state/emulator.log";

    my @cmd = ($^X, $EMULATOR,
               '--port', $a{port} // 0, '--ctl-port', $a{ctl_port} // 0,
               '--cert', $pki->{cert}, '--key', $pki->{key},
               '--data', $data, '--state', $state, '--parent-pid', $$);
    pipe(my $r, my $w) or croak "pipe: $!";
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        close $r;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w) or POSIX::_exit(126);
        if (!$ENV{THIM_ORIGIN_STDERR}) { open(STDERR, '>>', $log) or POSIX::_exit(126) }
        # the Intel API key pckcerts demands: the environment, not argv
        $ENV{THIM_ORIGIN_API_KEY} = $a{api_key} if defined $a{api_key};
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    close $w;

    my $line = '';
    my $deadline = time + ($a{timeout} // 30);
    while ($line !~ /\n/ && time < $deadline) {
        my $rin = '';
        vec($rin, fileno($r), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 0.2);
        next if $n < 0 && $! == EINTR;
        next unless $n > 0;
        my $got = sysread($r, $line, 4096, length $line);
        last unless $got;
    }
    close $r;
    my $self = bless { pid => $pid, state => $state, log => $log, data => $data, owner => $$,
                       pki => $pki, nserve => 0 }, $class;
    unless ($line =~ /^ready (\d+) (\d+)$/m) {
        $self->stop;
        my $l = '';
        if (open my $h, '<', $log) { local $/; $l = <$h> // '' }
        croak "ThimOrigin: emulator did not become ready (got '$line'); log:\n$l";
    }
    @$self{qw(port ctl_port)} = ($1, $2);
    return $self;
}

sub port     { $_[0]{port} }
sub ctl_port { $_[0]{ctl_port} }
sub pid      { $_[0]{pid} }
sub url      { "https://127.0.0.1:$_[0]{port}" }
sub log_file { $_[0]{log} }
sub state_dir { $_[0]{state} }
sub data_dir { $_[0]{data} }

sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 0 if waitpid($self->{pid}, WNOHANG) == $self->{pid};
    return pid_alive($self->{pid});
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return if ($self->{owner} // 0) != $$;    # a forked copy must not stop it
    kill 'TERM', $pid;
    my $reaped = 0;
    my $until = time + 5;
    while (time < $until) {
        my $k = waitpid($pid, WNOHANG);
        if ($k == $pid || $k < 0) { $reaped = 1; last }
        sleep 0.02;
    }
    unless ($reaped) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    # the emulator leads its own process group: sweep anything left in it
    $until = time + 2;
    while (group_alive($pid) && time < $until) { sleep 0.02 }
    kill 'KILL', -$pid if group_alive($pid);
    return 1;
}

# Process state letter from /proc (Linux), undef if no such process.
sub _proc_state {
    my ($pid) = @_;
    open(my $h, '<', "/proc/$pid/stat") or return undef;
    my $st = <$h> // '';
    close $h;
    return $st =~ /\)\s+(\S)\s+\d+\s+(\d+)/ ? ($1, $2) : undef;
}

# ThimOrigin::pid_alive($pid): exists and is not a zombie (an orphan's zombie
# may linger until init reaps it).
sub pid_alive {
    my ($pid) = @_;
    return 0 unless kill(0, $pid);
    return 1 unless -d '/proc/self';
    my ($st) = _proc_state($pid);
    return defined $st && $st ne 'Z' ? 1 : 0;
}

# ThimOrigin::group_alive($pgid): some non-zombie process is in that group.
sub group_alive {
    my ($pgid) = @_;
    return 0 unless kill(0, -$pgid);
    return 1 unless -d '/proc/self';
    opendir(my $d, '/proc') or return 1;
    for my $p (grep { /^\d+$/ } readdir $d) {
        my ($st, $g) = _proc_state($p);
        return 1 if defined $st && $st ne 'Z' && $g == $pgid;
    }
    return 0;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop;
}

# ---- control channel (plain HTTP on ctl_port) ------------------------------

sub _ctl {
    my ($self, $method, $path, $data) = @_;
    croak 'ThimOrigin: emulator not running' unless $self->{ctl_port};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{ctl_port},
                                  Proto => 'tcp', Timeout => 10)
        or croak "ThimOrigin: cannot connect to control port $self->{ctl_port}: $@";
    my $body = defined $data ? $JSON->encode($data) : '';
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        . ($method eq 'POST' ? "Content-Type: application/json\r\n" : '')
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    _write_all($s, $req) or croak "ThimOrigin: control write failed: $!";
    my $resp = '';
    my $deadline = time + 30;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 0.5);
        next if $n < 0 && $! == EINTR;
        next unless $n > 0;
        my $got = sysread($s, $resp, 65536, length $resp);
        last unless $got;
    }
    close $s;
    my ($head, $rb) = split /\r\n\r\n/, $resp, 2;
    croak "ThimOrigin: bad control response to $method $path: '$resp'"
        unless defined $head && $head =~ m{^HTTP/1\.\d (\d+)};
    my $st = $1;
    my $out = eval { $JSON->decode($rb) };
    croak "ThimOrigin: control $method $path -> $st: " . ($out && ref $out eq 'HASH' ? $out->{error} // '' : $rb // '')
        if $st != 200;
    return $out;
}

sub ping   { $_[0]->_ctl(GET => '/ping') }
sub counts { $_[0]->_ctl(GET => '/counts')->{counts} }
sub total  { $_[0]->_ctl(GET => '/counts')->{total} }

sub count {
    my ($self, $what) = @_;
    my $c = $self->counts;
    return $c->{$what} // 0 if index($what, '?') >= 0;
    my $n = 0;
    for my $k (keys %$c) {
        my ($p) = split /\?/, $k, 2;
        $n += $c->{$k} if $p eq $what;
    }
    return $n;
}

sub reset { $_[0]->_ctl(POST => '/reset'); 1 }

sub requests {
    my ($self, $last) = @_;
    return $self->_ctl(GET => '/requests' . (defined $last ? "?last=$last" : ''))->{requests};
}

my %FAULT_OPT = map { $_ => 1 } qw(status retry_after latency truncate corrupt resign drop times);

sub fault {
    my ($self, $prefix, %opt) = @_;
    croak 'ThimOrigin->fault: path prefix required' unless defined $prefix && length $prefix;
    for (keys %opt) { croak "ThimOrigin->fault: unknown option '$_'" unless $FAULT_OPT{$_} }
    croak 'ThimOrigin->fault: no fault given' unless grep { $_ ne 'times' && $_ ne 'retry_after' } keys %opt;
    for (qw(truncate corrupt resign drop)) { $opt{$_} = $opt{$_} ? 1 : 0 if exists $opt{$_} }
    $self->_ctl(POST => '/fault', { prefix => $prefix, %opt });
    return 1;
}

sub faults       { $_[0]->_ctl(GET => '/faults') }
sub clear_faults { $_[0]->_ctl(POST => '/clear_faults'); 1 }

my %SERVE_OPT = map { $_ => 1 } qw(file body chain chain_header content_type status headers pckset);

sub _resolve {
    my ($f) = @_;
    return $f if !defined $f || File::Spec->file_name_is_absolute($f);
    return abs_path($f) if -e $f;
    return $f;    # relative to the data dir, resolved by the emulator
}

sub serve {
    my ($self, $key, %opt) = @_;
    croak 'ThimOrigin->serve: key required' unless defined $key && length $key;
    for (keys %opt) { croak "ThimOrigin->serve: unknown option '$_'" unless $SERVE_OPT{$_} }
    if (exists $opt{body}) {
        my $f = "$self->{state}/serve-" . ++$self->{nserve} . '.bin';
        open(my $h, '>:raw', $f) or croak "$f: $!";
        print $h delete $opt{body};
        close $h;
        $opt{file} = $f;
    }
    $opt{file} = _resolve($opt{file}) if defined $opt{file};
    $opt{chain} = _resolve($opt{chain}) if defined $opt{chain};
    $self->_ctl(POST => '/serve', { key => $key, %opt });
    return 1;
}

sub unserve      { $_[0]->_ctl(POST => '/unserve', { key => $_[1] }); 1 }

# the Ocp-Apim-Subscription-Key that pckcert(s) want, and the requests
# that carried one (any value)
use constant DEFAULT_API_KEY => '0123456789abcdef0123456789abcdef';
sub api_key { $_[0]->_ctl(POST => '/api_key', { key => $_[1] }); 1 }
sub keyed   { $_[0]->_ctl(GET => '/keyed')->{keyed} }
sub clear_serves { $_[0]->_ctl(POST => '/clear_serves'); 1 }
sub serves       { $_[0]->_ctl(GET => '/serves') }

# ---- small HTTPS client for tests -----------------------------------------

# $o->connect: a TLS connection to the emulator, verifying the test CA.
sub connect {
    my ($self, %a) = @_;
    my $s = IO::Socket::SSL->new(
        PeerHost => '127.0.0.1', PeerPort => $self->{port}, Timeout => 10,
        SSL_verify_mode => SSL_VERIFY_PEER, SSL_ca_file => $self->{pki}{ca},
        SSL_verifycn_scheme => 'http', SSL_verifycn_name => '127.0.0.1', %a)
        or croak "ThimOrigin->connect: $SSL_ERROR";
    return $s;
}

# $o->get($target, %headers): one request on a fresh connection.
sub get {
    my ($self, $target, %h) = @_;
    my $s = $self->connect;
    my $r = request($s, 'GET', $target, Connection => 'close', %h);
    close $s;
    return $r;
}

sub _write_all {
    my ($s, $d) = @_;
    my $off = 0;
    while ($off < length $d) {
        my $n = syswrite($s, $d, length($d) - $off, $off);
        if (!defined $n) { next if $! == EINTR; return 0 }
        $off += $n;
    }
    return 1;
}

# ThimOrigin::request($sock, $method, $target, %headers) on an open connection.
# Returns { status, reason, headers => { lc name => value }, head, body,
# closed => server closed the connection after this response } or
# { error => '...' } when the connection ends before a complete response.
sub request {
    my ($s, $method, $target, %h) = @_;
    my $req = "$method $target HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    _write_all($s, $req) or return { error => "write: $!" };
    my $buf = ${*$s}{thim_buf} // '';
    my $eof = 0;
    my $more = sub {
        my $n = sysread($s, $buf, 65536, length $buf);
        $eof = 1 unless $n;
        return $n;
    };
    while ($buf !~ /\r\n\r\n/) { $more->() or return { error => 'connection closed before headers', raw => $buf } }
    my $i = index($buf, "\r\n\r\n");
    my $head = substr($buf, 0, $i);
    substr($buf, 0, $i + 4) = '';
    my ($sl, @lines) = split /\r\n/, $head;
    my ($st, $reason) = $sl =~ m{^HTTP/1\.\d (\d{3}) ?(.*)$} or return { error => "bad status line '$sl'" };
    my %rh;
    for (@lines) { $rh{ lc $1 } = $2 if /^([^:]+):\s*(.*?)\s*$/ }
    my $body;
    if ($method eq 'HEAD' || $st == 204 || $st == 304) {
        $body = '';
    } elsif (defined $rh{'content-length'}) {
        my $cl = $rh{'content-length'};
        while (length $buf < $cl) { $more->() or return { error => 'connection closed in body', status => $st, headers => \%rh, body => $buf } }
        $body = substr($buf, 0, $cl);
        substr($buf, 0, $cl) = '';
    } else {
        1 while $more->();
        ($body, $buf) = ($buf, '');
    }
    ${*$s}{thim_buf} = $buf;
    my $closed = $eof || (lc($rh{connection} // '') eq 'close');
    return { status => $st, reason => $reason, headers => \%rh, head => $head, body => $body, closed => $closed };
}

sub pct_decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

1;
