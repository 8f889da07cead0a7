#!/usr/bin/perl
# A client's own PCS POST forms for multi-package platforms (issue 17):
# POST pckcerts {platformManifest, pceid} and POST pckcert
# {platformManifest, cpusvn, pcesvn, pceid[, qeid]} are served like their
# GET forms: the set is fetched once (one origin POST) and kept under the
# manifest, or under the QE ID when the request names one, as a
# registration keys it (so a later GET pckcert with only the QE ID hits);
# repeats cost no origin request, over HTTP/1.1 and HTTP/2.  A bad body is
# a 400 with a JSON error naming the member, and costs no origin request.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use ThimOrigin;
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my $JSON = JSON::PP->new->canonical;

my ($mrow) = map { [split /,/] } grep { /^[0-9A-F]+,/ }
    split /\n/, ThimSetup::fixture('intel/pckcerts/platform_manifest.csv');
my ($manifest, $pceid, $qeid) = @$mrow;
my $cpusvn = '07070202030100ff0000000000000000';
my $pcesvn = '0b00';

my ($t, $o) = ThimSetup::start(workers => 2,
    origin_loc => 'proxy_set_header Content-Type $content_type;');

sub post {
    my ($path, $body, %opt) = @_;
    return $t->get("$V4/$path", method => 'POST',
                   body => ref $body ? $JSON->encode($body) : $body,
                   headers => { 'Content-Type' => $opt{type}
                                                  // 'application/json' },
                   http2 => $opt{http2});
}

sub posts { scalar grep { $_->{method} eq 'POST' && $_->{target} =~ m{/pckcerts} }
                @{ $o->requests } }

# ---- POST pckcerts ---------------------------------------------------------------

my $set = { platformManifest => $manifest, pceid => $pceid };

$o->reset;
my $r = post('pckcerts', $set);
is($r->{status}, 200, 'POST pckcerts: 200') or diag $r->{content};
is($r->{headers}{'x-cache-status'}, 'MISS', '... fetched');
my $certs = eval { JSON::PP::decode_json($r->{content}) };
ok(ref $certs eq 'ARRAY' && @$certs > 1, '... the set, a JSON list');
ok($r->{headers}{'sgx-pck-certificate-issuer-chain'}, '... with its chain');
is(posts(), 1, '... one origin POST');
my $got = $o->requests->[-1];

for my $h2 (0, 1) {
    $r = post('pckcerts', { pceid => uc $pceid, platformManifest => lc $manifest },
              http2 => $h2);
    is($r->{status}, 200, "again, other case and order, HTTP/" . ($h2 ? 2 : '1.1'));
    is($r->{headers}{'x-cache-status'}, 'HIT', '... a hit');
    is_deeply(JSON::PP::decode_json($r->{content}), $certs, '... the same set');
}
is(posts(), 1, 'repeats cost no origin request');

# ---- POST pckcert: the certificate chosen from the same set -------------------------

my $one = { platformManifest => $manifest, pceid => $pceid,
            cpusvn => $cpusvn, pcesvn => $pcesvn };
for my $h2 (1, 0) {
    $r = post('pckcert', $one, http2 => $h2);
    is($r->{status}, 200, 'POST pckcert: 200, HTTP/' . ($h2 ? 2 : '1.1'))
        or diag $r->{content};
    like($r->{content}, qr/^-----BEGIN CERTIFICATE-----/, '... a PEM certificate');
    ok($r->{headers}{'sgx-tcbm'} && $r->{headers}{'sgx-fmspc'},
       '... with SGX-TCBm and SGX-FMSPC');
}
my $pem = $r->{content};
is(posts(), 1, '... from the cached set: no origin POST');

# ---- with the QE ID: kept as a registration keys it ---------------------------------

$r = post('pckcert', { %$one, qeid => $qeid });
is($r->{status}, 200, 'POST pckcert with qeid: 200');
is($r->{content}, $pem, '... the same certificate');
is(posts(), 2, '... the set fetched once under the QE ID');
$r = post('pckcert', { %$one, qeid => uc $qeid }, http2 => 1);
is($r->{status}, 200, 'again over HTTP/2');
is(posts(), 2, '... no origin request');
$r = $t->get("$V4/pckcert?qeid=$qeid&encrypted_ppid=" . ('0' x 768)
             . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid");
is($r->{status}, 200, "QCNL's GET pckcert with only the QE ID is served from it");
is($r->{content}, $pem, '... the same certificate');
is(posts(), 2, '... no origin request');

# ---- bad bodies -------------------------------------------------------------------

$o->reset;
my @bad = (
    [pckcerts => '', 'body'],
    [pckcerts => 'not json', 'body'],
    [pckcerts => '[]', 'body'],
    [pckcerts => qq({"platformManifest":"$manifest","pceid":"$pceid","pceid":"$pceid"}), 'body'],
    [pckcerts => { pceid => $pceid }, 'platformManifest'],
    [pckcerts => { platformManifest => $manifest }, 'pceid'],
    [pckcerts => { %$set, pceid => 'zzzz' }, 'pceid'],
    [pckcerts => { %$set, pceid => 1234 }, 'pceid'],
    [pckcerts => { %$set, pceid => "${pceid}0" }, 'pceid'],
    [pckcerts => { %$set, platformManifest => "${manifest}0" }, 'platformManifest'],
    [pckcerts => { %$set, platformManifest => "${manifest}0G" }, 'platformManifest'],
    [pckcerts => { %$set, platformManifest => '' }, 'platformManifest'],
    [pckcerts => { %$set, platformManifest => [$manifest] }, 'platformManifest'],
    [pckcerts => { %$set, cpusvn => $cpusvn }, 'cpusvn'],
    [pckcerts => { %$set, extra => 1 }, 'extra'],
    [pckcerts => { %$set, "a\nb" => 1 }, 'body'],
    [pckcert => $set, 'cpusvn'],
    [pckcert => { %$one, pcesvn => '0b' }, 'pcesvn'],
    [pckcert => { %$one, cpusvn => substr($cpusvn, 1) }, 'cpusvn'],
    [pckcert => { %$one, qeid => 'x' x 32 }, 'qeid'],
    [pckcert => { %$one, encrypted_ppid => '0' x 768 }, 'encrypted_ppid'],
);
for my $b (@bad) {
    my ($path, $body, $field) = @$b;
    my $name = ref $body ? $JSON->encode({ map { $_ => ref $body->{$_} ? 'list'
                  : substr($body->{$_}, 0, 8) } keys %$body }) : "'$body'";
    $r = post($path, $body);
    is($r->{status}, 400, "$path $name: 400");
    ok(eval { JSON::PP::decode_json($r->{content}) }, '... a JSON error');
    like($r->{content}, qr/"\Q$field\E"/, "... the JSON error names $field")
        or diag $r->{content};
}
$r = post('pckcerts', $set, type => 'text/plain');
is($r->{status}, 415, 'a body that is not application/json: 415');
$r = post('pckcerts', { %$set, platformManifest => 'AB' x (300 * 1024) });
ok($r->{status} == 413 || $r->{status} == 400, 'a manifest too large: refused')
    or diag $r->{status};
$r = post('pckcerts', $set, http2 => 1, type => 'application/json; charset=utf-8');
is($r->{status}, 200, 'application/json with a charset is taken');
is(posts(), 0, 'no bad body reached the origin');
is($t->get("$V4/pckcerts", method => 'PUT')->{status}, 405, 'PUT pckcerts: 405');

done_testing();
