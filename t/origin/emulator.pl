#!/usr/bin/perl
# Test origin emulator for ngx_thim: one process on 127.0.0.1 answering, over
# HTTPS, as Intel PCS (v3/v4), the Intel SGX root CA CRL location
# (certificates.trustedservices.intel.com) and AMD KDS, from the fixture files
# in --data (t/data).  A second, plain-HTTP listener (--ctl-port) lets tests
# read request counts and inject faults / swapped bodies; see t/lib/ThimOrigin.pm
# for the client and the CONTROL API section below.
#
#   perl t/origin/emulator.pl --port N --cert server.pem --key server.key \
#        --data t/data --state DIR [--ctl-port M] [--parent-pid P]
#
# N and M may be 0 (kernel-chosen).  Once both listeners are up, the only
# line ever written to stdout is "ready <port> <ctlport>".  Logs go to stderr.
# One forked child per connection; shared state (counts, faults, swaps, keys)
# lives in files under --state, guarded by flock.  The emulator makes itself a
# process-group leader; it exits on SIGTERM/SIGINT, when --parent-pid is gone
# (polled every 0.5 s), and takes its connection children with it.
#
# Only Perl core modules plus IO::Socket::SSL / Net::SSLeay and the openssl CLI.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Errno qw(EINTR EAGAIN ESRCH);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use File::Path qw(make_path);
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(time sleep);

my %O = ('ctl-port' => 0, 'idle-timeout' => 300);
GetOptions(\%O, 'port=i', 'cert=s', 'key=s', 'data=s', 'state=s',
           'ctl-port=i', 'parent-pid=i', 'idle-timeout=i', 'help')
    or usage();
usage() if $O{help};
for (qw(port cert key data state)) { usage("--$_ is required") unless defined $O{$_} }

sub usage {
    print STDERR "$_[0]\n" if @_;
    print STDERR "usage: $0 --port N --cert PEM --key PEM --data DIR --state DIR"
        . " [--ctl-port M] [--parent-pid P] [--idle-timeout S]\n";
    exit 2;
}

my $DATA  = $O{data};
my $STATE = $O{state};
$DATA =~ s{/+$}{};
make_path("$STATE/tmp", "$STATE/cache", "$STATE/keys");

my $JSON = JSON::PP->new->canonical->utf8;
my $MASTER = $$;
my $ORIG_PPID = getppid();
my $PARENT = $O{'parent-pid'};

$| = 1;
select((select(STDERR), $| = 1)[0]);

sub logmsg {
    my $t = time;
    printf STDERR "[%s.%03d] emulator[%d] %s\n",
        strftime('%H:%M:%S', localtime $t), ($t - int $t) * 1000, $$, "@_";
}

# ---------------------------------------------------------------------------
# Fixture index
# ---------------------------------------------------------------------------

my %IDX;    # built once in the master, inherited by children

sub ls { my ($d) = @_; opendir(my $h, $d) or return (); my @f = sort grep { !/^\./ } readdir $h; closedir $h; @f }

sub chain_of {
    my ($f) = @_;
    (my $c = $f) =~ s/\.(json|der)$/.issuer_chain.pem/ or return undef;
    return -f $c ? $c : undef;
}

sub build_index {
    my $pcs = "$DATA/intel/pcs";
    # route key => directories holding its bodies.  The eval-series directory
    # (one FMSPC at eval numbers 17/18/19, QE identity 17/18/19, the signed
    # eval-number list) is SGX PCS v4 data.
    my %dirs = ('sgx-v4' => ["$pcs/sgx", "$pcs/eval-series"],
                'tdx-v4' => ["$pcs/tdx"],
                'sgx-v3' => ["$pcs/v3"]);
    for my $route (sort keys %dirs) {
        for my $dir (@{ $dirs{$route} }) {
            my $series = $dir =~ m{/eval-series$} ? 1 : 0;
            for my $f (ls($dir)) {
                my $path = "$dir/$f";
                if ($f =~ /^tcb_([0-9a-f]{12})_eval(\d+)_(\d{4}-\d\d-\d\d)\.json$/) {
                    push @{ $IDX{tcb}{$route}{$1} },
                        { file => $path, eval => $2 + 0, date => $3, series => $series, chain => chain_of($path) };
                } elsif ($f =~ /^(qe|qve|qae)_identity_eval(\d+)_(\d{4}-\d\d-\d\d)\.json$/) {
                    push @{ $IDX{id}{$route}{$1} },
                        { file => $path, eval => $2 + 0, date => $3, series => $series, chain => chain_of($path) };
                } elsif ($f =~ /^tcbevaluationdatanumbers_(sgx|tdx)_(\d{4}-\d\d-\d\d)\.json$/) {
                    push @{ $IDX{evn}{"$1-v4"} },
                        { file => $path, eval => 0, date => $2, series => $series, chain => chain_of($path) };
                }
            }
        }
    }
    # v3 and v4 enclave identities have the same format (version 2), so the
    # v3 identity routes answer from the SGX identity files.
    $IDX{id}{'sgx-v3'} = $IDX{id}{'sgx-v4'};

    for my $f (ls("$pcs/pckcrl")) {
        next unless $f =~ /^pckcrl_(processor|platform)_(\d{4}-\d\d-\d\d)\.der$/;
        my $path = "$pcs/pckcrl/$f";
        push @{ $IDX{pckcrl}{$1} }, { file => $path, eval => 0, date => $2, series => 0, chain => chain_of($path) };
    }
    for my $f (ls("$DATA/intel/root")) {
        next unless $f =~ /^IntelSGXRootCA_crl_(\d{4}-\d\d-\d\d)\.der$/;
        push @{ $IDX{rootcrl} }, { file => "$DATA/intel/root/$f", eval => 0, date => $1, series => 0 };
    }
    for my $f (ls("$DATA/intel/pckcerts")) {
        my $path = "$DATA/intel/pckcerts/$f";
        if ($f =~ /^pckcerts_([0-9a-f]{12})_(processor|platform)_(\d{4}-\d\d-\d\d)_qeid-([0-9a-f]{32})\.json$/) {
            push @{ $IDX{pckset}{$4} }, { file => $path, fmspc => $1, ca => $2, date => $3, eval => 0, series => 0 };
        } elsif ($f eq 'platform_manifest.csv') {
            # multi-package platforms: manifest -> the set of a QE ID
            for my $row (split /\r?\n/, slurp($path) // '') {
                my ($man, $pceid, $qeid) = split /,/, $row;
                next unless defined $qeid && $man =~ /^(?:[0-9a-f]{2})+$/i;
                $IDX{manifest}{lc $man} //= { pceid => lc $pceid, qeid => lc $qeid };
            }
        } elsif ($f =~ /\.csv$/) {
            for my $row (split /\r?\n/, slurp($path) // '') {
                my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = split /,/, $row;
                next unless defined $qeid && $ppid =~ /^[0-9a-f]{768}$/i;
                $IDX{pckid}{lc $ppid} //= { pceid => lc $pceid, qeid => lc $qeid };
            }
        }
    }
    for my $p (qw(milan genoa turin)) {
        for my $f (ls("$DATA/amd/$p/vcek")) {
            next unless $f =~ /^([0-9a-f]+)_bl(\d+)_tee(\d+)_snp(\d+)_ucode(\d+)(?:_fmc(\d+))?\.der$/;
            push @{ $IDX{vcek}{$p}{$1} }, { file => "$DATA/amd/$p/vcek/$f",
                bl => $2 + 0, tee => $3 + 0, snp => $4 + 0, ucode => $5 + 0, fmc => ($6 // 0) + 0 };
        }
    }
}

# Default: highest eval number, then newest date.  With an explicit eval
# number: the files of that number, eval-series first, then newest date.
sub pick {
    my ($list, $eval) = @_;
    return undef unless $list && @$list;
    my @c = @$list;
    if (defined $eval) {
        @c = grep { $_->{eval} == $eval } @c;
        @c = sort { $b->{series} <=> $a->{series} || $b->{date} cmp $a->{date} } @c;
    } else {
        @c = sort { $b->{eval} <=> $a->{eval} || $b->{date} cmp $a->{date} || $a->{series} <=> $b->{series} } @c;
    }
    return $c[0];
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

sub slurp {
    my ($f) = @_;
    open(my $h, '<:raw', $f) or return undef;
    local $/;
    my $d = <$h>;
    close $h;
    return $d // '';
}

sub spew {
    my ($f, $d) = @_;
    my $tmp = "$f.tmp.$$";
    open(my $h, '>:raw', $tmp) or die "$tmp: $!";
    print $h $d;
    close $h or die "$tmp: $!";
    rename $tmp, $f or die "rename $tmp: $!";
}

# Intel's header encoding: every byte outside RFC 3986 unreserved -> %XX (upper).
sub pct_encode {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub pct_decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# First occurrence of a key wins; %XX decoded, '+' left alone.
sub parse_query {
    my ($qs) = @_;
    my %q;
    return \%q unless defined $qs && length $qs;
    for my $pair (split /&/, $qs) {
        next unless length $pair;
        my ($k, $v) = split /=/, $pair, 2;
        $k = pct_decode($k);
        $q{$k} = pct_decode($v // '') unless exists $q{$k};
    }
    return \%q;
}

sub pem_encode {
    my ($label, $der) = @_;
    my $b = encode_base64($der, '');
    return "-----BEGIN $label-----\n" . join("\n", unpack('(A64)*', $b)) . "\n-----END $label-----\n";
}

# ---------------------------------------------------------------------------
# Shared state (files under --state, one flock)
# ---------------------------------------------------------------------------

sub with_lock {
    my ($mode, $code) = @_;
    open(my $l, '>>', "$STATE/lock") or die "$STATE/lock: $!";
    flock($l, $mode) or die "flock: $!";
    my @r = eval { $code->() };
    my $err = $@;
    flock($l, LOCK_UN);
    close $l;
    die $err if $err;
    return wantarray ? @r : $r[0];
}

sub read_json {
    my ($name, $default) = @_;
    my $d = slurp("$STATE/$name");
    return $default unless defined $d && length $d;
    return $JSON->decode($d);
}

sub write_json {
    my ($name, $v) = @_;
    spew("$STATE/$name", $JSON->encode($v));
}

sub fault_matches {
    my ($f, $path, $raw) = @_;
    my $p = $f->{prefix} // '';
    return index($p, '?') >= 0 ? index($raw, $p) == 0 : index($path, $p) == 0;
}

# Count the request and choose (and consume) the fault that applies to it.
# Longest matching prefix wins; on a tie, the most recently added one.
sub account_request {
    my ($path, $raw) = @_;
    return with_lock(LOCK_EX, sub {
        sysopen(my $h, "$STATE/requests.log", O_WRONLY | O_APPEND | O_CREAT) or die "requests.log: $!";
        syswrite($h, "$raw\n");
        close $h;
        my $faults = read_json('faults.json', []);
        my ($best, $bi);
        for my $i (0 .. $#$faults) {
            my $f = $faults->[$i];
            next unless fault_matches($f, $path, $raw);
            if (!$best || length($f->{prefix}) >= length($best->{prefix})) { ($best, $bi) = ($f, $i) }
        }
        return undef unless $best;
        if (defined $best->{times}) {
            $best->{times}--;
            splice(@$faults, $bi, 1) if $best->{times} <= 0;
            write_json('faults.json', $faults);
        }
        return $best;
    });
}

# What each request carried: its target and headers (lower-case names,
# repeated ones joined with ", "), and when it arrived (epoch seconds,
# fractional), for GET /requests.
sub record_headers {
    my ($req) = @_;
    my $line = $JSON->encode({ target => $req->{target}, method => $req->{method},
                               headers => $req->{headers}, time => time() });
    with_lock(LOCK_EX, sub {
        sysopen(my $h, "$STATE/headers.log", O_WRONLY | O_APPEND | O_CREAT) or die "headers.log: $!";
        syswrite($h, "$line\n");
        close $h;
    });
}

sub lookup_served {
    my ($serves, @keys) = @_;
    for my $k (@keys) {
        next unless defined $k;
        return ($serves->{$k}, $k) if $serves->{$k};
    }
    return;
}

# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------

my %CT = (json => 'application/json', crl => 'application/pkix-crl',
          cert => 'application/pkix-cert', pem => 'application/x-pem-file');

sub err {
    my ($status, $msg, %x) = @_;
    my @h;
    push @h, ['Error-Code', $x{code} // 'InvalidRequestSyntax'], ['Error-Message', $msg] if $x{intel} && $status == 400;
    return { status => $status, headers => \@h, body => '', reason => $msg, canon => $x{canon},
             chain_header => $x{chain_header} };
}

sub intel_chain_header {
    my ($ver, $what) = @_;
    return $ver eq 'v3' ? 'SGX-TCB-Info-Issuer-Chain' : 'TCB-Info-Issuer-Chain' if $what eq 'tcb';
    return 'SGX-Enclave-Identity-Issuer-Chain' if $what =~ /identity$/;
    return 'SGX-PCK-CRL-Issuer-Chain' if $what eq 'pckcrl';
    return 'TCB-Evaluation-Data-Numbers-Issuer-Chain' if $what eq 'tcbevaluationdatanumbers';
    return undef;
}

sub ok_file {
    my ($ent, %x) = @_;
    return { status => 200, file => $ent->{file}, chain => $ent->{chain}, %x };
}

# Returns a response descriptor:
#   { status, file|body, ctype, chain (file), chain_header, canon, headers => [[n,v]...], reason }
sub route {
    my ($path, $qs, $hdrs, $req) = @_;
    my $q = parse_query($qs);

    # ---- Intel PCS ---------------------------------------------------------
    if ($path =~ m{^/(sgx|tdx)/certification/(v[34])/(tcb|qe/identity|qve/identity|qae/identity|pckcrl|tcbevaluationdatanumbers)$}) {
        my ($tee, $ver, $what) = ($1, $2, $3);
        my $rk = "$tee-$ver";
        my $ch = intel_chain_header($ver, $what);
        return err(404, 'no such route') if $tee eq 'tdx' && $ver eq 'v3';

        if ($what eq 'tcb' || $what =~ /identity$/) {
            my $canon;
            my $fmspc;
            if ($what eq 'tcb') {
                $fmspc = $q->{fmspc};
                return err(400, 'Missing fmspc parameter', intel => 1) unless defined $fmspc;
                return err(400, 'Invalid fmspc parameter', intel => 1) unless $fmspc =~ /^[0-9A-Fa-f]{12}$/;
                $fmspc = lc $fmspc;
                $canon = "$path?fmspc=$fmspc";
            }
            my ($upd, $ev) = ($q->{update}, $q->{tcbEvaluationDataNumber});
            return err(400, 'update and tcbEvaluationDataNumber are mutually exclusive', intel => 1)
                if defined $upd && defined $ev;
            return err(400, 'Invalid update parameter', intel => 1)
                if defined $upd && $upd !~ /^(early|standard)$/;
            return err(400, 'Invalid tcbEvaluationDataNumber parameter', intel => 1)
                if defined $ev && $ev !~ /^\d{1,10}$/;
            my @extra;
            push @extra, 'tcbEvaluationDataNumber=' . ($ev + 0) if defined $ev;
            push @extra, 'update=early' if defined $upd && $upd eq 'early';
            if (defined $canon) { $canon .= join('', map { "&$_" } @extra) }
            else { $canon = $path . (@extra ? '?' . join('&', @extra) : '') }

            my $list;
            if ($what eq 'tcb') { $list = $IDX{tcb}{$rk}{$fmspc} }
            else { (my $w = $what) =~ s{/identity$}{}; $list = $IDX{id}{$rk}{$w} }
            my $ent = pick($list, defined $ev ? $ev + 0 : undef);
            return err(404, 'no fixture', canon => $canon, chain_header => $ch) unless $ent;
            return ok_file($ent, ctype => $CT{json}, chain_header => $ch, canon => $canon);
        }

        if ($what eq 'pckcrl') {
            return err(404, 'no such route') unless $tee eq 'sgx';
            my $ca = $q->{ca};
            return err(400, 'Missing ca parameter', intel => 1) unless defined $ca;
            $ca = lc $ca;
            return err(400, 'Invalid ca parameter', intel => 1) unless $ca =~ /^(processor|platform)$/;
            my $enc = defined $q->{encoding} ? lc $q->{encoding} : 'pem';
            return err(400, 'Invalid encoding parameter', intel => 1) unless $enc =~ /^(der|pem)$/;
            my $canon = "$path?ca=$ca&encoding=$enc";
            my $ent = pick($IDX{pckcrl}{$ca});
            return err(404, 'no fixture', canon => $canon, chain_header => $ch) unless $ent;
            if ($enc eq 'der') {
                return ok_file($ent, ctype => $CT{crl}, chain_header => $ch, canon => $canon);
            }
            my $der = slurp($ent->{file});
            return { status => 200, body => pem_encode('X509 CRL', $der), file => $ent->{file},
                     chain => $ent->{chain}, ctype => $CT{pem}, chain_header => $ch, canon => $canon };
        }

        if ($what eq 'tcbevaluationdatanumbers') {
            return err(404, 'no such route') unless $ver eq 'v4';
            my $ent = pick($IDX{evn}{$rk});
            return err(404, 'no fixture', canon => $path, chain_header => $ch) unless $ent;
            return ok_file($ent, ctype => $CT{json}, chain_header => $ch, canon => $path);
        }
    }

    if ($path =~ m{^/sgx/certification/(v[34])/(pckcerts|pckcert)$}) {
        return pck_post_route($1, $2, $req) if $req && $req->{method} eq 'POST';
        return pck_route($1, $2, $q);
    }

    # ---- Intel root CA CRL (certificates.trustedservices.intel.com) -------
    if ($path eq '/IntelSGXRootCA.der' || $path eq '/IntelSGXRootCA.crl') {
        my $ent = pick($IDX{rootcrl});
        return err(404, 'no fixture', canon => $path) unless $ent;
        return ok_file($ent, ctype => $CT{crl}, canon => $path);
    }

    # ---- AMD KDS -----------------------------------------------------------
    if ($path =~ m{^/(vcek|vlek)/v1/([^/]+)/([^/]+)$}) {
        my ($kind, $prod, $leaf) = ($1, $2, $3);
        my %pd = (Milan => 'milan', Genoa => 'genoa', Turin => 'turin');
        my $pdir = $pd{$prod} or return err(404, 'unknown product');
        my $dir = "$DATA/amd/$pdir";
        if ($leaf eq 'cert_chain') {
            my $f = $kind eq 'vcek' ? "$dir/cert_chain.pem" : "$dir/vlek_cert_chain.pem";
            return err(404, 'no fixture', canon => $path) unless -f $f;
            return { status => 200, file => $f, ctype => $CT{pem}, canon => $path };
        }
        if ($leaf eq 'crl') {
            return err(404, 'no fixture', canon => $path) unless -f "$dir/crl.der";
            return { status => 200, file => "$dir/crl.der", ctype => $CT{crl}, canon => $path };
        }
        return err(404, 'no such route') unless $kind eq 'vcek';
        my $hwid = $leaf;
        my $hexlen = $pdir eq 'turin' ? 16 : 128;
        return err(404, 'bad hwid') unless $hwid =~ /^[0-9A-Fa-f]{$hexlen}$/;
        $hwid = lc $hwid;
        my %spl;
        for my $k (qw(fmc bl tee snp ucode)) {
            my $v = $q->{"${k}SPL"};
            if (defined $v) {
                return err(400, "bad ${k}SPL") unless $v =~ /^\d{1,3}$/ && $v <= 255;
                $spl{$k} = $v + 0;
            } else {
                $spl{$k} = 0;
            }
        }
        my $canon = "/vcek/v1/$prod/$hwid?"
            . ($pdir eq 'turin' ? "fmcSPL=$spl{fmc}&" : '')
            . "blSPL=$spl{bl}&teeSPL=$spl{tee}&snpSPL=$spl{snp}&ucodeSPL=$spl{ucode}";
        for my $e (@{ $IDX{vcek}{$pdir}{$hwid} || [] }) {
            next if grep { $e->{$_} != $spl{$_} } qw(bl tee snp ucode fmc);
            return { status => 200, file => $e->{file}, ctype => $CT{cert}, canon => $canon };
        }
        return err(404, 'no such VCEK', canon => $canon);
    }

    return err(404, 'no such route');
}

# ---------------------------------------------------------------------------
# Intel PCS PCK certificates: pckcerts (the platform's whole set) and pckcert
# (PCS's own selection for a raw TCB).  Sets are the fixtures' rust-sgx
# .certs files, found through the PCKID CSVs' encrypted PPID -> QE ID; they
# are rendered as PCS renders them (v4: sgxtcbcomponents, v3: flat SVNs;
# "cert" percent-encoded PEM).
# ---------------------------------------------------------------------------

my $DEFAULT_API_KEY = '0123456789abcdef0123456789abcdef';

sub pck_tcb_of {
    my ($t) = @_;
    my @c = $t->{sgxtcbcomponents}
        ? map { $_->{svn} } @{ $t->{sgxtcbcomponents} }
        : map { $t->{sprintf 'sgxtcbcomp%02dsvn', $_} } 1 .. 16;
    return { comp => \@c, pcesvn => $t->{pcesvn} };
}

sub pck_tcb_json {
    my ($tcb, $ver) = @_;
    my @c = @{ $tcb->{comp} };
    return '{' . join(',', map { sprintf '"sgxtcbcomp%02dsvn":%d', $_ + 1, $c[$_] } 0 .. 15)
        . ",\"pcesvn\":$tcb->{pcesvn}}" if $ver eq 'v3';
    return '{"sgxtcbcomponents":[' . join(',', map { "{\"svn\":$_}" } @c) . "],\"pcesvn\":$tcb->{pcesvn}}";
}

sub pck_le {
    my ($a, $b) = @_;
    for my $i (0 .. 15) { return 0 if $a->{comp}[$i] > $b->{comp}[$i] }
    return $a->{pcesvn} <= $b->{pcesvn};
}

# The set a request means: a serve() override ({pckset => file}) or the CSV.
sub pck_set_for {
    my ($ppid, $pceid) = @_;
    my $id = $IDX{pckid}{lc $ppid} or return undef;
    return undef unless $id->{pceid} eq lc $pceid;
    my @sets = sort { $b->{date} cmp $a->{date} } @{ $IDX{pckset}{ $id->{qeid} } || [] };
    return $sets[0];
}

sub pck_load {
    my ($ent) = @_;
    my $d = $JSON->decode(slurp($ent->{file}));
    my @list = map { { tcb => pck_tcb_of($_->{tcb}), tcbm => $_->{tcbm}, cert => $_->{cert} } } @{ $d->{pck_data} };
    # PCS's header is the PEM chain with a newline after each certificate
    return (\@list, join('', map { /\n\z/ ? $_ : "$_\n" } @{ $d->{ca_chain} }));
}

sub pck_headers {
    my ($ent, $chain) = @_;
    return (['SGX-PCK-Certificate-Issuer-Chain', pct_encode($chain)], ['SGX-FMSPC', $ent->{fmspc}],
            ['SGX-PCK-Certificate-CA-Type', $ent->{ca}]);
}

sub pck_body {
    my ($ent, $ver) = @_;
    my ($list, $chain) = pck_load($ent);
    my $body = '[' . join(',', map {
        '{"tcb":' . pck_tcb_json($_->{tcb}, $ver) . ",\"tcbm\":\"$_->{tcbm}\",\"cert\":\""
            . ($_->{cert} eq 'Not available' ? 'Not available' : pct_encode($_->{cert})) . '"}'
    } @$list) . ']';
    return ($body, [pck_headers($ent, $chain)]);
}

# PCS's selection, written independently of the module's: the certificates
# whose TCB the raw TCB reaches; of those, the one at the first TCB info
# level it reaches (levels are highest first); ties by higher TCB.
sub pck_select {
    my ($list, $raw, $levels) = @_;
    my ($best, $best_level);
    for my $e (@$list) {
        next if $e->{cert} eq 'Not available' || !pck_le($e->{tcb}, $raw);
        my $level = scalar @$levels;
        for my $i (0 .. $#$levels) { if (pck_le($levels->[$i], $e->{tcb})) { $level = $i; last } }
        my $higher = sub {
            for my $i (0 .. 15) { return $e->{tcb}{comp}[$i] > $best->{tcb}{comp}[$i] if $e->{tcb}{comp}[$i] != $best->{tcb}{comp}[$i] }
            return $e->{tcb}{pcesvn} > $best->{tcb}{pcesvn};
        };
        if (!$best || $level < $best_level || ($level == $best_level && $higher->())) { ($best, $best_level) = ($e, $level) }
    }
    return $best;
}

sub pck_levels {
    my ($ver, $fmspc) = @_;
    my $ent = pick($IDX{tcb}{"sgx-$ver"}{$fmspc});
    return [] unless $ent;
    my $d = $JSON->decode(slurp($ent->{file}));
    return [map { pck_tcb_of($_->{tcb}) } @{ $d->{tcbInfo}{tcbLevels} }];
}

sub pck_route {
    my ($ver, $what, $q) = @_;
    my ($ppid, $pceid) = ($q->{encrypted_ppid}, $q->{pceid});
    return err(400, 'Invalid encrypted_ppid parameter', intel => 1) unless defined $ppid && $ppid =~ /^[0-9A-Fa-f]{768}$/;
    return err(400, 'Invalid pceid parameter', intel => 1) unless defined $pceid && $pceid =~ /^[0-9A-Fa-f]{4}$/;
    my $canon = "/sgx/certification/$ver/$what?encrypted_ppid=" . lc($ppid) . '&pceid=' . lc($pceid);
    my ($cpusvn, $pcesvn) = ($q->{cpusvn}, $q->{pcesvn});
    if ($what eq 'pckcert') {
        return err(400, 'Invalid cpusvn parameter', intel => 1) unless defined $cpusvn && $cpusvn =~ /^[0-9A-Fa-f]{32}$/;
        return err(400, 'Invalid pcesvn parameter', intel => 1) unless defined $pcesvn && $pcesvn =~ /^[0-9A-Fa-f]{4}$/;
        $canon .= '&cpusvn=' . lc($cpusvn) . '&pcesvn=' . lc($pcesvn);
    }
    my $ent = pck_set_for($ppid, $pceid);
    return err(404, 'PCK certificate not found', canon => $canon) unless $ent;
    return { status => 200, pckset => $ent, ver => $ver, canon => $canon } if $what eq 'pckcerts';

    return pck_answer($ent, $ver, $cpusvn, $pcesvn, $canon);
}

# PCS's pckcert answer for a raw TCB from a platform's set
sub pck_answer {
    my ($ent, $ver, $cpusvn, $pcesvn, $canon) = @_;
    my ($list, $chain) = pck_load($ent);
    my $raw = { comp => [map { hex } unpack('(A2)*', $cpusvn)], pcesvn => unpack('v', pack('H4', $pcesvn)) };
    my $best = pck_select($list, $raw, pck_levels($ver, $ent->{fmspc}));
    return err(404, 'no PCK certificate for this TCB', canon => $canon) unless $best;
    return { status => 200, body => $best->{cert}, ctype => $CT{pem}, canon => $canon,
             headers => [pck_headers($ent, $chain), ['SGX-TCBm', $best->{tcbm}]] };
}

# PCS's POST forms for multi-package platforms: a JSON body with
# platformManifest and pceid (pckcert: also cpusvn, pcesvn), the set found
# through platform_manifest.csv.  The canonical form names the manifest by
# its digest: "...?platformManifest=sha256:<hex>&pceid=<lower>".
sub pck_post_route {
    my ($ver, $what, $req) = @_;
    my $ct = $req->{headers}{'content-type'} // '';
    return err(415, 'Content-Type must be application/json')
        unless $ct =~ m{^application/json\s*(?:;|$)}i;
    my $b = eval { JSON::PP->new->decode($req->{body}) };
    return err(400, 'Invalid request body', intel => 1) unless ref $b eq 'HASH';
    my ($man, $pceid) = ($b->{platformManifest}, $b->{pceid});
    return err(400, 'Invalid platformManifest', intel => 1, code => 'InvalidPlatformManifest')
        unless defined $man && !ref $man && $man =~ /^(?:[0-9A-Fa-f]{2})+$/;
    return err(400, 'Invalid pceid parameter', intel => 1)
        unless defined $pceid && !ref $pceid && $pceid =~ /^[0-9A-Fa-f]{4}$/;
    my $path = "/sgx/certification/$ver/$what";
    my $canon = "$path?platformManifest=sha256:" . sha256_hex(lc $man) . '&pceid=' . lc($pceid);
    my $id = $IDX{manifest}{lc $man};
    my @sets = $id && $id->{pceid} eq lc $pceid
        ? sort { $b->{date} cmp $a->{date} } @{ $IDX{pckset}{ $id->{qeid} } || [] } : ();
    return err(400, 'Unknown platform manifest', intel => 1, code => 'PackageNotFound',
               canon => $canon) unless @sets;
    return { status => 200, pckset => $sets[0], ver => $ver, canon => $canon } if $what eq 'pckcerts';
    my ($cpusvn, $pcesvn) = ($b->{cpusvn}, $b->{pcesvn});
    return err(400, 'Invalid cpusvn parameter', intel => 1)
        unless defined $cpusvn && !ref $cpusvn && $cpusvn =~ /^[0-9A-Fa-f]{32}$/;
    return err(400, 'Invalid pcesvn parameter', intel => 1)
        unless defined $pcesvn && !ref $pcesvn && $pcesvn =~ /^[0-9A-Fa-f]{4}$/;
    $canon .= '&cpusvn=' . lc($cpusvn) . '&pcesvn=' . lc($pcesvn);
    return pck_answer($sets[0], $ver, $cpusvn, $pcesvn, $canon);
}

# PCS wants the API key on pckcert(s): 401 without it, as Azure APIM answers.
sub pck_key_refused {
    my ($path, $req) = @_;
    return 0 unless $path =~ m{^/sgx/certification/v[34]/pckcerts?$};
    my $want = with_lock(LOCK_SH, sub { slurp("$STATE/api_key") })
        // $ENV{THIM_ORIGIN_API_KEY} // $DEFAULT_API_KEY;
    my $got = $req->{headers}{'ocp-apim-subscription-key'};
    return !(defined $got && $got eq $want);
}

# Chain-header name for a path whose route is unknown to route() (serve()).
sub chain_header_for_path {
    my ($path) = @_;
    return undef unless $path =~ m{^/(?:sgx|tdx)/certification/(v\d+)/(.*)$};
    my ($ver, $what) = ($1, $2);
    return intel_chain_header($ver, $what) // ($what =~ /^pckcerts?$/ ? 'SGX-PCK-Certificate-Issuer-Chain' : undef);
}

sub ctype_for_file {
    my ($f) = @_;
    return $CT{json} if $f =~ /\.json$/;
    return $CT{pem} if $f =~ /\.pem$/;
    return $CT{crl} if $f =~ /crl[^\/]*\.der$/i;
    return $CT{cert} if $f =~ /\.(der|cer|crt)$/;
    return 'application/octet-stream';
}

# ---------------------------------------------------------------------------
# Faults: corrupt / resign
# ---------------------------------------------------------------------------

# Spans [offset, length] of the values of the top-level keys of a JSON object,
# found with a string/escape-aware scan over the raw bytes.
sub json_top_spans {
    my ($s) = @_;
    my $n = length $s;
    my $i = 0;
    my %span;
    my $ws = sub { $i++ while $i < $n && substr($s, $i, 1) =~ /[ \t\r\n]/ };
    my $str = sub {    # at '"'; moves past the closing quote
        $i++;
        while ($i < $n) {
            my $c = substr($s, $i, 1);
            if ($c eq '\\') { $i += 2; next }
            $i++;
            return if $c eq '"';
        }
    };
    my $value = sub {
        my $c = substr($s, $i, 1);
        if ($c eq '"') { $str->(); return }
        if ($c eq '{' || $c eq '[') {
            my $depth = 0;
            while ($i < $n) {
                $c = substr($s, $i, 1);
                if ($c eq '"') { $str->(); next }
                $i++;
                if ($c eq '{' || $c eq '[') { $depth++ }
                elsif ($c eq '}' || $c eq ']') { return if --$depth == 0 }
            }
            return;
        }
        $i++ while $i < $n && substr($s, $i, 1) !~ /[,}\] \t\r\n]/;
    };
    $ws->();
    return {} unless $i < $n && substr($s, $i, 1) eq '{';
    $i++;
    while ($i < $n) {
        $ws->();
        last if substr($s, $i, 1) ne '"';
        my $ks = $i;
        $str->();
        my $key = substr($s, $ks + 1, $i - $ks - 2);
        $ws->();
        last unless substr($s, $i, 1) eq ':';
        $i++;
        $ws->();
        my $vs = $i;
        $value->();
        $span{$key} = [$vs, $i - $vs];
        $ws->();
        last unless $i < $n && substr($s, $i, 1) eq ',';
        $i++;
    }
    return \%span;
}

my @SIGNED_KEYS = qw(tcbInfo enclaveIdentity tcbEvaluationDataNumbers qeIdentity);

sub signed_span {
    my ($body) = @_;
    my $sp = json_top_spans($body);
    for my $k (@SIGNED_KEYS) { return ($k, $sp->{$k}, $sp) if $sp->{$k} }
    return (undef, undef, $sp);
}

# DER TLV header at $off: (tag, header length, content length)
sub der_tlv {
    my ($s, $off) = @_;
    return () if $off + 2 > length $s;
    my $tag = ord substr($s, $off, 1);
    my $l = ord substr($s, $off + 1, 1);
    return ($tag, 2, $l) if $l < 0x80;
    my $nb = $l & 0x7f;
    my $len = 0;
    $len = $len * 256 + ord(substr($s, $off + 1 + $_, 1)) for 1 .. $nb;
    return ($tag, 2 + $nb, $len);
}

sub der_len {
    my ($n) = @_;
    return chr($n) if $n < 0x80;
    my $b = '';
    while ($n) { $b = chr($n & 0xff) . $b; $n >>= 8 }
    return chr(0x80 | length $b) . $b;
}

# Signed X.509 object (certificate or CRL): (tbs offset, tbs length, alg DER, sig bytes)
sub der_signed_parts {
    my ($der) = @_;
    my ($t, $hl, $len) = der_tlv($der, 0);
    return () unless defined $t && $t == 0x30 && $hl + $len == length $der;
    my $o = $hl;
    my ($t1, $h1, $l1) = der_tlv($der, $o);
    return () unless defined $t1 && $t1 == 0x30;
    my ($tbs_off, $tbs_len) = ($o, $h1 + $l1);
    $o += $h1 + $l1;
    my ($t2, $h2, $l2) = der_tlv($der, $o);
    return () unless defined $t2 && $t2 == 0x30;
    my $alg = substr($der, $o, $h2 + $l2);
    $o += $h2 + $l2;
    my ($t3, $h3, $l3) = der_tlv($der, $o);
    return () unless defined $t3 && $t3 == 0x03 && $o + $h3 + $l3 == length $der;
    return ($tbs_off, $tbs_len, $alg, substr($der, $o + $h3 + 1, $l3 - 1));
}

sub corrupt_der {
    my ($der) = @_;
    my ($off, $len) = der_signed_parts($der);
    ($off, $len) = (0, length $der) unless defined $off;
    my $pos = $off + int($len / 2);
    substr($der, $pos, 1) = chr(ord(substr($der, $pos, 1)) ^ 0x01);
    return $der;
}

sub corrupt_json {
    my ($body) = @_;
    my (undef, $sp) = signed_span($body);
    my ($from, $len) = $sp ? @$sp : (0, length $body);
    my $mid = $from + int($len / 2);
    my $best;
    for my $i ($from .. $from + $len - 1) {
        next unless substr($body, $i, 1) =~ /[0-9]/;
        $best = $i if !defined $best || abs($i - $mid) < abs($best - $mid);
        last if $i > $mid && defined $best && $i - $mid > abs($best - $mid);
    }
    return corrupt_raw($body) unless defined $best;
    my $d = substr($body, $best, 1);
    substr($body, $best, 1) = $d == 9 ? 8 : $d + 1;    # never produces a leading 0
    return $body;
}

sub corrupt_raw {
    my ($b) = @_;
    return $b unless length $b;
    my $pos = int(length($b) / 2);
    substr($b, $pos, 1) = chr(ord(substr($b, $pos, 1)) ^ 0x01);
    return $b;
}

# Apply $code to the DER of the first PEM block, re-encode, keep the rest.
sub on_first_pem {
    my ($body, $code) = @_;
    return undef unless $body =~ /-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----\r?\n?/s;
    my ($label, $b64, $s, $e) = ($1, $2, $-[0], $+[0]);
    my $der = decode_base64($b64);
    my $new = $code->($der);
    return undef unless defined $new;
    my $pem = pem_encode($label, $new);
    my $block = substr($body, $s, $e - $s);
    $pem =~ s/\n/\r\n/g if $block =~ /\r\n/;      # keep the line ends (Turin chains: CRLF)
    $pem =~ s/\r?\n\z// if $block !~ /\n\z/;
    substr($body, $s, $e - $s) = $pem;
    return $body;
}

sub body_kind {
    my ($b) = @_;
    return 'json' if $b =~ /\A\s*\{/;
    return 'pem' if $b =~ /\A\s*-----BEGIN /;
    return 'der' if length $b && ord($b) == 0x30;
    return 'raw';
}

sub corrupt_body {
    my ($b) = @_;
    my $k = body_kind($b);
    return corrupt_json($b) if $k eq 'json';
    return corrupt_der($b) if $k eq 'der';
    return on_first_pem($b, \&corrupt_der) // corrupt_raw($b) if $k eq 'pem';
    return corrupt_raw($b);
}

sub run_cmd {
    my (@cmd) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDOUT, '>', '/dev/null');
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    die "'@cmd' failed (status $?)\n" if $?;
}

# A fresh key of the given kind, generated once per emulator (state dir).
sub fresh_key {
    my ($kind) = @_;    # ec-prime256v1, ec-secp384r1, rsa-NNNN
    my $f = "$STATE/keys/$kind.pem";
    return $f if -s $f;
    open(my $l, '>>', "$STATE/keys/.lock") or die "keys lock: $!";
    flock($l, LOCK_EX);
    unless (-s $f) {
        my $tmp = "$f.$$.tmp";
        if ($kind =~ /^ec-(.+)$/) {
            run_cmd('openssl', 'ecparam', '-name', $1, '-genkey', '-noout', '-out', $tmp);
        } elsif ($kind =~ /^rsa-(\d+)$/) {
            # multi-prime RSA: same modulus size (so the same signature length)
            # at a fraction of the key generation time; nobody needs it secure
            my $primes = $1 >= 4096 ? 4 : $1 >= 1024 ? 3 : 2;
            run_cmd('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA', '-pkeyopt', "rsa_keygen_bits:$1",
                    '-pkeyopt', "rsa_keygen_primes:$primes", '-out', $tmp);
        }
        rename $tmp, $f or die "rename: $!";
        logmsg("generated fresh $kind key for resign");
    }
    close $l;
    return $f;
}

my $TMPN = 0;
sub openssl_sign {
    my ($key, $md, $data, @sigopt) = @_;
    my $base = "$STATE/tmp/sign.$$." . ++$TMPN;
    spew("$base.in", $data);
    run_cmd('openssl', 'dgst', "-$md", '-sign', $key, (map { ('-sigopt', $_) } @sigopt),
            '-out', "$base.sig", "$base.in");
    my $sig = slurp("$base.sig");
    unlink "$base.in", "$base.sig";
    return $sig;
}

# DER ECDSA-Sig-Value -> fixed-width r||s
sub ecdsa_der_to_rs {
    my ($der, $w) = @_;
    my ($t, $hl) = der_tlv($der, 0);
    my $o = $hl;
    my @v;
    for (1 .. 2) {
        my ($ti, $hi, $li) = der_tlv($der, $o);
        my $x = substr($der, $o + $hi, $li);
        $x =~ s/^\x00+//;
        push @v, ("\x00" x ($w - length $x)) . $x;
        $o += $hi + $li;
    }
    return $v[0] . $v[1];
}

sub resign_json {
    my ($body) = @_;
    my ($k, $sp, $all) = signed_span($body);
    my $ss = $all->{signature};
    unless ($sp && $ss && substr($body, $ss->[0], 1) eq '"') {
        logmsg('resign: no signed JSON value found, body unchanged');
        return $body;
    }
    my $signed = substr($body, $sp->[0], $sp->[1]);
    my $der = openssl_sign(fresh_key('ec-prime256v1'), 'sha256', $signed);
    my $hex = unpack('H*', ecdsa_der_to_rs($der, 32));
    substr($body, $ss->[0] + 1, $ss->[1] - 2) = $hex;
    return $body;
}

my %OID = (
    '2a8648ce3d040302' => ['ecdsa', 'sha256', 'ec-prime256v1'],
    '2a8648ce3d040303' => ['ecdsa', 'sha384', 'ec-secp384r1'],
    '2a8648ce3d040304' => ['ecdsa', 'sha512', 'ec-secp384r1'],
    '2a864886f70d010105' => ['rsa', 'sha1'],
    '2a864886f70d01010b' => ['rsa', 'sha256'],
    '2a864886f70d01010c' => ['rsa', 'sha384'],
    '2a864886f70d01010d' => ['rsa', 'sha512'],
    '2a864886f70d01010a' => ['pss'],
);
my %HASHOID = ('608648016503040201' => 'sha256', '608648016503040202' => 'sha384',
               '608648016503040203' => 'sha512', '2b0e03021a' => 'sha1');

# Re-sign a certificate or CRL with a fresh key of the same kind (same curve;
# RSA of the same modulus size, so the DER keeps its length).  The TBS bytes,
# and so subject, issuer, extensions, are unchanged.
sub resign_der {
    my ($der) = @_;
    my ($off, $len, $alg, $oldsig) = der_signed_parts($der);
    unless (defined $off) { logmsg('resign: not a signed X.509 object, body unchanged'); return $der }
    my ($ta, $ha) = der_tlv($alg, 0);
    my ($to, $ho, $lo) = der_tlv($alg, $ha);
    my $oid = unpack('H*', substr($alg, $ha + $ho, $lo));
    my $params = substr($alg, $ha + $ho + $lo);
    my $how = $OID{$oid};
    unless ($how) { logmsg("resign: unsupported signature algorithm $oid"); return $der }
    my $tbs = substr($der, $off, $len);
    my $sig;
    if ($how->[0] eq 'ecdsa') {
        $sig = openssl_sign(fresh_key($how->[2]), $how->[1], $tbs);
    } else {
        my $bits = 8 * length $oldsig;
        my ($md, @opt) = ($how->[1]);
        if ($how->[0] eq 'pss') {
            # RSASSA-PSS-params ::= SEQUENCE { [0] hashAlgorithm, [1] maskGenAlgorithm,
            #                                 [2] saltLength INTEGER, [3] trailerField }
            $md = 'sha1';
            my $salt = 20;
            my ($tp, $hp, $lp) = der_tlv($params, 0);
            my $o = $hp;
            while (defined $tp && $tp == 0x30 && $o < $hp + $lp) {
                my ($te, $he, $le) = der_tlv($params, $o);
                last unless defined $te;
                my $inner = substr($params, $o + $he, $le);
                if ($te == 0xa0) {          # AlgorithmIdentifier { OID, ... }
                    my (undef, $ha2) = der_tlv($inner, 0);
                    my (undef, $ho2, $lo2) = der_tlv($inner, $ha2);
                    $md = $HASHOID{ unpack('H*', substr($inner, $ha2 + $ho2, $lo2)) } // $md;
                } elsif ($te == 0xa2) {     # INTEGER
                    my (undef, $hi, $li) = der_tlv($inner, 0);
                    $salt = 0;
                    $salt = $salt * 256 + ord(substr($inner, $hi + $_, 1)) for 0 .. $li - 1;
                }
                $o += $he + $le;
            }
            @opt = ('rsa_padding_mode:pss', "rsa_pss_saltlen:$salt", "rsa_mgf1_md:$md");
        }
        $sig = openssl_sign(fresh_key("rsa-$bits"), $md, $tbs, @opt);
    }
    my $bitstr = "\x03" . der_len(length($sig) + 1) . "\x00" . $sig;
    my $content = $tbs . $alg . $bitstr;
    return "\x30" . der_len(length $content) . $content;
}

sub resign_body {
    my ($b) = @_;
    my $cache = "$STATE/cache/resign-" . sha256_hex($b);
    my $c = slurp($cache);
    return $c if defined $c;
    my $k = body_kind($b);
    my $new = $k eq 'json' ? resign_json($b)
            : $k eq 'der'  ? resign_der($b)
            : $k eq 'pem'  ? (on_first_pem($b, \&resign_der) // $b)
            : $b;
    spew($cache, $new);
    return $new;
}

# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

my %REASON = (200 => 'OK', 204 => 'No Content', 400 => 'Bad Request', 401 => 'Unauthorized',
              404 => 'Not Found', 405 => 'Method Not Allowed', 410 => 'Gone',
              413 => 'Payload Too Large', 429 => 'Too Many Requests', 431 => 'Request Header Fields Too Large',
              500 => 'Internal Server Error', 501 => 'Not Implemented', 502 => 'Bad Gateway',
              503 => 'Service Unavailable', 504 => 'Gateway Timeout');

sub request_id { join '', map { sprintf '%08x', int rand 2**32 } 1 .. 4 }

sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        if (!defined $n) { next if $! == EINTR || $! == EAGAIN; return 0 }
        $off += $n;
    }
    return 1;
}

sub send_response {
    my ($s, $req, $status, $headers, $body, $keep) = @_;
    my $h = "HTTP/1.1 $status " . ($REASON{$status} // 'Status') . "\r\n";
    $h .= 'Date: ' . strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime) . "\r\n";
    for my $kv (@$headers) {
        next unless defined $kv->[1] && length $kv->[1];
        $h .= "$kv->[0]: $kv->[1]\r\n";
    }
    $h .= 'Content-Length: ' . length($body) . "\r\n";
    if (!$keep) { $h .= "Connection: close\r\n" }
    elsif ($req->{minor} == 0) { $h .= "Connection: keep-alive\r\n" }
    $h .= "\r\n";
    return write_all($s, $h . ($req->{method} eq 'HEAD' ? '' : $body));
}

# Wait for readable data (or SSL-buffered data); gives up when the master is
# gone, or after the idle timeout.  Returns bytes read (0 = EOF/stop).
sub fill {
    my ($s, $bufref, $idle_deadline) = @_;
    while (1) {
        my $ready = ($s->can('pending') && $s->pending) ? 1 : 0;
        unless ($ready) {
            my $rin = '';
            vec($rin, fileno($s), 1) = 1;
            my $n = select(my $rout = $rin, undef, undef, 0.5);
            if ($n < 0) { next if $! == EINTR; return 0 }
            $ready = $n > 0;
        }
        if ($ready) {
            my $r = sysread($s, my $d, 65536);
            if (!defined $r) { next if $! == EINTR || $! == EAGAIN; return 0 }
            return 0 if $r == 0;
            $$bufref .= $d;
            return $r;
        }
        return 0 if getppid() != $MASTER;
        return 0 if time > $idle_deadline;
    }
}

# Reads one request from the connection; undef on EOF/garbage (after an
# error response when appropriate).
sub read_request {
    my ($s, $bufref) = @_;
    my $deadline = time + $O{'idle-timeout'};
    while (1) {
        $$bufref =~ s/\A(?:\r?\n)+//;
        if ($$bufref =~ /\r?\n\r?\n/) {
            my $head = substr($$bufref, 0, $-[0]);
            substr($$bufref, 0, $+[0]) = '';
            my @lines = split /\r?\n/, $head;
            my $rl = shift @lines;
            my %req = (method => '', minor => 1);
            unless ($rl =~ m{^([A-Z]+) (\S+) HTTP/1\.(\d)$}) {
                send_response($s, \%req, 400, [['Request-ID', request_id()]], '', 0);
                return undef;
            }
            @req{qw(method target minor)} = ($1, $2, $3);
            my %h;
            for my $l (@lines) {
                next unless $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/;
                my $n = lc $1;
                $h{$n} = exists $h{$n} ? "$h{$n}, $2" : $2;
            }
            $req{headers} = \%h;
            if (defined $h{'transfer-encoding'}) {
                send_response($s, \%req, 501, [['Request-ID', request_id()]], '', 0);
                return undef;
            }
            my $cl = $h{'content-length'} // 0;
            if ($cl !~ /^\d+$/ || $cl > 10_000_000) {
                send_response($s, \%req, 400, [['Request-ID', request_id()]], '', 0);
                return undef;
            }
            while (length($$bufref) < $cl) { fill($s, $bufref, $deadline) or return undef }
            $req{body} = substr($$bufref, 0, $cl);
            substr($$bufref, 0, $cl) = '';
            my %conn = map { (lc($_) => 1) } grep { length } split /\s*,\s*/, ($h{connection} // '');
            $req{keep} = $req{minor} >= 1 ? !$conn{close} : !!$conn{'keep-alive'};
            return \%req;
        }
        if (length($$bufref) > 65536) {
            send_response($s, { method => '', minor => 1 }, 431, [['Request-ID', request_id()]], '', 0);
            return undef;
        }
        fill($s, $bufref, $deadline) or return undef;
    }
}

sub split_target {
    my ($t) = @_;
    $t =~ s{^https?://[^/]+}{};    # absolute-form
    my ($path, $qs) = split /\?/, $t, 2;
    return ($path eq '' ? '/' : $path, $qs);
}

# One HTTPS request.  Returns true to keep the connection.
sub handle_origin {
    my ($s, $req) = @_;
    my $raw = $req->{target};
    my ($path, $qs) = split_target($raw);
    $raw = defined $qs ? "$path?$qs" : $path;
    my $t0 = time;

    my $fault = account_request($path, $raw);
    record_headers($req);
    my $ftxt = $fault ? ' fault=' . $JSON->encode($fault) : '';

    if ($fault && $fault->{drop}) {
        logmsg("$req->{method} $raw -> dropped$ftxt");
        $s->close(SSL_no_shutdown => 1) if $s->can('close');
        return 0;
    }
    sleep($fault->{latency} / 1000) if $fault && $fault->{latency};

    my $keep = $req->{keep};
    if ($req->{method} ne 'GET' && $req->{method} ne 'HEAD'
        && !($req->{method} eq 'POST' && $path =~ m{^/sgx/certification/v[34]/pckcerts?$})) {
        send_response($s, $req, 405, [['Request-ID', request_id()], ['Allow', 'GET, HEAD']], '', $keep);
        logmsg("$req->{method} $raw -> 405");
        return $keep;
    }

    if (defined $req->{headers}{'ocp-apim-subscription-key'}) {
        with_lock(LOCK_EX, sub {
            sysopen(my $h, "$STATE/keyed.log", O_WRONLY | O_APPEND | O_CREAT) or die "keyed.log: $!";
            syswrite($h, "$raw\n");
            close $h;
        });
    }

    if (pck_key_refused($path, $req)) {
        send_response($s, $req, 401, [['Request-ID', request_id()], ['Content-Type', $CT{json}]],
                      '{"statusCode":401,"message":"Access denied due to invalid subscription key."}', $keep);
        logmsg("$req->{method} $raw -> 401 (API key)");
        return $keep;
    }

    if ($fault && $fault->{status}) {
        my $st = $fault->{status};
        my @h = (['Request-ID', request_id()]);
        my $ra = $fault->{retry_after};
        $ra = 30 if $st == 429 && !defined $ra;
        push @h, ['Retry-After', $ra] if defined $ra && ($st == 429 || $st == 503);
        push @h, ['Error-Code', 'InvalidRequestSyntax'], ['Error-Message', 'injected fault'] if $st == 400;
        send_response($s, $req, $st, \@h, '', $keep);
        logmsg("$req->{method} $raw -> $st (injected)$ftxt");
        return $keep;
    }

    my $serves = with_lock(LOCK_SH, sub { read_json('serves.json', {}) });
    my ($sv, $svkey) = lookup_served($serves, $raw);
    my $r = route($path, $qs, $req->{headers}, $req);
    ($sv, $svkey) = lookup_served($serves, $r->{canon}, $path)
        if !$sv && !($r->{status} == 400 && !$r->{canon});

    my ($status, $body, @h);
    my $src;
    if ($sv) {
        $status = $sv->{status} // 200;
        my $f = $sv->{file};
        $f = "$DATA/$f" if defined $f && $f !~ m{^/};
        $body = defined $f ? slurp($f) : '';
        if (defined $f && $sv->{pckset}) {
            # a fixture set rendered as PCS's pckcerts answer
            ($body, my $ph) = pck_body({ file => $f, fmspc => $sv->{pckset}{fmspc}, ca => $sv->{pckset}{ca} },
                                       $path =~ m{/v3/} ? 'v3' : 'v4');
            push @h, @$ph;
        }
        if (!defined $body) { logmsg("serve: cannot read $f"); $body = ''; $status = 500 }
        $src = "serve[$svkey] " . ($f // '-');
        my $ct = $sv->{content_type} // (defined $f ? ctype_for_file($f) : undef)
            // $r->{ctype};
        push @h, ['Content-Type', $ct] if defined $ct && length $body;
        my $chn = $sv->{chain_header} // $r->{chain_header} // chain_header_for_path($path);
        my $chain = $sv->{chain};
        $chain = "$DATA/$chain" if defined $chain && $chain !~ m{^/};
        $chain //= chain_of($f) if defined $f;
        $chain //= $r->{chain};
        if (defined $chn && defined $chain) {
            my $c = slurp($chain);
            push @h, [$chn, pct_encode($c)] if defined $c;
        }
    } else {
        $status = $r->{status};
        if ($status == 200 && $r->{pckset}) {
            ($body, my $ph) = pck_body($r->{pckset}, $r->{ver});
            push @h, ['Content-Type', $CT{json}], @$ph;
            ($src = $r->{pckset}{file}) =~ s{^\Q$DATA\E/}{};
        } elsif ($status == 200) {
            $body = defined $r->{body} ? $r->{body} : slurp($r->{file});
            push @h, ['Content-Type', $r->{ctype}];
            push @h, [$r->{chain_header}, pct_encode(slurp($r->{chain}))]
                if $r->{chain_header} && $r->{chain};
            $src = $r->{file};
            $src =~ s{^\Q$DATA\E/}{};
        } else {
            $body = '';
            $src = $r->{reason};
        }
        push @h, @{ $r->{headers} || [] };
    }
    unshift @h, ['Request-ID', request_id()];
    if ($sv && $sv->{headers}) {
        for my $n (sort keys %{ $sv->{headers} }) {
            @h = grep { lc $_->[0] ne lc $n } @h;
            push @h, [$n, $sv->{headers}{$n}] if defined $sv->{headers}{$n};
        }
    }

    if ($fault && $status == 200) {
        $body = resign_body($body) if $fault->{resign};
        $body = corrupt_body($body) if $fault->{corrupt};
        $body = substr($body, 0, int(length($body) / 2)) if $fault->{truncate};
    }

    my $ok = send_response($s, $req, $status, \@h, $body, $keep);
    # sent=: the moment the answer was written, for bench/scale.pl
    my $sent = time;
    logmsg(sprintf '%s %s -> %d %dB (%s) %.0fms%s sent=%.6f', $req->{method}, $raw, $status,
           length $body, $src // '', ($sent - $t0) * 1000, $ftxt, $sent);
    return $keep && $ok;
}

# ---------------------------------------------------------------------------
# CONTROL API (plain HTTP/1.1 on --ctl-port; JSON in and out; never counted)
#
#   GET  /ping                -> {"ok":1,"pid":N,"port":P,"ctl_port":C}
#   GET  /counts              -> {"counts":{"<path?query as received>":n,...},"total":N}
#   GET  /requests[?last=N]   -> {"requests":[{target,method,headers:{lc name:value},time},...]}
#   POST /reset               -> clears request counts, recorded requests and faults (not serves)
#   POST /fault    {prefix, status, retry_after, latency, truncate, corrupt, resign, drop, times}
#   GET  /faults              -> [fault, ...]  (times = remaining)
#   POST /clear_faults
#   POST /serve    {key, file, chain, chain_header, headers:{name:value|null}, status, content_type}
#   POST /unserve  {key}
#   POST /clear_serves
#   GET  /serves              -> {key: {...}, ...}
#   POST /api_key  {key}      -> the Ocp-Apim-Subscription-Key pckcert(s) want
#   GET  /keyed               -> {"keyed":[targets that carried that header]}
#   POST /shutdown            -> the emulator exits
# ---------------------------------------------------------------------------

my ($HTTPS_PORT, $CTL_PORT);

sub handle_ctl {
    my ($s, $req) = @_;
    my ($path) = split_target($req->{target});
    my $in = {};
    if (length($req->{body} // '')) {
        $in = eval { $JSON->decode($req->{body}) };
        if (!$in || ref $in ne 'HASH') {
            send_response($s, $req, 400, [['Content-Type', $CT{json}]], $JSON->encode({ error => 'bad JSON' }), $req->{keep});
            return $req->{keep};
        }
    }
    my ($st, $out) = (200, { ok => 1 });
    my $m = $req->{method};
    if ($path eq '/ping') {
        $out = { ok => 1, pid => $MASTER, port => $HTTPS_PORT, ctl_port => $CTL_PORT };
    } elsif ($path eq '/counts' && $m eq 'GET') {
        my $log = with_lock(LOCK_SH, sub { slurp("$STATE/requests.log") // '' });
        my %c;
        my $total = 0;
        for (split /\n/, $log) { $c{$_}++; $total++ }
        $out = { counts => \%c, total => $total };
    } elsif ($path eq '/reset' && $m eq 'POST') {
        with_lock(LOCK_EX, sub {
            spew("$STATE/requests.log", '');
            spew("$STATE/headers.log", '');
            write_json('faults.json', []);
        });
    } elsif ($path eq '/requests' && $m eq 'GET') {
        my $log = with_lock(LOCK_SH, sub { slurp("$STATE/headers.log") // '' });
        my @all = map { $JSON->decode($_) } split /\n/, $log;
        my ($n) = ($req->{target} =~ /[?&]last=(\d+)/);
        splice(@all, 0, @all - $n) if defined $n && $n < @all;
        $out = { requests => \@all };
    } elsif ($path eq '/fault' && $m eq 'POST') {
        my %f = %$in;
        if (!defined $f{prefix} || $f{prefix} eq '') { ($st, $out) = (400, { error => 'prefix required' }) }
        elsif (defined $f{status} && $f{status} !~ /^[1-5]\d\d$/) { ($st, $out) = (400, { error => 'bad status' }) }
        elsif (defined $f{times} && ($f{times} !~ /^\d+$/ || $f{times} < 1)) {
            ($st, $out) = (400, { error => 'times must be a positive integer' });
        } else {
            with_lock(LOCK_EX, sub { my $l = read_json('faults.json', []); push @$l, \%f; write_json('faults.json', $l) });
        }
    } elsif ($path eq '/faults' && $m eq 'GET') {
        $out = with_lock(LOCK_SH, sub { read_json('faults.json', []) });
    } elsif ($path eq '/clear_faults' && $m eq 'POST') {
        with_lock(LOCK_EX, sub { write_json('faults.json', []) });
    } elsif ($path eq '/serve' && $m eq 'POST') {
        my $key = delete $in->{key};
        if (!defined $key || $key eq '') { ($st, $out) = (400, { error => 'key required' }) }
        elsif (defined $in->{file} && !-r ($in->{file} =~ m{^/} ? $in->{file} : "$DATA/$in->{file}")) {
            ($st, $out) = (400, { error => "cannot read $in->{file}" });
        } else {
            with_lock(LOCK_EX, sub { my $h = read_json('serves.json', {}); $h->{$key} = $in; write_json('serves.json', $h) });
        }
    } elsif ($path eq '/unserve' && $m eq 'POST') {
        with_lock(LOCK_EX, sub { my $h = read_json('serves.json', {}); delete $h->{ $in->{key} // '' }; write_json('serves.json', $h) });
    } elsif ($path eq '/clear_serves' && $m eq 'POST') {
        with_lock(LOCK_EX, sub { write_json('serves.json', {}) });
    } elsif ($path eq '/serves' && $m eq 'GET') {
        $out = with_lock(LOCK_SH, sub { read_json('serves.json', {}) });
    } elsif ($path eq '/api_key' && $m eq 'POST') {
        with_lock(LOCK_EX, sub { spew("$STATE/api_key", $in->{key} // '') });
    } elsif ($path eq '/keyed' && $m eq 'GET') {
        my $log = with_lock(LOCK_SH, sub { slurp("$STATE/keyed.log") // '' });
        $out = { keyed => [split /\n/, $log] };
    } elsif ($path eq '/shutdown' && $m eq 'POST') {
        kill 'TERM', $MASTER;
    } else {
        ($st, $out) = (404, { error => "no such control endpoint: $m $path" });
    }
    send_response($s, $req, $st, [['Content-Type', $CT{json}]], $JSON->encode($out), $req->{keep});
    return $req->{keep};
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

build_index();

setpgrp(0, 0);

my $https = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $O{port}, Proto => 'tcp',
                                  Listen => 128, ReuseAddr => 1)
    or die "emulator: cannot listen on 127.0.0.1:$O{port}: $@\n";
my $ctl = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $O{'ctl-port'}, Proto => 'tcp',
                                Listen => 128, ReuseAddr => 1)
    or die "emulator: cannot listen on 127.0.0.1:$O{'ctl-port'}: $@\n";
($HTTPS_PORT, $CTL_PORT) = ($https->sockport, $ctl->sockport);

my $SSL_CTX = IO::Socket::SSL::SSL_Context->new(SSL_server => 1, SSL_cert_file => $O{cert},
                                                SSL_key_file => $O{key})
    or die "emulator: TLS context: $SSL_ERROR\n";

for my $f (qw(faults.json)) { write_json($f, []) unless -e "$STATE/$f" }
write_json('serves.json', {}) unless -e "$STATE/serves.json";
spew("$STATE/requests.log", '') unless -e "$STATE/requests.log";
spew("$STATE/pid", "$$\n");

my %KIDS;
my $STOP = 0;
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { $STOP = $_[0] };
$SIG{PIPE} = 'IGNORE';

logmsg("listening https=127.0.0.1:$HTTPS_PORT ctl=127.0.0.1:$CTL_PORT data=$DATA state=$STATE"
       . ($PARENT ? " parent=$PARENT" : ''));
print STDOUT "ready $HTTPS_PORT $CTL_PORT\n";
open(STDOUT, '>', '/dev/null');
open(STDIN, '<', '/dev/null');

sub parent_gone {
    return 0 unless $PARENT;
    return 1 if !kill(0, $PARENT) && $! == ESRCH;
    return 1 if $PARENT == $ORIG_PPID && getppid() != $ORIG_PPID;
    return 0;
}

sub serve_connection {
    my ($c, $is_ctl) = @_;
    $SIG{TERM} = $SIG{INT} = $SIG{HUP} = 'DEFAULT';
    srand();
    close $https;
    close $ctl;
    if (!$is_ctl) {
        IO::Socket::SSL->start_SSL($c, SSL_server => 1, SSL_reuse_ctx => $SSL_CTX, Timeout => 10)
            or do { logmsg("TLS handshake failed: $SSL_ERROR"); return };
    }
    my $buf = '';
    while (my $req = read_request($c, \$buf)) {
        my $keep = eval { $is_ctl ? handle_ctl($c, $req) : handle_origin($c, $req) };
        if ($@) {
            logmsg("error: $@");
            send_response($c, $req, 500, [['Request-ID', request_id()]], '', 0);
            last;
        }
        last unless $keep;
    }
    close $c;
}

while (!$STOP) {
    my $rin = '';
    vec($rin, fileno($_), 1) = 1 for $https, $ctl;
    my $n = select(my $rout = $rin, undef, undef, 0.5);
    if ($n > 0) {
        for my $l ($https, $ctl) {
            next unless vec($rout, fileno($l), 1);
            my $c = $l->accept or next;
            my $pid = fork;
            if (!defined $pid) { logmsg("fork: $!"); close $c; next }
            if (!$pid) {
                serve_connection($c, $l == $ctl);
                POSIX::_exit(0);
            }
            $KIDS{$pid} = 1;
            close $c;
        }
    }
    while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $KIDS{$k} }
    if (parent_gone()) { logmsg("parent $PARENT is gone"); last }
}

logmsg($STOP ? "SIG$STOP: stopping" : 'stopping');
close $https;
close $ctl;
kill 'TERM', keys %KIDS if %KIDS;
my $until = time + 2;
while (%KIDS && time < $until) {
    while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $KIDS{$k} }
    sleep 0.02 if %KIDS;
}
kill 'KILL', keys %KIDS if %KIDS;
# anything else left in our process group (e.g. an openssl run by a child)
$SIG{TERM} = 'IGNORE';
kill 'TERM', -$$;
while ((my $k = waitpid(-1, WNOHANG)) > 0) { }
unlink "$STATE/pid";
exit 0;
