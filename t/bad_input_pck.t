#!/usr/bin/perl
# Malformed parameters on the PCK routes (pckcert v3/v4, pckcerts, THIM's
# pckcert v3/v4), over HTTP/1.1 and HTTP/2: every form a parameter can be
# wrong in gets a 400 with a JSON error naming the parameter, never a 500;
# the origin is never asked; and neither log holds the raw encrypted PPID
# or QE ID (the access log's request line and $args, the error log's
# "request:" part), only nginx core's own debug lines before any module
# runs.  Parameter names are case-sensitive, as every client sends them;
# another spelling of one of ours is a 400 naming it.
#
# Raw (unencoded) spaces, NULs, CR/LF and other control bytes in a request
# line never reach a module: nginx's parser refuses them with its own 400.
# They are checked at the end for what the module can promise: no 500, no
# origin request, and the access log without the raw identifier.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use JSON::PP ();
use Test::More;
use ThimSetup;

my ($t, $o) = ThimSetup::start(workers => 2);

# identifiers no fixture has, easy to find in a log
my $PPID = join '', map { sprintf '%02x', (($_ * 37) + 11) % 256 } 0 .. 383;
my $QEID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
my %VALID = (encrypted_ppid => $PPID, qeid => $QEID,
             cpusvn => '0f0e0d0c0b0a09080706050403020100',
             pcesvn => '0b00', pceid => '0000');

my %ROUTES = (
    '/sgx/certification/v4/pckcert'               => [ qw(encrypted_ppid qeid cpusvn pcesvn pceid) ],
    '/sgx/certification/v3/pckcert'               => [ qw(encrypted_ppid qeid cpusvn pcesvn pceid) ],
    '/sgx/certification/v4/pckcerts'              => [ qw(encrypted_ppid pceid) ],
    '/metadata/THIM/sgx/certification/v4/pckcert' => [ qw(encrypted_ppid qeid cpusvn pcesvn pceid) ],
    '/metadata/THIM/sgx/certification/v3/pckcert' => [ qw(encrypted_ppid qeid cpusvn pcesvn pceid) ],
);

sub esc { join '', map { sprintf '%%%02X', ord } split //, $_[0] }

# every way a value v can be wrong: [ what, raw query value ]
sub forms {
    my ($v) = @_;
    my $n = length $v;
    my $mid = int($n / 2);
    my $at = sub { substr($v, 0, $mid) . $_[0] . substr($v, $mid + 1) };
    my $in = sub { substr($v, 0, $mid) . $_[0] . substr($v, $mid) };
    return (
        [ 'one too long',            $v . 'a' ],
        [ 'doubled',                 $v x 2 ],
        [ 'past the query limit',    substr($v x (int(5000 / $n) + 1), 0, 5000) ],
        [ 'one too short',           substr($v, 0, $n - 1) ],
        [ 'empty',                   '' ],
        [ 'no "="',                  undef ],
        [ 'a %20 space',             $at->('%20') ],
        [ 'a "+" space',             $at->('+') ],
        [ 'a space added',           $in->('%20') ],
        [ 'a NUL',                   $in->('%00') ],
        [ 'a NUL instead',           $at->('%00') ],
        [ 'CRLF',                    $in->('%0D%0A') ],
        [ 'trailing CRLF',           $v . '%0d%0a' ],
        [ 'a digit percent-escaped', $at->(esc(substr($v, $mid, 1))) ],
        [ 'all percent-escaped',     esc($v) ],
        [ 'double-encoded',          $at->('%25' . sprintf('%02X', ord substr($v, $mid, 1))) ],
        [ 'overlong UTF-8 "0"',      $at->('%C0%B0') ],
        [ 'full-width "0"',          $at->('%EF%BC%90') ],
        [ 'full-width digits',       join('', map { '%EF%BC%' . sprintf('%02X', 0x90 + $_) } split //, ($v =~ tr/a-f/0-5/r)) ],
        [ 'a non-hex letter',        $at->('g') ],
        [ 'a sign',                  '-' . substr($v, 1) ],
        [ 'a "0x" prefix',           '0x' . substr($v, 2) ],
        [ 'quoted',                  '"' . substr($v, 1, $n - 2) . '"' ],
    );
}

# the raw texts that must never be logged: the identifiers in either case
# and, per request, what was sent in their place
my @secret = ($QEID, substr($PPID, 0, 40), substr($PPID, 300, 40),
              substr($PPID, -40));
my @sent;

sub query {
    my ($route_params, %over) = @_;
    my %v = (%VALID, %over);
    my @q;
    for my $k (@$route_params) {
        next unless exists $v{$k};
        push @q, defined $v{$k} ? "$k=$v{$k}" : $k;
    }
    return join '&', @q, 'clientid=production_client';
}

sub check {
    my ($url, $param, $name, %opt) = @_;
    my $r = $t->get($url, %opt);
    is($r->{status}, 400, "$name: 400")
        or diag(substr($r->{content} // $r->{error} // '', 0, 200));
    is($r->{headers}{'content-type'}, 'application/json', "$name: JSON");
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    is($j && $j->{parameter}, $param, "$name: names $param")
        or diag($r->{content});
}

my %meta = (headers => { Metadata => 'true' });

for my $route (sort keys %ROUTES) {
    my $params = $ROUTES{$route};
    my %opt = $route =~ m{^/metadata/} ? %meta : ();
    for my $p (@$params) {
        for my $f (forms($VALID{$p})) {
            my ($what, $v) = @$f;
            my $q = query($params, $p => $v);
            push @sent, $v if defined $v && length $v >= 16
                              && ($p eq 'encrypted_ppid' || $p eq 'qeid');
            for my $h2 (0, 1) {
                check("$route?$q", $p,
                      ($h2 ? 'h2 ' : '') . "$route $p $what", %opt,
                      http2 => $h2);
            }
        }

        # another spelling of the name: the value is not ignored, the name
        # is refused (and the value still not logged)
        for my $k (uc($p), ucfirst($p), esc($p), ($p =~ s/_/%5F/r)) {
            next if $k eq $p;
            my $q = query($params, $p => undef);
            $q =~ s/(^|&)\Q$p\E(?=&|$)//;
            $q .= "&$k=$VALID{$p}";
            for my $h2 (0, 1) {
                check("$route?$q", $p,
                      ($h2 ? 'h2 ' : '') . "$route name '$k'", %opt,
                      http2 => $h2);
            }
        }
    }

    # a required one missing
    for my $p (grep { $_ ne 'qeid' && $_ ne 'encrypted_ppid' } @$params) {
        my $q = query($params, $p => undef);
        $q =~ s/(^|&)\Q$p\E(?=&|$)//;
        check("$route?$q", $p, "$route without $p", %opt);
    }
}

# neither a PPID nor a QE ID names no platform
check('/sgx/certification/v4/pckcert?'
      . query([qw(cpusvn pcesvn pceid)]), 'qeid', 'no platform named');

# a POST is PCS's POST form (t/pccs_pckcert_post.t): its query is never
# read, its body must be JSON; another method is refused before the query
# is read; the line hidden all the same
{
    my $q = '/sgx/certification/v4/pckcert?' . query($ROUTES{'/sgx/certification/v4/pckcert'});
    my $r = $t->get($q, method => 'POST', body => '{}');
    is($r->{status}, 415, 'POST without application/json: 415');
    $r = $t->get($q, method => 'PUT', body => '{}');
    is($r->{status}, 405, 'PUT: 405');
}

# a mistyped PCK route: 404, and its line hidden too
for my $path ('/sgx/certification/v4/pckcert/', '/sgx/certification/v4/PCKCERT',
              '/sgx/certification/v4/pckcertz', '/metadata/THIM/sgx/certification/v4/pckcerts')
{
    my $r = $t->get("$path?" . query($ROUTES{'/sgx/certification/v4/pckcert'}), %meta);
    is($r->{status}, 404, "$path: 404");
}

# raw bytes nginx's request parser refuses before any module runs
sub raw_get {
    my ($target, $head) = @_;
    $head //= "HTTP/1.1\r\nHost: localhost\r\n";
    my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1',
        PeerPort => $t->port('https'), SSL_verify_mode => SSL_VERIFY_NONE,
        Timeout => 10) or return '';
    print $s "GET $target $head" . "Connection: close\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    return $resp =~ m{^HTTP/1\.[01] (\d+)} ? $1 : 0;
}

# raw (unescaped) UTF-8 reaches the module: 400 naming the parameter
for my $route ('/sgx/certification/v4/pckcert', '/sgx/certification/v4/pckcerts') {
    my $params = $ROUTES{$route};
    for my $p (@$params) {
        my $v = $VALID{$p};
        my $mid = int(length($v) / 2);
        for my $f ([ 'raw overlong UTF-8', "\xC0\xB0" ],
                   [ 'raw full-width digit', "\xEF\xBC\x90" ],
                   [ 'raw Latin-1 byte', "\xE9" ]) {
            my $bad = substr($v, 0, $mid) . $f->[1] . substr($v, $mid + 1);
            push @sent, $bad if $p eq 'encrypted_ppid' || $p eq 'qeid';
            check("$route?" . query($params, $p => $bad), $p,
                  "$route $p $f->[0]");
        }
    }
}

for my $raw (" ", "\0", "\t", "\x7f") {
    my $q = query($ROUTES{'/sgx/certification/v4/pckcert'}, qeid => $QEID . $raw . 'x');
    my $st = raw_get("/sgx/certification/v4/pckcert?$q");
    is($st, 400, sprintf 'raw 0x%02x in the query: 400 from nginx', ord $raw);
}

# a good request line, then headers nginx refuses itself
{
    my $target = '/sgx/certification/v4/pckcert?'
        . query($ROUTES{'/sgx/certification/v4/pckcert'});
    for my $c ([ 'no Host',                 "HTTP/1.1\r\n",                                  400 ],
               [ 'a NUL in a header name',  "HTTP/1.1\r\nHost: x\r\nBad\0Name: y\r\n",       400 ],
               [ 'an unknown Transfer-Encoding', "HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x\r\n", 501 ],
               [ 'HTTP/7.1',                "HTTP/7.1\r\nHost: x\r\n",                       505 ]) {
        is(raw_get($target, $c->[1]), $c->[2], "$c->[0]: $c->[2] from nginx");
    }
}

is($o->total, 0, 'no malformed request reached the origin')
    or diag(join "\n", sort keys %{ $o->counts });

# ---- the logs -----------------------------------------------------------

# what is looked for: the identifiers (either case) and the first and last
# 24 bytes of every malformed one sent (some are percent-escaped text)
my %needle;
for my $s (@secret) { $needle{lc $s} = 1 }
for my $v (@sent) {
    $needle{lc substr($v, 0, 24)} = 1;
    $needle{lc substr($v, -24)} = 1;
}
my @needles = grep { length >= 16 } keys %needle;

sub leaks {
    my ($text, $skip) = @_;
    my @hit;
    for my $l (split /\n/, $text) {
        next if $skip && $skip->($l);
        my $low = lc $l;
        push @hit, $l if grep { index($low, $_) >= 0 } @needles;
    }
    return @hit;
}

# let the workers write their last lines
select(undef, undef, undef, 0.3);

my @acc = leaks(($t->read_file('logs/thim.log') // '') . "\n" . $t->access_log);
is(scalar @acc, 0, 'access logs: no raw encrypted PPID or QE ID')
    or diag(substr($acc[0], 0, 300));
like($t->read_file('logs/thim.log') // '', qr/qeid=sha256:[0-9a-f]{12}/,
     '... a request line names the platform by a short digest');

# nginx core logs the request line at debug level before any module runs
my $core = sub {
    $_[0] =~ /\] \d+#\d+: \*\d+ (?:http2? request line|http args|http2 (?:header|table add|get indexed header)|http uri|http exten): /
};
my @err = leaks($t->error_log, $core);
is(scalar @err, 0, "error.log: no raw identifier but in nginx core's debug lines")
    or diag(join "\n", map { substr($_, 0, 300) } @err[0 .. ($#err < 2 ? $#err : 2)]);

done_testing();
