#!/usr/bin/perl
# The module alone makes the origin request (issue 11, item 4), even in a
# location that leaves proxy_pass_request_headers at its default (on): a
# client's Range, conditionals, Accept-Encoding, Cookie, Authorization,
# X-Forwarded-For, API key never reach the origin (the emulator records
# what it received), over HTTP/1.1 and HTTP/2, and clients get 200 with
# the whole body.  An answer the module did not ask for (206, 304, a
# Content-Encoding, larger than subrequest_output_buffer_size) is a 502
# that says why, for the fetching client and for every client waiting on
# the fetch; it is counted as invalid, not cached, and a good cached copy
# stays served.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep);
use ThimOrigin;
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my $QE = "$V4/qe/identity";
my $TCB = "$V4/tcb?fmspc=00906ed50000";
my $TCB2 = "$V4/tcb?fmspc=00906ea10000";
my $TDX = '/tdx/certification/v4/tcb?fmspc=00a06d080000';
my $CRL = "$V4/pckcrl?ca=platform&encoding=der";
my $KEY = ThimOrigin::DEFAULT_API_KEY;
my $LIMIT = 1024 * 1024;                # subrequest_output_buffer_size 1m

my ($t, $o) = ThimSetup::start(workers => 2, pass_headers => 1,
    http => 'thim_cache_valid 2s;',
    server => 'location = /thim/status { thim_status; }');

sub invalid {
    my $j = JSON::PP::decode_json($t->get('/thim/status')->{content});
    return $j->{zones}{thim}{results}{invalid};
}

sub json_error {
    my $j = eval { JSON::PP::decode_json($_[0]{content}) };
    return $j ? $j->{error} // '' : '';
}

sub xcs { $_[0]{headers}{'x-cache-status'} // '' }

# --- client headers stay with the client -------------------------------------

my %CLIENT = (
    'Range'               => 'bytes=0-99',
    'If-None-Match'       => '"a-tag"',
    'If-Modified-Since'   => 'Sat, 01 Jan 2050 00:00:00 GMT',
    'Accept-Encoding'     => 'gzip, br',
    'Cookie'              => 'session=client-secret',
    'Authorization'       => 'Bearer client-secret',
    'X-Forwarded-For'     => '192.0.2.7',
    'Ocp-Apim-Subscription-Key' => 'client-secret',
    'X-Client-Only'       => 'client-secret',
);
my %SENT = map { lc($_) => 1 } qw(Host Connection Content-Length
                                  Ocp-Apim-Subscription-Key);

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid) = @{ $rows[0] };
my $PCKCERTS = "$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid";

for my $case ([http1 => $QE, 0], [http2 => $TCB, 1], [http1 => $CRL, 0],
              [http2 => $TDX, 1], [http1 => $PCKCERTS, 0])
{
    my ($proto, $path, $h2) = @$case;

    # a cold key (the client waits for the fetch), then an expired one
    # (the client gets the stale copy, the fetch runs in the background)
    for my $when ('cold', 'expired') {
        sleep 2.2 if $when eq 'expired';
        $o->reset;
        my $r = $t->get($path, headers => \%CLIENT, http2 => $h2);
        my $whole = $t->get($path);
        my $what = "$proto $path, $when";
        is($r->{status}, 200, "$what, with client headers: 200");
        ok($r->{content} eq $whole->{content}, "$what: the whole body");
        ok(!defined $r->{headers}{'content-range'}, "$what: no Content-Range");

        ok($t->wait_for(sub { @{ $o->requests } >= 1 }, timeout => 10),
           "$what: fetched");
        my $seen = $o->requests;
        is(scalar @$seen, 1, "$what: one origin request") or next;
        my $h = $seen->[0]{headers};
        my @leaked = grep { !$SENT{$_} } sort keys %$h;
        is("@leaked", '', "$what: no client header reached the origin");
        unlike(join(' ', values %$h),
               qr/client-secret|192\.0\.2\.7|bytes=|a-tag|gzip|2050/,
               "$what: no client value reached the origin");
        if ($path eq $PCKCERTS) {
            is($h->{'ocp-apim-subscription-key'}, $KEY,
               "$what: the API key is the operator's (\$thim_intel_api_key)");
        } else {
            ok(!exists $h->{'ocp-apim-subscription-key'},
               "$what: no API key where the location sets none");
        }
    }
}

# --- answers the module did not ask for: 502 with the reason ----------------

sub refused_answer {
    my ($what, $path, $why, %serve) = @_;
    my $before = invalid();
    (my $key = $path) =~ s/\?.*//;
    $o->serve($path, %serve);
    $t->mark_log;
    for my $h2 (0, 1) {
        my $r = $t->get($path, http2 => $h2);
        my $p = $h2 ? 'HTTP/2' : 'HTTP/1.1';
        is($r->{status}, 502, "$what ($p): 502");
        is($r->{headers}{'content-type'}, 'application/json', "$what ($p): JSON");
        like(json_error($r), $why, "$what ($p): the JSON names the reason");
    }
    like($t->log_since_mark, qr/\[error\].*refused origin answer.*$why/,
         "$what: logged with the reason");
    cmp_ok(invalid(), '>=', $before + 2, "$what: counted as invalid");
    $o->clear_serves;
    my $r = $t->get($path);
    is($r->{status}, 200, "$what: then the origin's good answer: 200");
    is(xcs($r), 'MISS', "$what: ... fetched: the refused answer was not cached");
}

my $tcb_body = $o->get($TCB2)->{body};
my $gz = do {
    require IO::Compress::Gzip;
    my $z;
    IO::Compress::Gzip::gzip(\$tcb_body => \$z) or die;
    $z;
};

refused_answer('206', $TCB2, qr/206 Partial Content/,
               body => substr($tcb_body, 0, 100), status => 206,
               content_type => 'application/json',
               headers => { 'Content-Range' => 'bytes 0-99/' . length $tcb_body });
refused_answer('304', "$QE?update=early", qr/304 Not Modified/, status => 304);
refused_answer('gzip', "$V4/tcb?fmspc=00a06d080000",
               qr/Content-Encoding other than identity/,
               body => $gz, content_type => 'application/json',
               headers => { 'Content-Encoding' => 'gzip' });
refused_answer('identity body under gzip',
               '/tdx/certification/v4/tcb?fmspc=50806f000000',
               qr/Content-Encoding other than identity/,
               body => $o->get('/tdx/certification/v4/tcb?fmspc=50806f000000')->{body},
               content_type => 'application/json',
               headers => { 'Content-Encoding' => 'gzip' });
refused_answer('2 MiB', '/tdx/certification/v4/tcb?fmspc=90c06f000000',
               qr/larger than the $LIMIT bytes of subrequest_output_buffer_size.*raise it/,
               body => ' ' x (2 * 1024 * 1024) . $tcb_body,
               content_type => 'application/json');

# identity is no encoding
my $ID = "$V4/tcb?fmspc=90806f000000";
$o->serve($ID, body => $o->get($ID)->{body}, content_type => 'application/json',
          headers => { 'Content-Encoding' => 'identity' });
is($t->get($ID)->{status}, 200, 'Content-Encoding: identity is accepted');
$o->clear_serves;

# --- the clients waiting on that fetch are told the same ----------------------

my $big = "$V4/tcb?fmspc=00906ec50000";
$o->serve($big, body => 'x' x (2 * 1024 * 1024), content_type => 'application/json');
$o->reset;
$o->fault($big, latency => 1500);
my @res = $t->parallel(8, $big);
is(scalar(grep { $_->{status} == 502 } @res), 8, '8 clients on one oversized fetch: all 502');
is(scalar(grep { json_error($_) =~ /larger than the $LIMIT bytes of subrequest_output_buffer_size/ } @res),
   8, '... all told the size limit and the directive to raise')
    or diag(join "\n", map { "$_->{status} " . json_error($_) } @res);
cmp_ok($o->count($big), '<', 8, '... some of them waiting on another\'s fetch');
$o->clear_faults;
$o->clear_serves;

# HTTP/2 waiters on a 206
$o->serve($TDX, body => 'x' x 100, status => 206, content_type => 'application/json',
          headers => { 'Content-Range' => 'bytes 0-99/5000' });
$o->fault($TDX, latency => 1500);
sleep 2.2;                              # the copy cached above has expired
@res = $t->parallel(6, $TDX, http2 => 1);
is(scalar(grep { $_->{status} == 200 } @res), 6,
   'HTTP/2 clients of an expired copy whose refresh gets a 206: all 200');
ok(!(grep { $_->{content} eq 'x' x 100 } @res), '... none with the partial body');
$o->clear_faults;
$o->clear_serves;

# --- a good cached copy stays ------------------------------------------------

my $r = $t->get($TCB2);
is($r->{status}, 200, 'a good copy cached');
my $good = $r->{content};
sleep 2.2;                              # expired: the next request refreshes
my $before = invalid();
$o->serve($TCB2, body => $gz, content_type => 'application/json',
          headers => { 'Content-Encoding' => 'gzip' });
$r = $t->get($TCB2);
is($r->{status}, 200, 'refresh refused (gzip): the client still gets 200');
ok($r->{content} eq $good, '... the good cached copy');
ok($t->wait_for(sub { invalid() > $before }, timeout => 10),
   '... and the refused refresh is counted as invalid');
$r = $t->get($TCB2);
ok($r->{content} eq $good, 'the good copy is still what is served');
$o->clear_serves;

done_testing();
