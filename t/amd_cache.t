#!/usr/bin/perl
# Cache behaviour of the AMD KDS-compatible routes (PROTOCOLS.md 0, 1c, 4.2),
# written from the specification: origin 404s cached briefly; 50 concurrent
# clients on one cold VCEK across workers -> one KDS request; bodies that do
# not parse are refused (502) and never cached; an origin 429 holds off
# every AMD fetch from every worker for Retry-After seconds, without holding
# off Intel (and the other way round); a 429 storm of distinct cold keys
# reaches KDS once per Retry-After window; KDS failing (500/503/404) never
# takes a cached VCEK, chain or CRL from the clients, also after expiry.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use ThimSetup;

sub start {
    my ($what, %opt) = @_;
    my @r = eval { ThimSetup::start(%opt) };
    return @r if $r[0];
    fail("$what: nginx starts with thim_amd");
    diag($@);
    return;
}

sub fx { ThimSetup::fixture(@_) }
sub xcs { $_[0]{headers}{'x-cache-status'} // '' }
sub json_of { eval { JSON::PP::decode_json($_[0]{content}) } }

# fixtures
my $MILAN = 'b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a';
my $M3AC3 = '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d';
my $MC384 = 'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e';
my $MD495 = 'd49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6';
my $M1975 = '19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca';
my $GENOA = '0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1';
my $TURIN = '1e550a8ee5cf9f4d';

my $Q115 = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';
my %V = (   # canonical path => fixture
    "/vcek/v1/Milan/$MILAN?$Q115" => "amd/milan/vcek/${MILAN}_bl3_tee0_snp8_ucode115.der",
    "/vcek/v1/Milan/$MC384?$Q115" => "amd/milan/vcek/${MC384}_bl3_tee0_snp8_ucode115.der",
    "/vcek/v1/Milan/$MD495?$Q115" => "amd/milan/vcek/${MD495}_bl3_tee0_snp8_ucode115.der",
    "/vcek/v1/Milan/$M1975?$Q115" => "amd/milan/vcek/${M1975}_bl3_tee0_snp8_ucode115.der",
    "/vcek/v1/Milan/$M3AC3?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
        => "amd/milan/vcek/${M3AC3}_bl2_tee0_snp5_ucode68.der",
    "/vcek/v1/Genoa/$GENOA?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84"
        => "amd/genoa/vcek/${GENOA}_bl10_tee0_snp23_ucode84.der",
    "/vcek/v1/Turin/$TURIN?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9"
        => "amd/turin/vcek/${TURIN}_bl0_tee0_snp0_ucode9_fmc0.der",
);
my ($V_MILAN, $V_C384, $V_D495, $V_1975, $V_3AC3, $V_GENOA, $V_TURIN) = (
    "/vcek/v1/Milan/$MILAN?$Q115", "/vcek/v1/Milan/$MC384?$Q115",
    "/vcek/v1/Milan/$MD495?$Q115", "/vcek/v1/Milan/$M1975?$Q115",
    "/vcek/v1/Milan/$M3AC3?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
    "/vcek/v1/Genoa/$GENOA?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84",
    "/vcek/v1/Turin/$TURIN?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9");

sub short { $_[0] =~ s/([0-9a-f]{8})[0-9a-f]{8,}/$1.../gr }

sub pem_cert {
    my ($der) = @_;
    return "-----BEGIN CERTIFICATE-----\n"
        . join('', map { "$_\n" } unpack('(A64)*', encode_base64($der, '')))
        . "-----END CERTIFICATE-----\n";
}

# N clients, each on its own path, released at the same instant; returns
# [{status, ra (Retry-After), xcs, elapsed, content_ok}] in path order
sub burst {
    my ($t, $paths, %opt) = @_;
    my $json = JSON::PP->new->canonical;
    local $SIG{PIPE} = 'IGNORE';
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $rd_r, my $rd_w) or die "pipe: $!";
    my @kids;
    for my $p (@$paths) {
        pipe(my $rr, my $rw) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            close $_ for $go_w, $rd_r, $rr, map { $_->{fh} } @kids;
            syswrite $rd_w, 'r';
            close $rd_w;
            sysread $go_r, my $b, 1;
            my $r = eval { $t->get($p, %opt) } || { status => 599, error => "$@", headers => {} };
            my $out = $json->encode({ status => $r->{status} + 0,
                                      ra => $r->{headers}{'retry-after'},
                                      xcs => $r->{headers}{'x-cache-status'},
                                      elapsed => $r->{elapsed},
                                      len => length($r->{content} // '') });
            my $off = 0;
            while ($off < length $out) {
                my $w = syswrite($rw, $out, length($out) - $off, $off) or last;
                $off += $w;
            }
            close $rw;
            POSIX::_exit(0);
        }
        close $rw;
        push @kids, { pid => $pid, fh => $rr };
    }
    close $rd_w;
    close $go_r;
    my $ready = 0;
    while ($ready < @kids) {
        my $got = sysread $rd_r, my $b, 4096 or last;
        $ready += $got;
    }
    close $rd_r;
    close $go_w;
    my @res;
    for my $k (@kids) {
        my $fh = $k->{fh};
        my $data = do { local $/; <$fh> } // '';
        close $fh;
        waitpid($k->{pid}, 0);
        push @res, (eval { $json->decode($data) } || { status => 599 });
    }
    return @res;
}

# ===========================================================================
# defaults (thim_cache_valid 5m 1d, thim_cache_negative_valid 1m), 2 workers

SKIP: {
    my ($t, $o) = start('defaults', workers => 2, http => 'thim_fetch_timeout 4s;')
        or skip 'no nginx', 1;

    # --- warm two entries ------------------------------------------------------
    my $r = $t->get($V_MILAN);
    ok($r->{status} == 200 && $r->{content} eq fx($V{$V_MILAN}), 'Milan VCEK cached');
    $r = $t->get('/vcek/v1/Milan/cert_chain');
    ok($r->{status} == 200 && $r->{content} eq fx('amd/milan/cert_chain.pem'), 'Milan cert_chain cached');

    # --- negative caching --------------------------------------------------------
    {
        my $unk = "/vcek/v1/Milan/$MILAN?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=200";
        $r = $t->get($unk);
        is($r->{status}, 404, 'unknown TCB: 404');
        is(xcs($r), 'MISS', '... MISS');
        is($r->{headers}{'content-type'}, 'application/json', '... JSON');
        $r = $t->get("/vcek/v1/Milan/\U$MILAN\E?ucodeSPL=200&snpSPL=08&teeSPL=00&blSPL=03");
        is($r->{status}, 404, 'again (another form of the key): 404');
        is(xcs($r), 'HIT', '... from the negative cache (HIT)');
        like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, '... Request-ID');
        ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), '... no empty header value');
        is($o->count($unk), 1, 'unknown TCB: one origin request');
        $r = $t->get("/vcek/v1/Milan/$MILAN?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=201");
        is(xcs($r), 'MISS', 'a negative entry is per key (another ucodeSPL)');

        my $chip = "/vcek/v1/Genoa/" . ('5a' x 64) . '?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=1';
        is($t->get($chip)->{status}, 404, 'unknown chip: 404');
        $r = $t->get($chip);
        ok($r->{status} == 404 && xcs($r) eq 'HIT', 'unknown chip again: HIT 404');
        is($o->count($chip), 1, 'unknown chip: one origin request');

        for my $crl ('/vcek/v1/Turin/crl', '/vlek/v1/Turin/crl') {
            $t->get($crl);
            $r = $t->get($crl);
            ok($r->{status} == 404 && xcs($r) eq 'HIT', "$crl (none at the origin): 404, then HIT");
            is($o->count($crl), 1, "$crl: one origin request");
        }
    }

    # --- 50 concurrent clients, one cold VCEK, 2 workers -----------------------
    {
        my $canon = $V_C384;
        my $padded = "/vcek/v1/Milan/$MC384?ucodeSPL=115&snpSPL=08&teeSPL=00&blSPL=03";
        $o->fault($canon, latency => 700);
        my @res = $t->parallel(50, $padded);
        my $want = fx($V{$canon});
        is(scalar(grep { $_->{status} == 200 && $_->{content} eq $want } @res), 50,
           '50 clients: all 200 with the VCEK bytes')
            or diag(join ' ', map { $_->{status} } @res);
        is($o->count($canon), 1, '50 clients: exactly one origin request');
        is($o->count("/vcek/v1/Milan/$MC384"), 1, '... and none in another form');
        my @lines = grep { $_->[3] =~ /\Q$MC384\E/ } ThimSetup::thim_log($t);
        my %pids = map { $_->[0] => 1 } @lines;
        is(scalar(keys %pids), 2, '50 clients were served by both workers');
        is(scalar(grep { $_->[2] eq 'MISS' } @lines), 1, 'one MISS in the log');
        $o->clear_faults;

        # the same over HTTP/2, a cold chain
        my $p = '/vlek/v1/Turin/cert_chain';
        $o->fault($p, latency => 500);
        @res = $t->parallel(12, $p, http2 => 1);
        is(scalar(grep { $_->{status} == 200 && $_->{proto} eq 'HTTP/2'
                         && $_->{content} eq fx('amd/turin/vlek_cert_chain.pem') } @res), 12,
           'HTTP/2: 12 concurrent clients all 200 with the chain bytes');
        is($o->count($p), 1, 'HTTP/2: one origin request');
        $o->clear_faults;
    }

    # --- answers that do not parse: 502, never cached --------------------------
    {
        # truncated by the origin (fault), once
        my $k = $V_D495;
        $o->fault($k, truncate => 1, times => 1);
        $r = $t->get($k);
        is($r->{status}, 502, 'truncated VCEK: 502');
        ok(json_of($r) && json_of($r)->{error}, '... JSON error');
        like(xcs($r), qr/^(MISS|HIT|UPDATING|STALE)$/, '... X-Cache-Status present (the cache was consulted)');
        is($o->count($k), 1, '... fetched once');
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq fx($V{$k}), 'next request: the full VCEK');
        is(xcs($r), 'MISS', '... MISS: nothing was cached');
        is($o->count($k), 2, '... the origin was asked again');
        is(xcs($t->get($k)), 'HIT', '... then HIT');

        # a truncated VCEK served on purpose: refused every time
        $k = $V_GENOA;
        my $der = fx($V{$k});
        $o->serve($k, body => substr($der, 0, 700));
        is($t->get($k)->{status}, 502, 'VCEK cut to 700 bytes: 502');
        is($t->get($k)->{status}, 502, '... again 502 (not cached)');
        is($o->count($k), 2, '... each asked the origin');
        $o->unserve($k);
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq $der && xcs($r) eq 'MISS',
           'origin good again: 200, MISS');

        # other bodies that are not a DER certificate
        $k = $V_3AC3;
        for my $case ([ 'an empty body', '' ],
                      [ 'a PEM VCEK (clients need DER)', pem_cert(fx($V{$k})) ],
                      [ 'a CRL', fx('amd/milan/crl.der') ],
                      [ 'HTML', "<html><body>rate limited</body></html>\n" ],
                      [ 'the DER with trailing garbage', fx($V{$k}) . "\0\0garbage" ])
        {
            my ($what, $body) = @$case;
            my $n = $o->count($k);
            $o->serve($k, body => $body);
            $r = $t->get($k);
            is($r->{status}, 502, "VCEK route, origin sends $what: 502");
            is($o->count($k), $n + 1, '... fetched');
        }
        $o->unserve($k);
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq fx($V{$k}) && xcs($r) eq 'MISS',
           'VCEK route: good again, MISS (none of them was cached)');

        # CRL
        $k = '/vcek/v1/Milan/crl';
        $o->fault($k, truncate => 1, times => 1);
        is($t->get($k)->{status}, 502, 'truncated CRL: 502');
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq fx('amd/milan/crl.der'), 'next: the full CRL');
        is(xcs($r), 'MISS', '... MISS');
        is($o->count($k), 2, '... asked again');
        $k = '/vcek/v1/Genoa/crl';
        $o->serve($k, file => $V{$V_GENOA});
        is($t->get($k)->{status}, 502, 'a certificate on the CRL route: 502');
        $o->unserve($k);
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq fx('amd/genoa/crl.der') && xcs($r) eq 'MISS',
           '... good again: the CRL, MISS');

        # cert_chain
        $k = '/vlek/v1/Milan/cert_chain';
        my $pem = fx('amd/milan/vlek_cert_chain.pem');
        for my $case ([ 'cut to 1000 bytes', substr($pem, 0, 1000) ],
                      [ 'DER instead of PEM', fx('amd/milan/ask.der') ],
                      [ 'an empty body', '' ],
                      [ 'no certificate', "hello\n" ])
        {
            my ($what, $body) = @$case;
            $o->serve($k, body => $body);
            is($t->get($k)->{status}, 502, "cert_chain $what: 502");
        }
        is($o->count($k), 4, 'cert_chain: each of them asked the origin');
        $o->unserve($k);
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq $pem && xcs($r) eq 'MISS',
           'cert_chain good again: 200, MISS');
    }

    # --- the origin's headers do not leak; the module's own Content-Type -----
    {
        my $k = $V_1975;
        $o->serve($k, file => $V{$k}, content_type => 'application/octet-stream',
                  headers => { 'Cache-Control' => 'no-store', 'Set-Cookie' => 'kds=1',
                               'Request-ID' => 'ffffffffffffffffffffffffffffffff' });
        $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq fx($V{$k}), 'VCEK with odd origin headers: 200');
        is($r->{headers}{'content-type'}, 'application/pkix-cert', '... Content-Type application/pkix-cert');
        like($r->{headers}{'cache-control'} // '', qr/^max-age=([1-9]\d*)$/, '... our Cache-Control');
        ok(!exists $r->{headers}{'set-cookie'}, "... no origin Set-Cookie");
        $o->unserve($k);
    }

    # --- 429: every worker holds off KDS for Retry-After seconds ---------------
    {
        my $b = $V_TURIN;                                   # the one that gets 429
        my @cold = ("/vcek/v1/Milan/$M1975?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=116",
                    '/vlek/v1/Genoa/cert_chain', '/vcek/v1/Turin/cert_chain',
                    '/vlek/v1/Milan/crl', "/vcek/v1/Bergamo/$GENOA?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=85");
        my $intel = '/sgx/certification/v4/tcb?fmspc=00906ed50000';
        # a window far wider than the checks below take on a busy machine
        my $ra = 12;
        $o->fault($b, status => 429, retry_after => $ra, times => 1);
        my $t0 = time;
        $r = $t->get($b);
        is($r->{status}, 503, 'KDS 429 -> 503');
        is($r->{headers}{'retry-after'}, $ra, "... with KDS's Retry-After");
        ok(json_of($r), '... JSON body');
        is($o->count($b), 1, '... one request');
        my $n = $o->total;

        for my $p (@cold) {
            $r = $t->get($p);
            is($r->{status}, 503, 'held off: ' . short($p) . ' -> 503 at once');
            my $h = $r->{headers}{'retry-after'};
            ok(defined $h && $h =~ /^\d+$/ && $h >= 1 && $h <= $ra,
               "... Retry-After 1..$ra")
                or diag('Retry-After: ' . ($h // 'none'));
            # waiting would cost the fetch timeout (4 s): far more than a busy
        # machine's slowest answer
        ok($r->{elapsed} < 3, '... without waiting for anything');
        }
        my $mark = () = ThimSetup::thim_log($t);
        my @res = $t->parallel(12, $cold[0]);
        is(scalar(grep { $_->{status} == 503 } @res), 12, 'held off: 12 parallel clients all 503');
        my @held = grep { defined } (ThimSetup::thim_log($t))[$mark .. ($mark + 11)];
        my %pids = map { $_->[0] => 1 } grep { $_->[1] == 503 } @held;
        is(scalar(keys %pids), 2, '... from both workers');

        $r = $t->get($V_MILAN);
        ok($r->{status} == 200 && $r->{content} eq fx($V{$V_MILAN}), 'held off: a cached VCEK is still served');
        $r = $t->get('/vcek/v1/Milan/cert_chain');
        ok($r->{status} == 200 && $r->{content} eq fx('amd/milan/cert_chain.pem'),
           'held off: a cached chain is still served');
        is($o->total, $n, 'KDS saw no request during the hold-off')
            or diag(join "\n", sort keys %{ $o->counts });

        # Intel is another origin: not held off by KDS's 429
        $r = $t->get($intel);
        is($r->{status}, 200, 'Intel during the AMD hold-off: 200 (another origin)');
        is(xcs($r), 'MISS', '... fetched');
        is($o->count("$intel&update=standard"), 1, '... from the origin');
        ok(time - $t0 < $ra, "all of that within the $ra s hold-off")
            or diag('took ' . (time - $t0) . ' s: the checks above may be void');

        sleep($ra + 0.3 - (time - $t0)) if time - $t0 < $ra + 0.3;
        $r = $t->get($cold[1]);
        ok($r->{status} == 200 && $r->{content} eq fx('amd/genoa/vlek_cert_chain.pem'),
           'after Retry-After: KDS is asked again');
        is(xcs($r), 'MISS', '... MISS');
        is($o->count($cold[1]), 1, '... one request for it');
        $r = $t->get($b);
        ok($r->{status} == 200 && $r->{content} eq fx($V{$b}), 'the key that got the 429 is fetched now too');
    }

    # --- and an Intel 429 does not hold off AMD --------------------------------
    {
        my $ib = '/sgx/certification/v4/tcb?fmspc=00a06d080000';
        $o->fault("$ib&update=standard", status => 429, retry_after => 2, times => 1);
        is($t->get($ib)->{status}, 503, 'Intel 429 -> 503');
        is($t->get('/sgx/certification/v4/tcb?fmspc=90806f000000')->{status}, 503,
           '... Intel is held off');
        $r = $t->get('/vcek/v1/Genoa/cert_chain');
        ok($r->{status} == 200 && $r->{content} eq fx('amd/genoa/cert_chain.pem'),
           'AMD during the Intel hold-off: 200');
        is($o->count('/vcek/v1/Genoa/cert_chain'), 1, '... fetched from KDS');
    }
}

# ===========================================================================
# a 429 storm: KDS answers 429 (Retry-After: 8) to everything; waves of 30
# concurrent clients on distinct cold VCEK keys, 2 workers -> KDS sees
# exactly one request per Retry-After window.  The window is far wider
# than two bursts take even on a slow, busy machine (a burst of 30 TLS
# clients has taken over a second there), so the assertions are about
# the hold-off, not about the machine's speed.

SKIP: {
    # one KDS request at a time: each Retry-After window costs KDS one
    my ($t, $o) = start('429 storm', workers => 2,
                        http => 'thim_fetch_timeout 4s; thim_amd_max_fetches 1;')
        or skip 'no nginx', 1;

    my $wave = 0;
    my $keys = sub {          # 30 distinct cold VCEK keys, new ones per wave
        my @k;
        for my $i (0 .. 29) {
            my $u = $wave * 30 + $i;
            push @k, $i % 3 == 0 ? "/vcek/v1/Milan/$MILAN?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=$u"
                   : $i % 3 == 1 ? "/vcek/v1/Genoa/$GENOA?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=$u"
                   :               "/vcek/v1/Turin/$TURIN?fmcSPL=1&blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=$u";
        }
        $wave++;
        return \@k;
    };
    my $kds = sub { $o->count('/vcek/v1/Milan/' . $MILAN) + $o->count('/vcek/v1/Genoa/' . $GENOA)
                    + $o->count('/vcek/v1/Turin/' . $TURIN) };
    my $ra = 20;
    my $all503 = sub {
        my ($name, @res) = @_;
        my @bad = grep { $_->{status} != 503 || !defined $_->{ra} || $_->{ra} !~ /^\d+$/
                         || $_->{ra} < 1 || $_->{ra} > $ra } @res;
        ok(!@bad, "$name: all 30 answered 503 with Retry-After 1..$ra")
            or diag(join ' ', map { "$_->{status}/" . ($_->{ra} // '-') } @res);
    };

    # two bursts of 30 clients took 10.5 s on a busy 2-core machine: a
    # window twice that, so that the waves are inside it however slow
    $o->fault('/vcek/v1/', status => 429, retry_after => $ra, latency => 300);

    # window 1: a cold start, nothing known about KDS yet
    my $t0 = time;
    my @res = burst($t, $keys->());
    $all503->('wave 1 (cold)', @res);
    is($kds->(), 1, 'wave 1: 30 cold keys at once -> exactly one KDS request')
        or diag($kds->() . ' requests');
    my $w1 = $kds->();

    # still window 1
    sleep 0.3;
    @res = burst($t, $keys->());
    $all503->('wave 2 (held off)', @res);
    is($kds->(), $w1, 'wave 2, within Retry-After: no KDS request');
    ok(time - $t0 < $ra, 'wave 2 was inside the window') or diag(time - $t0);

    # window 2: after Retry-After, one request probes KDS, the rest stay held
    sleep($ra + 0.9 - (time - $t0)) if time - $t0 < $ra + 0.9;
    my $t1 = time;
    @res = burst($t, $keys->());
    $all503->('wave 3 (after the window)', @res);
    is($kds->() - $w1, 1, 'wave 3, after Retry-After: exactly one KDS request')
        or diag(($kds->() - $w1) . ' requests');
    my $w3 = $kds->();
    sleep 0.3;
    @res = burst($t, $keys->());
    $all503->('wave 4 (held off again)', @res);
    is($kds->(), $w3, 'wave 4, within the new window: no KDS request');
    ok(time - $t1 < $ra, 'wave 4 was inside the new window') or diag(time - $t1);
    is($o->total, $kds->(), 'nothing else reached the origin');
    $o->clear_faults;
}

# ===========================================================================
# short lifetimes: thim_cache_valid 2s, thim_cache_negative_valid 2s; KDS
# failing for a long time never takes a cached copy away.  The CRL expires
# after 1 s and is asked for again; VCEKs and chains are kept until their
# certificates expire (PROTOCOLS.md 1c), so for them this checks that an
# outage never drops them, whatever the module asks KDS meanwhile.

SKIP: {
    my ($t, $o) = start('short lifetimes', workers => 2,
                        http => "thim_cache_valid 2s;\n    thim_cache_negative_valid 2s;\n    thim_fetch_timeout 4s;")
        or skip 'no nginx', 1;

    my %keep = ($V_MILAN => fx($V{$V_MILAN}),
                $V_TURIN => fx($V{$V_TURIN}),
                '/vcek/v1/Milan/cert_chain' => fx('amd/milan/cert_chain.pem'),
                '/vlek/v1/Genoa/cert_chain' => fx('amd/genoa/vlek_cert_chain.pem'),
                '/vcek/v1/Genoa/crl' => fx('amd/genoa/crl.der'));
    for my $k (sort keys %keep) {
        my $r = $t->get($k);
        ok($r->{status} == 200 && $r->{content} eq $keep{$k}, 'cached: ' . short($k));
        my ($age) = ($r->{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/;
        if ($k =~ /crl$/) {
            # a CRL follows its nextUpdate (past) within thim_cache_valid
            ok(defined $age && $age >= 1 && $age <= 2, '... max-age follows thim_cache_valid 2s')
                or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
        } else {
            # VCEKs and chains never change for their URL (PROTOCOLS.md 1c:
            # "cache until notAfter"); G8 caps what clients are told
            ok(defined $age && $age >= 1 && $age <= 86400, '... max-age in 1..86400')
                or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
        }
    }
    my $unk = "/vcek/v1/Milan/$MILAN?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=117";
    is($t->get($unk)->{status}, 404, 'unknown TCB: 404');
    is($o->count($unk), 1, '... asked once');
    sleep 2.3;

    # --- a negative entry expires ----------------------------------------------
    is($t->get($unk)->{status}, 404, 'after 2s: unknown TCB still 404');
    ok($t->wait_for(sub { $o->count($unk) >= 2 }, timeout => 10),
       '... and KDS is asked again');

    # --- KDS answering 500, then 503, for "hours" --------------------------------
    my %n0 = map { $_ => $o->count($_) } keys %keep;
    for my $phase ([ 500, undef ], [ 503, undef ]) {
        my ($st, $ra) = @$phase;
        $o->clear_faults;
        $o->fault($_, status => $st, defined $ra ? (retry_after => $ra) : ()) for '/vcek/', '/vlek/';
        my ($bad, $tries, %seen) = (0, 0);
        my $until = time + 1.2;
        my $last;
        while (time < $until) {
            for my $k (sort keys %keep) {
                $last = $t->get($k);
                $tries++;
                $seen{ xcs($last) }++;
                unless ($last->{status} == 200 && $last->{content} eq $keep{$k}) {
                    $bad++;
                    diag(short($k) . ": $last->{status} " . xcs($last)) if $bad < 4;
                }
            }
            sleep 0.1;
        }
        my $what = "KDS $st" . (defined $ra ? " (Retry-After $ra)" : '');
        is($bad, 0, "$what: every cached VCEK/chain/CRL still served, byte for byte ($tries requests)");
        diag("$what: X-Cache-Status seen: " . join(', ', map { "$_ $seen{$_}" } sort keys %seen));
    }
    ok($o->count('/vcek/v1/Genoa/crl') > $n0{'/vcek/v1/Genoa/crl'},
       'the expired CRL was asked for again (and refused by KDS)');
    $o->clear_faults;

    # nothing cached and KDS failing: 502, not 404 (PROTOCOLS.md 0, 6.1 #1)
    $o->fault('/vcek/', status => 500);
    my $r = $t->get($V_C384);
    is($r->{status}, 502, 'cold VCEK, KDS 500: 502');
    $o->clear_faults;
    $o->fault('/vcek/', status => 503);
    $r = $t->get($V_D495);
    is($r->{status}, 502, 'cold VCEK, KDS 503 without Retry-After: 502');
    $o->clear_faults;

    # --- a KDS 404 never replaces a cached VCEK (nor chain/CRL) ------------------
    my %n1 = map { $_ => $o->count($_) } keys %keep;
    $o->serve($_, status => 404, body => '') for keys %keep;
    sleep 2.1;
    my ($bad, $tries) = (0, 0);
    my $until = time + 1.3;
    while (time < $until) {
        for my $k (sort keys %keep) {
            $r = $t->get($k);
            $tries++;
            unless ($r->{status} == 200 && $r->{content} eq $keep{$k}) {
                $bad++;
                diag(short($k) . ": $r->{status} " . xcs($r)) if $bad < 4;
            }
        }
        sleep 0.15;
    }
    is($bad, 0, "KDS answering 404 after expiry: the cached copies kept ($tries requests)");
    ok($o->count('/vcek/v1/Genoa/crl') > $n1{'/vcek/v1/Genoa/crl'},
       '... KDS was asked for the expired CRL (and said 404)');
    $o->clear_serves;
    my $got = $t->wait_for(sub { xcs($t->get('/vcek/v1/Genoa/crl')) eq 'HIT' },
                           timeout => 10, interval => 0.1);
    ok($got, 'KDS good again: the CRL refreshed, HIT');
}

# ===========================================================================
# a KDS 429 without Retry-After (PROTOCOLS.md 4.2: unverified whether KDS
# sends one): 503 with the module's own back-off, and KDS held off

SKIP: {
    my ($t, $o) = start('429 without Retry-After', workers => 2)
        or skip 'no nginx', 1;
    my $r = $t->get($V_MILAN);
    ok($r->{status} == 200 && $r->{content} eq fx($V{$V_MILAN}), 'Milan VCEK cached');
    $o->serve($V_GENOA, status => 429, body => '', headers => { 'Retry-After' => undef });
    my $d = $t->get($V_GENOA, port => $o->port);
    ok($d->{status} == 429 && !exists $d->{headers}{'retry-after'},
       'the emulator answers 429 without Retry-After');
    $o->reset;
    $r = $t->get($V_GENOA);
    is($r->{status}, 503, 'KDS 429 without Retry-After -> 503 (never 404)');
    like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/,
         "... with the module's own Retry-After")
        or diag('Retry-After: ' . ($r->{headers}{'retry-after'} // 'none'));
    $r = $t->get($V_TURIN);
    is($r->{status}, 503, 'another cold AMD key: held off (503)');
    like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, '... with Retry-After');
    $r = $t->get($V_MILAN);
    ok($r->{status} == 200 && $r->{content} eq fx($V{$V_MILAN}), 'a cached VCEK: still 200');
    is($o->total, 1, 'KDS was asked once');
}

done_testing();
