#!/usr/bin/perl
# The AMD KDS-compatible routes end to end (PROTOCOLS.md 0, 1c, 2, 3, 4.2),
# written from the specification and checked byte for byte against the
# fixtures in t/data/amd: the VCEK of every product (Milan incl. the THIM
# host's b12164b4..., Genoa with its Siena/Bergamo aliases, Turin with its
# 16-hex id and fmcSPL), cert_chain and crl of /vcek/ and /vlek/; padded,
# unpadded and reordered SPLs and either hwid case share ONE entry and ONE
# canonical origin request; every response follows the global rules; HTTP/2
# gives the same bytes; HEAD works; malformed input (bad hwid, bad SPLs,
# unknown or lower-case product, extra path segments, huge queries, other
# methods) is refused without an origin request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Test::More;
use ThimSetup;

my ($t, $o) = eval { ThimSetup::start(workers => 2) };
unless ($t) {
    fail('nginx starts with thim_amd and /_thim/amd/');
    diag($@);
    done_testing();
    exit;
}

# ---------------------------------------------------------------------------
# fixtures

sub fx { ThimSetup::fixture(@_) }

# every VCEK fixture: product => [{hwid, bl, tee, snp, ucode, fmc, file}]
my %VCEK;
for my $p (qw(milan genoa turin)) {
    opendir(my $d, "$ThimSetup::DATA/amd/$p/vcek") or die "amd/$p/vcek: $!";
    for my $f (sort readdir $d) {
        next unless $f =~ /^([0-9a-f]+)_bl(\d+)_tee(\d+)_snp(\d+)_ucode(\d+)(?:_fmc(\d+))?\.der$/;
        push @{ $VCEK{$p} }, { hwid => $1, bl => $2, tee => $3, snp => $4, ucode => $5,
                               fmc => $6 // 0, file => "amd/$p/vcek/$f" };
    }
}
is(scalar @{ $VCEK{milan} }, 5, 'fixtures: 5 Milan VCEKs');
is(scalar @{ $VCEK{genoa} }, 1, 'fixtures: 1 Genoa VCEK');
is(scalar @{ $VCEK{turin} }, 1, 'fixtures: 1 Turin VCEK');

my %P = (milan => 'Milan', genoa => 'Genoa', turin => 'Turin');

# the canonical KDS query of a fixture (PROTOCOLS.md 1c, Rule)
sub canon_q {
    my ($p, $v) = @_;
    return ($p eq 'turin' ? "fmcSPL=$v->{fmc}&" : '')
        . "blSPL=$v->{bl}&teeSPL=$v->{tee}&snpSPL=$v->{snp}&ucodeSPL=$v->{ucode}";
}
sub canon_path {
    my ($p, $v) = @_;
    return "/vcek/v1/$P{$p}/$v->{hwid}?" . canon_q($p, $v);
}

my ($THIM) = grep { $_->{hwid} =~ /^b12164b4/ } @{ $VCEK{milan} };
my ($GEN) = @{ $VCEK{genoa} };
my ($TUR) = @{ $VCEK{turin} };
my %M = map { substr($_->{hwid}, 0, 4) => $_ } @{ $VCEK{milan} };
ok($THIM && $M{'3ac3'} && $M{c384} && $M{d495} && $M{'1975'},
   'fixtures: the Milan hwids expected');

# ---------------------------------------------------------------------------
# response checks

sub json_of { eval { JSON::PP::decode_json($_[0]{content}) } }
sub xcs { $_[0]{headers}{'x-cache-status'} }

# the global rules every response obeys (G1, G2, G4, G7, G8; item 5 of the
# design): refused requests (400, 405, unknown-route 404) consulted no cache
# and carry no X-Cache-Status; everything else carries one
sub common {
    my ($r, $name, %opt) = @_;
    my $ok = 1;
    $ok &&= like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/,
                 "$name: Request-ID");
    if ($opt{refused}) {
        $ok &&= ok(!exists $r->{headers}{'x-cache-status'},
                   "$name: no X-Cache-Status on a refused request")
            or diag('X-Cache-Status: ' . xcs($r));
    } else {
        $ok &&= like(xcs($r) // '', qr/^(MISS|HIT|UPDATING|STALE)$/,
                     "$name: X-Cache-Status present")
            or diag('X-Cache-Status: ' . (xcs($r) // 'none'));
    }
    my @empty = grep { $_->[1] eq '' } @{ $r->{header_list} };
    $ok &&= ok(!@empty, "$name: no empty header value")
        or diag(join ', ', map { $_->[0] } @empty);
    if ($r->{proto} eq 'HTTP/1.1') {
        $ok &&= like($r->{status_line} // '', qr{^HTTP/1\.1 \d{3}\b}, "$name: HTTP/1.1 status line");
    }
    if ($r->{status} == 200) {
        my ($age) = ($r->{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/;
        $ok &&= ok(defined $age && $age >= 1 && $age <= 86400,
                   "$name: Cache-Control max-age in 1..86400")
            or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
    } elsif ($r->{status} >= 400 && ($opt{method} // 'GET') ne 'HEAD') {
        my $j = json_of($r);
        $ok &&= ok($j && length($j->{error} // ''), "$name: JSON error body")
            or diag(substr($r->{content}, 0, 200));
        $ok &&= is($r->{headers}{'content-type'}, 'application/json',
                   "$name: error is application/json");
        $ok &&= ok($r->{headers}{'error-code'} && $r->{headers}{'error-message'},
                   "$name: Error-Code / Error-Message (G4)");
    }
    return $ok;
}

# one request with the common checks
sub req {
    my ($path, $name, %opt) = @_;
    my $refused = delete $opt{refused};
    my $r = $t->get($path, %opt);
    common($r, $name, refused => $refused, method => $opt{method});
    return $r;
}

# 200 with the expected bytes and Content-Type
sub same {
    my ($r, $name, $body, $ctype) = @_;
    is($r->{status}, 200, "$name: 200") or diag(substr($r->{content}, 0, 300));
    ok($r->{content} eq $body, "$name: body byte for byte")
        or diag(length($r->{content}) . ' bytes vs ' . length($body));
    is($r->{headers}{'content-type'}, $ctype, "$name: Content-Type $ctype") if $ctype;
}

my $CERT = 'application/pkix-cert';
my $PEM  = 'application/x-pem-file';
my $CRL  = 'application/pkix-crl';

# ---------------------------------------------------------------------------
# the emulator itself answers the canonical KDS requests with the fixtures
# (so that what follows tests the module, not the emulator); then forgotten

for my $p (sort keys %VCEK) {
    for my $v (@{ $VCEK{$p} }) {
        my $r = $t->get(canon_path($p, $v), port => $o->port);
        ok($r->{status} == 200 && $r->{content} eq fx($v->{file}),
           "emulator serves " . substr(canon_path($p, $v), 0, 40) . '...');
    }
}
for my $p (qw(Milan Genoa Turin)) {
    my $r = $t->get("/vcek/v1/$p/cert_chain", port => $o->port);
    ok($r->{status} == 200 && $r->{content} eq fx("amd/\L$p\E/cert_chain.pem"),
       "emulator serves $p cert_chain");
}
$o->reset;

# ---------------------------------------------------------------------------
# 1. VCEK: every fixture, each first asked in another client's form

{
    # go-sev-guest / tinfoil: unpadded, canonical order, lower-case hwid
    my $v = $THIM;
    my $canon = canon_path('milan', $v);
    is($canon, '/vcek/v1/Milan/b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d0f5a?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115',
       'THIM host VCEK: canonical KDS request (tcbm 7308000000000003, PROTOCOLS.md 3)');
    my $r = req($canon, 'Milan VCEK (THIM host)');
    same($r, 'Milan VCEK (THIM host)', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'Milan VCEK: MISS first');
    is($o->count($canon), 1, 'Milan VCEK: origin asked the canonical request once');
    like(unpack('H4', $r->{content}), qr/^3082/, 'VCEK body is DER (SEQUENCE), not PEM');

    # every other form of the same key: one entry, no new origin request
    my $h = $v->{hwid};
    my $n = $o->total;
    for my $q ("/vcek/v1/Milan/\U$h\E?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
               "/vcek/v1/Milan/" . substr($h, 0, 64) . uc(substr($h, 64)) . '?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115',
               "/vcek/v1/Milan/$h?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115",
               "/vcek/v1/Milan/$h?blSPL=003&teeSPL=000&snpSPL=008&ucodeSPL=115",
               "/vcek/v1/Milan/$h?ucodeSPL=115&snpSPL=8&teeSPL=0&blSPL=3",
               "/vcek/v1/Milan/$h?snpSPL=08&blSPL=3&ucodeSPL=115",
               "/vcek/v1/Milan/$h?blSPL=3&snpSPL=8&ucodeSPL=115",
               "/vcek/v1/Milan/$h?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115&fmcSPL=7",
               "/vcek/v1/Milan/$h?clientid=x&blSPL=3&teeSPL=0&api-version=1&snpSPL=8&ucodeSPL=115",
               "/vcek/v1/Milan/$h?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115&blSPL=9",
               "/vcek/v1/Milan/$h?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115&ucodeSPL=bogus",
               "/vcek/v1/Milan/\U$h\E?ucodeSPL=115&teeSPL=00&blSPL=03&snpSPL=008")
    {
        my $name = 'Milan VCEK as ' . ($q =~ s/[0-9a-fA-F]{128}/<hwid>/r);
        $r = req($q, $name);
        same($r, $name, fx($v->{file}), $CERT);
        is(xcs($r), 'HIT', "$name: HIT (the same entry)");
    }
    is($o->total, $n, 'hwid case, padding, order, omitted teeSPL, fmcSPL on Milan, '
       . 'unknown keys, a repeated key: no further origin request')
        or diag(join "\n", sort keys %{ $o->counts });
    is($o->count("/vcek/v1/Milan/$h"), 1, '... one origin request for that chip in all');
}

{
    # lit (zero-padded) first: the origin still gets unpadded decimals
    my $v = $M{'3ac3'};
    my $r = req("/vcek/v1/Milan/$v->{hwid}?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=068",
                'Milan VCEK 3ac3 padded');
    same($r, 'Milan VCEK 3ac3 padded', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'padded first request: MISS');
    is($o->count(canon_path('milan', $v)), 1, 'padded request: origin asked unpadded');
    is($o->count("/vcek/v1/Milan/$v->{hwid}"), 1, '... and nothing else for that chip');

    # confidential-sidecar order first
    $v = $M{c384};
    $r = req("/vcek/v1/Milan/$v->{hwid}?ucodeSPL=115&snpSPL=8&teeSPL=0&blSPL=3",
             'Milan VCEK c384 reordered');
    same($r, 'Milan VCEK c384 reordered', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'reordered first request: MISS');
    is($o->count(canon_path('milan', $v)), 1, 'reordered request: origin asked in canonical order');

    # snpguest-style upper-case hwid first
    $v = $M{d495};
    $r = req("/vcek/v1/Milan/\U$v->{hwid}\E?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115",
             'Milan VCEK d495 upper-case');
    same($r, 'Milan VCEK d495 upper-case', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'upper-case hwid first: MISS');
    is($o->count(canon_path('milan', $v)), 1, 'upper-case hwid: origin asked lower case');
}

{
    # Genoa, and Siena / Bergamo as aliases of Genoa's entry
    my $v = $GEN;
    my $canon = canon_path('genoa', $v);
    my $r = req($canon, 'Genoa VCEK');
    same($r, 'Genoa VCEK', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'Genoa VCEK: MISS');
    is($o->count($canon), 1, 'Genoa VCEK: canonical origin request');
    for my $alias (qw(Siena Bergamo)) {
        $r = req("/vcek/v1/$alias/$v->{hwid}?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84",
                 "$alias VCEK");
        same($r, "$alias VCEK", fx($v->{file}), $CERT);
        is(xcs($r), 'HIT', "$alias VCEK: HIT on Genoa's entry");
    }
    $r = req("/vcek/v1/Bergamo/\U$v->{hwid}\E?ucodeSPL=084&snpSPL=023&blSPL=010",
             'Bergamo VCEK padded, reordered, upper-case');
    same($r, 'Bergamo VCEK padded', fx($v->{file}), $CERT);
    is(xcs($r), 'HIT', '... HIT');
    is($o->count($canon), 1, 'Genoa VCEK: still one origin request');
    my @alias = grep { /Siena|Bergamo/ } keys %{ $o->counts };
    ok(!@alias, 'the origin is never asked for Siena or Bergamo') or diag(join "\n", @alias);
}

{
    # Turin: 16-hex id, fmcSPL first in the canonical query
    my $v = $TUR;
    my $canon = canon_path('turin', $v);
    is($canon, '/vcek/v1/Turin/1e550a8ee5cf9f4d?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9',
       'Turin canonical request as in the fixture README');
    my $r = req("/vcek/v1/Turin/$v->{hwid}?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9&fmcSPL=0",
                'Turin VCEK (fmcSPL last)');
    same($r, 'Turin VCEK', fx($v->{file}), $CERT);
    is(xcs($r), 'MISS', 'Turin VCEK: MISS');
    is($o->count($canon), 1, 'Turin VCEK: origin asked fmcSPL first');
    my $n = $o->total;
    my $h = $v->{hwid};
    for my $q ("/vcek/v1/Turin/\U$h\E?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9",
               "/vcek/v1/Turin/$h" . ('0' x 112) . '?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9',
               "/vcek/v1/Turin/\U$h\E" . ('0' x 112) . '?ucodeSPL=09',
               "/vcek/v1/Turin/$h?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9",
               "/vcek/v1/Turin/$h?ucodeSPL=9",
               "/vcek/v1/Turin/$h?ucodeSPL=009&fmcSPL=000&blSPL=00")
    {
        my $name = 'Turin VCEK as ' . ($q =~ s/\?.*//r =~ s{.*/}{}r) . ' ' . ($q =~ s/.*\?//r);
        $r = req($q, $name);
        same($r, $name, fx($v->{file}), $CERT);
        is(xcs($r), 'HIT', "$name: HIT");
    }
    is($o->total, $n, 'Turin: upper case, 128 hex with 112 zeros, omitted fmcSPL/SPLs, '
       . 'padding: no further origin request');
    my @long = grep { m{/Turin/[0-9a-fA-F]{17,}} } keys %{ $o->counts };
    ok(!@long, 'the origin never gets a 128-hex Turin id') or diag(join "\n", @long);

    # a different fmcSPL is another key (Turin's TCB includes it)
    $r = req("/vcek/v1/Turin/$h?fmcSPL=1&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9",
             'Turin VCEK fmcSPL=1');
    is($r->{status}, 404, 'Turin fmcSPL=1: the origin has none -> 404');
    is(xcs($r), 'MISS', '... MISS (fmcSPL is part of the key)');
    is($o->count("/vcek/v1/Turin/$h?fmcSPL=1&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9"), 1,
       '... asked with fmcSPL=1');
}

# ---------------------------------------------------------------------------
# 1. origin 404 (unknown TCB or chip): 404 JSON, cached briefly

{
    my $h = $THIM->{hwid};
    my $q = "/vcek/v1/Milan/$h?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=116";
    my $r = req($q, 'unknown TCB');
    is($r->{status}, 404, 'unknown TCB -> 404');
    is(xcs($r), 'MISS', '... MISS');
    $r = req("/vcek/v1/Milan/\U$h\E?ucodeSPL=116&snpSPL=08&blSPL=03", 'unknown TCB again');
    is($r->{status}, 404, 'unknown TCB again -> 404');
    is(xcs($r), 'HIT', '... from the negative cache');
    is($o->count($q), 1, 'unknown TCB: one origin request');

    my $chip = 'ab' x 64;
    $r = req("/vcek/v1/Genoa/$chip?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=1", 'unknown chip');
    is($r->{status}, 404, 'unknown chip -> 404');
    is(xcs($r), 'MISS', '... MISS');

    # a key name in another case is an unknown key: ignored, so blSPL = 0
    $r = req("/vcek/v1/Milan/$h?BLSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115", 'BLSPL (wrong case)');
    is($r->{status}, 404, 'BLSPL=3 is not blSPL: blSPL=0 -> the origin has none -> 404');
    is($o->count("/vcek/v1/Milan/$h?blSPL=0&teeSPL=0&snpSPL=8&ucodeSPL=115"), 1,
       '... asked with blSPL=0');
    $r = req("/vcek/v1/Milan/$h?blspl=3&teeSPL=0&snpSPL=8&ucodeSPL=115", 'blspl (wrong case)');
    is($r->{status}, 404, 'blspl=3 is not blSPL either');
    is(xcs($r), 'HIT', '... the same (negative) entry as blSPL=0');

    # the first occurrence of a repeated key wins (G6)
    $r = req("/vcek/v1/Milan/$h?blSPL=9&teeSPL=0&snpSPL=8&ucodeSPL=115&blSPL=3", 'blSPL=9&...&blSPL=3');
    is($r->{status}, 404, 'blSPL=9 first: bl 9, which the origin does not have -> 404');
    is($o->count("/vcek/v1/Milan/$h?blSPL=9&teeSPL=0&snpSPL=8&ucodeSPL=115"), 1, '... asked with blSPL=9');

    # no query at all: every SPL omitted counts as 0 (as KDS)
    $r = req("/vcek/v1/Milan/$h", 'VCEK without a query');
    is($r->{status}, 404, 'no SPLs: all 0 -> the origin has none -> 404');
    is($o->count("/vcek/v1/Milan/$h?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=0"), 1,
       '... asked with all four SPLs 0');
    $r = req("/vcek/v1/Milan/$h?", 'VCEK with an empty query');
    is(xcs($r), 'HIT', 'an empty query is the same key');
}

# ---------------------------------------------------------------------------
# 2., 3. cert_chain and crl for /vcek/ and /vlek/

for my $p (qw(Milan Genoa Turin)) {
    my $lp = lc $p;
    for my $case ([vcek => 'cert_chain.pem'], [vlek => 'vlek_cert_chain.pem']) {
        my ($kind, $file) = @$case;
        my $path = "/$kind/v1/$p/cert_chain";
        my $want = fx("amd/$lp/$file");
        my $r = req($path, $path);
        same($r, $path, $want, $PEM);
        is(xcs($r), 'MISS', "$path: MISS");
        is($o->count($path), 1, "$path: one origin request, same path");
        is(scalar(() = $r->{content} =~ /-----BEGIN CERTIFICATE-----/g), 2,
           "$path: two certificates (ASK/ASVK then ARK)");
        if ($p eq 'Turin') {
            like($r->{content}, qr/\r\n/, "$path: Turin's CRLF line ends kept");
        } else {
            unlike($r->{content}, qr/\r/, "$path: LF line ends kept");
        }
        $r = req("$path?clientid=x", "$path?clientid=x");
        same($r, "$path?clientid=x", $want, $PEM);
        is(xcs($r), 'HIT', "$path: a query is ignored, HIT");
        is($o->count($path), 1, "$path: still one origin request");
    }
}

for my $p (qw(Milan Genoa)) {
    my $want = fx("amd/\L$p\E/crl.der");
    for my $kind (qw(vcek vlek)) {
        my $path = "/$kind/v1/$p/crl";
        my $r = req($path, $path);
        same($r, $path, $want, $CRL);
        is(xcs($r), 'MISS', "$path: MISS");
        is($o->count($path), 1, "$path: one origin request, same path");
        $r = req($path, "$path again");
        is(xcs($r), 'HIT', "$path: HIT");
    }
}

for my $kind (qw(vcek vlek)) {
    # no Turin CRL at the origin
    my $path = "/$kind/v1/Turin/crl";
    my $r = req($path, $path);
    is($r->{status}, 404, "$path: origin 404 -> 404");
    is(xcs($r), 'MISS', "$path: MISS");
    $r = req($path, "$path again");
    is($r->{status}, 404, "$path again: 404");
    is(xcs($r), 'HIT', "$path: negative entry HIT");
    is($o->count($path), 1, "$path: one origin request");
}

# the aliases reach Genoa's chain and CRL entries
for my $alias (qw(Siena Bergamo)) {
    for my $case (["/vcek/v1/$alias/cert_chain", 'amd/genoa/cert_chain.pem', $PEM],
                  ["/vlek/v1/$alias/cert_chain", 'amd/genoa/vlek_cert_chain.pem', $PEM],
                  ["/vcek/v1/$alias/crl", 'amd/genoa/crl.der', $CRL])
    {
        my ($path, $f, $ct) = @$case;
        my $r = req($path, $path);
        same($r, $path, fx($f), $ct);
        is(xcs($r), 'HIT', "$path: Genoa's entry (HIT)");
    }
}
{
    my @alias = grep { /Siena|Bergamo/ } keys %{ $o->counts };
    ok(!@alias, 'the origin is never asked for Siena or Bergamo') or diag(join "\n", @alias);
}

# ---------------------------------------------------------------------------
# 5. HTTP/2: the same bytes

for my $case (
    [ canon_path('milan', $THIM), $CERT ],
    [ "/vcek/v1/Turin/\U$TUR->{hwid}\E?ucodeSPL=9", $CERT ],
    [ "/vcek/v1/Siena/$GEN->{hwid}?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84", $CERT ],
    [ '/vcek/v1/Milan/cert_chain', $PEM ],
    [ '/vcek/v1/Turin/cert_chain', $PEM ],
    [ '/vlek/v1/Genoa/cert_chain', $PEM ],
    [ '/vcek/v1/Genoa/crl', $CRL ],
)
{
    my ($p, $ct) = @$case;
    my $name = 'h2 ' . ($p =~ s/[0-9a-fA-F]{16,}/<hwid>/r);
    my $h1 = $t->get($p);
    my $h2 = req($p, $name, http2 => 1);
    is($h2->{proto}, 'HTTP/2', "$name: HTTP/2 used");
    is($h2->{status}, 200, "$name: 200");
    ok($h1->{status} == 200 && $h2->{content} eq $h1->{content},
       "$name: same bytes as the HTTP/1.1 200");
    is($h2->{headers}{'content-type'}, $ct, "$name: Content-Type");
}
{
    my $r = req('/vcek/v1/Venice/cert_chain', 'h2 unknown product', http2 => 1, refused => 1);
    is($r->{status}, 404, 'h2 unknown product: 404');
    $r = req("/vcek/v1/Milan/$THIM->{hwid}?blSPL=128", 'h2 bad SPL', http2 => 1, refused => 1);
    is($r->{status}, 400, 'h2 bad SPL: 400');
}

# ---------------------------------------------------------------------------
# HEAD: no body, the length of the body

for my $p (canon_path('milan', $THIM), '/vcek/v1/Genoa/cert_chain', '/vcek/v1/Milan/crl') {
    my $name = 'HEAD ' . ($p =~ s/[0-9a-f]{128}/<hwid>/r);
    my $g = $t->get($p);
    my $r = req($p, $name, method => 'HEAD');
    is($r->{status}, 200, "$name: 200");
    is($r->{content}, '', "$name: no body");
    is($r->{headers}{'content-length'}, length $g->{content}, "$name: Content-Length");
    is($r->{headers}{'content-type'}, $g->{headers}{'content-type'}, "$name: Content-Type");
}
{
    # HEAD on a cold VCEK: fetched (as GET), answered without a body
    my $v = $M{'1975'};
    my $canon = canon_path('milan', $v);
    my $r = req("/vcek/v1/Milan/$v->{hwid}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
                'HEAD cold VCEK', method => 'HEAD');
    is($r->{status}, 200, 'HEAD cold VCEK: 200');
    is($r->{content}, '', 'HEAD cold VCEK: no body');
    is($r->{headers}{'content-length'}, length(fx($v->{file})), 'HEAD cold VCEK: length of the fixture');
    is(xcs($r), 'MISS', 'HEAD cold VCEK: MISS');
    $r = req($canon, 'GET after HEAD');
    same($r, 'GET after HEAD', fx($v->{file}), $CERT);
    is(xcs($r), 'HIT', 'GET after HEAD: HIT');
    is($o->count($canon), 1, 'HEAD + GET: one origin request');
}

# Request-ID: a sane client value is echoed (G7)
{
    my $r = $t->get('/vcek/v1/Milan/cert_chain', headers => { 'Request-ID' => 'Kds-0-x9' });
    is($r->{headers}{'request-id'}, 'Kds-0-x9', 'client Request-ID echoed');
    $r = $t->get('/vcek/v1/Milan/cert_chain', headers => { 'Request-ID' => 'bad id!' });
    like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, 'an unusable one is replaced');
}

# ---------------------------------------------------------------------------
# the origin saw only canonical requests, each once

{
    my $c = $o->counts;
    my @bad = grep {
        !m{^/vcek/v1/(Milan|Genoa)/[0-9a-f]{128}\?blSPL=(0|[1-9]\d*)&teeSPL=(0|[1-9]\d*)&snpSPL=(0|[1-9]\d*)&ucodeSPL=(0|[1-9]\d*)$}
        && !m{^/vcek/v1/Turin/[0-9a-f]{16}\?fmcSPL=(0|[1-9]\d*)&blSPL=(0|[1-9]\d*)&teeSPL=(0|[1-9]\d*)&snpSPL=(0|[1-9]\d*)&ucodeSPL=(0|[1-9]\d*)$}
        && !m{^/(vcek|vlek)/v1/(Milan|Genoa|Turin)/(cert_chain|crl)$}
    } keys %$c;
    ok(!@bad, 'the origin only saw canonical KDS requests') or diag(join "\n", @bad);
    my @multi = grep { $c->{$_} != 1 } keys %$c;
    ok(!@multi, 'each origin request was made once')
        or diag(join "\n", map { "$_ => $c->{$_}" } @multi);
}

# ---------------------------------------------------------------------------
# 1., 4. malformed input: 400 naming the parameter, or 404 for what is no
# route; never an origin request, never an X-Cache-Status

my $MH = $THIM->{hwid};
my $TH = $TUR->{hwid};
my $MQ = 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115';
my $TQ = 'fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9';
my @bad = (
    # hwid
    [ "/vcek/v1/Milan/" . substr($MH, 0, 127) . "?$MQ",     400, 'hwid' ],   # 127
    [ "/vcek/v1/Milan/${MH}0?$MQ",                          400, 'hwid' ],   # 129
    [ "/vcek/v1/Genoa/" . substr($GEN->{hwid}, 0, 126) . "?$MQ", 400, 'hwid' ],
    [ "/vcek/v1/Milan/" . substr($MH, 0, 16) . "?$MQ",      400, 'hwid' ],   # Turin length on Milan
    [ "/vcek/v1/Milan/" . substr($MH, 0, 127) . "g?$MQ",    400, 'hwid' ],   # non-hex
    [ "/vcek/v1/Milan/" . substr($MH, 0, 126) . "0x?$MQ",   400, 'hwid' ],
    [ "/vcek/v1/Milan/" . ('0' x 128) . "?$MQ",             400, 'hwid' ],   # MASK_CHIP_ID
    [ "/vcek/v1/Genoa/" . ('0' x 128) . "?$MQ",             400, 'hwid' ],
    [ "/vcek/v1/Siena/" . ('0' x 128) . "?$MQ",             400, 'hwid' ],
    [ "/vcek/v1/Turin/" . substr($TH, 0, 15) . "?$TQ",      400, 'hwid' ],   # 15
    [ "/vcek/v1/Turin/${TH}0?$TQ",                          400, 'hwid' ],   # 17
    [ "/vcek/v1/Turin/" . substr($TH, 0, 15) . "z?$TQ",     400, 'hwid' ],
    [ "/vcek/v1/Turin/" . ('0' x 16) . "?$TQ",              400, 'hwid' ],
    [ "/vcek/v1/Turin/" . ('0' x 128) . "?$TQ",             400, 'hwid' ],
    [ "/vcek/v1/Turin/$MH?$TQ",                             400, 'hwid' ],   # 128, tail not zero
    [ "/vcek/v1/Turin/$TH" . ('0' x 111) . "1?$TQ",         400, 'hwid' ],
    [ "/vcek/v1/Turin/$TH" . ('0' x 111) . "?$TQ",          400, 'hwid' ],   # 127
    [ "/vcek/v1/Turin/$TH" . ('0' x 113) . "?$TQ",          400, 'hwid' ],   # 129
    # SPL values
    [ "/vcek/v1/Milan/$MH?blSPL=128&teeSPL=0&snpSPL=8&ucodeSPL=115",  400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=128&snpSPL=8&ucodeSPL=115",  400, 'teeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=0&snpSPL=128&ucodeSPL=115",  400, 'snpSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=256",    400, 'ucodeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=999",    400, 'ucodeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=-1&teeSPL=0&snpSPL=8&ucodeSPL=115",   400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=1e2&teeSPL=0&snpSPL=8&ucodeSPL=115",  400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=0x1&teeSPL=0&snpSPL=8&ucodeSPL=115",  400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=0003&teeSPL=0&snpSPL=8&ucodeSPL=115", 400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=0115",   400, 'ucodeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=&teeSPL=0&snpSPL=8&ucodeSPL=115",     400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=&snpSPL=8&ucodeSPL=115",     400, 'teeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=",       400, 'ucodeSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=+3&teeSPL=0&snpSPL=8&ucodeSPL=115",   400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=%203&teeSPL=0&snpSPL=8&ucodeSPL=115", 400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3%00&teeSPL=0&snpSPL=8&ucodeSPL=115", 400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=3.0&teeSPL=0&snpSPL=8&ucodeSPL=115",  400, 'blSPL' ],
    [ "/vcek/v1/Milan/$MH?blSPL=three&teeSPL=0&snpSPL=8&ucodeSPL=115", 400, 'blSPL' ],
    [ "/vcek/v1/Genoa/$GEN->{hwid}?blSPL=10&teeSPL=0&snpSPL=200&ucodeSPL=84", 400, 'snpSPL' ],
    [ "/vcek/v1/Bergamo/$GEN->{hwid}?blSPL=10&teeSPL=-0&snpSPL=23&ucodeSPL=84", 400, 'teeSPL' ],
    [ "/vcek/v1/Turin/$TH?fmcSPL=256&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9", 400, 'fmcSPL' ],
    [ "/vcek/v1/Turin/$TH?fmcSPL=1e1&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9", 400, 'fmcSPL' ],
    [ "/vcek/v1/Turin/$TH?fmcSPL=&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9",    400, 'fmcSPL' ],
    [ "/vcek/v1/Turin/$TH?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=256", 400, 'ucodeSPL' ],
    [ "/vcek/v1/Turin/$TH?fmcSPL=0&blSPL=128&teeSPL=0&snpSPL=0&ucodeSPL=9", 400, 'blSPL' ],
    # huge queries
    [ "/vcek/v1/Milan/$MH?$MQ&x=" . ('a' x 5000),           400, undef ],
    [ "/vcek/v1/Milan/$MH?$MQ&" . join('&', map { "k$_=v" } 1 .. 40), 400, undef ],
    # unknown or mis-spelt product: no route
    [ "/vcek/v1/milan/$MH?$MQ",                             404, undef ],
    [ "/vcek/v1/MILAN/$MH?$MQ",                             404, undef ],
    [ "/vcek/v1/genoa/$GEN->{hwid}?$MQ",                    404, undef ],
    [ "/vcek/v1/siena/$GEN->{hwid}?$MQ",                    404, undef ],
    [ "/vcek/v1/turin/$TH?$TQ",                             404, undef ],
    [ "/vcek/v1/Venice/$TH?$TQ",                            404, undef ],
    [ "/vcek/v1/Naples/$MH?$MQ",                            404, undef ],
    [ "/vcek/v1/Rome/$MH?$MQ",                              404, undef ],
    [ "/vcek/v1/Milan-B0/$MH?$MQ",                          404, undef ],
    [ "/vcek/v1/Venice/cert_chain",                         404, undef ],
    [ "/vcek/v1/milan/cert_chain",                          404, undef ],
    [ "/vlek/v1/Naples/cert_chain",                         404, undef ],
    [ "/vlek/v1/genoa/crl",                                 404, undef ],
    [ "/vcek/v1/Venice/crl",                                404, undef ],
    # no such route
    [ "/vlek/v1/Milan/cert?$MQ",                            404, undef ],
    [ "/vlek/v1/Milan/cert",                                404, undef ],
    [ "/vlek/v1/Milan/$MH?$MQ",                             404, undef ],
    [ "/vcek/v1/Milan/$MH/x?$MQ",                           404, undef ],
    [ "/vcek/v1/Milan/$MH/?$MQ",                            404, undef ],
    [ "/vcek/v1/Milan/cert_chain/x",                        404, undef ],
    [ "/vcek/v1/Milan/cert_chain/",                         404, undef ],
    [ "/vcek/v1/Milan/crl/x",                               404, undef ],
    [ "/vcek/v1/Milan/x/cert_chain",                        404, undef ],
    [ "/vcek/v1/Milan/",                                    404, undef ],
    [ "/vcek/v1/Milan",                                     404, undef ],
    [ "/vcek/v1/",                                          404, undef ],
    [ "/vcek/",                                             404, undef ],
    [ "/vcek/v2/Milan/cert_chain",                          404, undef ],
    [ "/vcek/V1/Milan/cert_chain",                          404, undef ],
    [ "/vcek/v1/Milan/cert_chain/../../Venice/cert_chain",  404, undef ],
    [ "/vlek/v2/Milan/crl",                                 404, undef ],
    [ "/vlek/",                                             404, undef ],
);

my $before = $o->total;
for my $case (@bad) {
    my ($path, $status, $param) = @$case;
    my $name = $path =~ s/[0-9a-fA-F]{100,}/<long hex>/gr;
    $name = substr($name, 0, 100) . '...' if length $name > 110;
    my $r = req($path, "bad $name", refused => 1);
    is($r->{status}, $status, "$name -> $status") or diag(substr($r->{content}, 0, 200));
    if (defined $param) {
        my $j = json_of($r);
        is($j && $j->{parameter}, $param, "$name: parameter $param");
    }
}
is($o->total - $before, 0, 'no malformed request reached the origin')
    or diag(join "\n", sort keys %{ $o->counts });

# G10: GET and HEAD only
for my $p ('/vcek/v1/Milan/cert_chain', '/vlek/v1/Genoa/crl', "/vcek/v1/Milan/$MH?$MQ",
           "/vcek/v1/Turin/$TH?$TQ")
{
    for my $m (qw(POST PUT DELETE PATCH OPTIONS)) {
        my $name = "$m " . ($p =~ s/[0-9a-f]{16,}/<hwid>/r);
        my $r = req($p, $name, method => $m, body => $m =~ /^P/ ? '{}' : undef, refused => 1);
        is($r->{status}, 405, "$name -> 405");
    }
}
is($o->total - $before, 0, '... without an origin request');

# the cached entries were not disturbed by any of this
{
    my $r = req(canon_path('milan', $THIM), 'THIM VCEK at the end');
    same($r, 'THIM VCEK at the end', fx($THIM->{file}), $CERT);
    is(xcs($r), 'HIT', '... HIT');
}

done_testing();
