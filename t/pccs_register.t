#!/usr/bin/perl
# PCCS platform registration (issue 17): POST /sgx/certification/v3|v4/platforms
# as Intel's PCK ID retrieval tool sends it.  The user-token is checked as
# PCCS checks it (SHA-512 hex against UserTokenHash); every field PCCS
# validates is refused with PCCS's own answer; a registration fetches the
# platform's whole PCK certificate set once (GET pckcerts with the encrypted
# PPID, POST pckcerts with the platform manifest for a multi-package
# platform), a repeat costs nothing, and the platform's QCNL-style pckcert
# requests (QE ID, no PPID) are then answered from the cache.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha512_hex);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);

use ThimOrigin;
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my $V3 = '/sgx/certification/v3';
my $JSON = JSON::PP->new->canonical;
my $USER = 'user-secret-token';
my $ADMIN = 'admin-secret-token';

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($mrow) = map { [split /,/] } grep { /^[0-9A-F]+,/ }
    split /\n/, ThimSetup::fixture('intel/pckcerts/platform_manifest.csv');
my ($manifest, $mpceid, $mqeid) = @$mrow;

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_pccs_user_token_hash ' . sha512_hex($USER) . ';
             thim_pccs_admin_token_hash ' . sha512_hex($ADMIN) . ';
             thim_cache_negative_valid 1s;',
    origin_loc => 'proxy_set_header Content-Type $content_type;');

sub register {
    my ($body, %opt) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{'user-token'} = $opt{token} // $USER unless $opt{no_token};
    return $t->get($opt{path} // "$V4/platforms", method => 'POST',
                   body => ref $body ? $JSON->encode($body) : $body,
                   headers => \%h, http2 => $opt{http2});
}

sub reg_of {
    my ($row) = @_;
    my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @$row;
    return { qe_id => uc $qeid, pce_id => $pceid, cpu_svn => uc $cpusvn,
             pce_svn => $pcesvn, enc_ppid => uc $ppid };
}

my $good = reg_of($rows[0]);

# ---- the user token ---------------------------------------------------------

for my $case ([no_token => 1], [token => 'wrong'], [token => $ADMIN],
              [token => sha512_hex($USER)])
{
    my $r = register($good, @$case);
    is($r->{status}, 401, "@$case: 401");
    is($r->{content}, 'Authentication failed.', '... PCCS\'s own answer');
}
is($o->total, 0, 'nothing reaches the origin without the user token');

# ---- every field PCCS validates ---------------------------------------------

my %bad = (
    'qe_id missing'        => [{ %$good, qe_id => undef }, 'qe_id'],
    'qe_id empty'          => [{ %$good, qe_id => '' }, 'qe_id'],
    'qe_id 261 characters' => [{ %$good, qe_id => 'A' x 261 }, 'qe_id'],
    'qe_id a number'       => [{ %$good, qe_id => 5 }, 'qe_id'],
    'pce_id missing'       => [{ %$good, pce_id => undef }, 'pce_id'],
    'pce_id 3 hex'         => [{ %$good, pce_id => '000' }, 'pce_id'],
    'pce_id not hex'       => [{ %$good, pce_id => '00g0' }, 'pce_id'],
    'cpu_svn 31 hex'       => [{ %$good, cpu_svn => '0' x 31 }, 'cpu_svn'],
    'cpu_svn not hex'      => [{ %$good, cpu_svn => 'x' x 32 }, 'cpu_svn'],
    'cpu_svn missing'      => [{ %$good, cpu_svn => undef }, 'cpu_svn'],
    'pce_svn 5 hex'        => [{ %$good, pce_svn => '00000' }, 'pce_svn'],
    'pce_svn missing'      => [{ %$good, pce_svn => undef }, 'pce_svn'],
    'enc_ppid 767 hex'     => [{ %$good, enc_ppid => 'a' x 767 }, 'enc_ppid'],
    'enc_ppid not hex'     => [{ %$good, enc_ppid => 'z' x 768 }, 'enc_ppid'],
    'enc_ppid missing'     => [{ %$good, enc_ppid => undef }, 'enc_ppid'],
    'enc_ppid a number'    => [{ %$good, enc_ppid => 1 }, 'enc_ppid'],
    'manifest an object'   => [{ %$good, platform_manifest => {} },
                               'platform_manifest'],
    'manifest not hex'     => [{ %$good, platform_manifest => 'ZZ' },
                               'platform_manifest'],
);

for my $name (sort keys %bad) {
    my ($body, $field) = @{ $bad{$name} };
    delete $body->{$_} for grep { !defined $body->{$_} } keys %$body;
    my $r = register($body);
    ok($r->{status} == 400
       && $r->{content} eq 'Invalid request parameters.'
       && ($r->{headers}{'thim-error-parameter'} // '') eq $field,
       "$name: 400, PCCS's answer, the field named")
        or diag explain $r;
}

for my $case (['not JSON', '{"qe_id":'], ['an array', '[]'],
              ['a duplicate member', '{"qe_id":"A","qe_id":"B"}'],
              ['empty', ''])
{
    my $r = register($case->[1]);
    is($r->{status}, 400, "body $case->[0]: 400");
    is($r->{content}, 'Invalid request parameters.', '... PCCS\'s answer');
}

my $r = register($good, path => "$V4/platforms?update=sometimes");
is($r->{status}, 400, 'update=sometimes: 400');
is($o->total, 0, 'no invalid registration reaches the origin');

# with a manifest, the other three are not needed, and not looked at
$r = register({ qe_id => $mqeid, pce_id => $mpceid, cpu_svn => 'bad' });
is($r->{status}, 400, 'they are validated when given, as PCCS does');

# ---- registration by encrypted PPID -----------------------------------------

$r = register($good);
is($r->{status}, 200, 'registration: 200');
is($r->{content}, 'Operation successful.', '... PCCS\'s answer');
is($o->count("$V4/pckcerts"), 1, 'the platform\'s set is fetched once');
my ($req) = grep { $_->{target} =~ m{/pckcerts} } @{ $o->requests };
is($req->{method}, 'GET', '... with GET pckcerts and the encrypted PPID');

$r = register($good, http2 => 1);
is($r->{status}, 200, 'the same registration again (HTTP/2): 200');
$r = register($good, path => "$V3/platforms?update=early");
is($r->{status}, 200, '... and on the v3 path with update=early');
is($o->count("$V4/pckcerts"), 1, 'a registration already cached costs nothing');

# v3 and v4 TCB info both missing at the origin: the failure names it
$o->fault("$V4/tcb", status => 404);
$o->fault("$V3/tcb", status => 404);
my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[0] };
my $q = "qeid=$qeid&encrypted_ppid=" . ('0' x 768)
        . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid";
$r = $t->get("$V3/pckcert?$q");
is($r->{status}, 404, 'no TCB info of either version: 404');
like($r->{content}, qr/no SGX TCB info \(v3, nor v4\) for FMSPC 00906ea10000/i,
     '... naming what is missing');
is($o->count("$V4/tcb"), 1, '... after asking for v4 as well');
$o->clear_faults;

# the 404s are kept thim_cache_negative_valid (1s), then asked again
ok($t->wait_for(sub { $t->get("$V4/pckcert?$q")->{status} == 200 },
                timeout => 15), 'the TCB info is back at the origin');

# QCNL: QE ID, 768 zeros for the PPID
$r = $t->get("$V4/pckcert?$q");
is($r->{status}, 200, 'QCNL\'s pckcert without a PPID: 200 from the registered set');
my $want = $o->get("$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpusvn"
                   . "&pcesvn=$pcesvn&pceid=$pceid",
                   'Ocp-Apim-Subscription-Key' => ThimOrigin::DEFAULT_API_KEY);
is($r->{content}, $want->{body}, '... the certificate Intel chooses');
$r = $t->get("$V4/pckcert?$q", http2 => 1);
is($r->{status}, 200, '... and over HTTP/2') or diag explain $r;
is($o->count("$V4/pckcerts"), 1, '... with no further pckcerts request');

# ---- registration by platform manifest (multi-package) ----------------------

$o->reset;
my $mreg = { qe_id => $mqeid, pce_id => $mpceid, platform_manifest => $manifest,
             cpu_svn => 'F' x 32, pce_svn => 'FFFF' };
$r = register($mreg);
is($r->{status}, 200, 'manifest registration: 200');
is($r->{content}, 'Operation successful.', '... PCCS\'s answer');
my @posts = grep { $_->{target} =~ m{/pckcerts} } @{ $o->requests };
is(scalar @posts, 1, 'one origin request');
is($posts[0]{method}, 'POST', '... POST pckcerts with the manifest');
is($posts[0]{target}, "$V4/pckcerts", '... nothing in its query');
is($posts[0]{headers}{'content-type'}, 'application/json', '... as JSON');

$r = register($mreg, http2 => 1);
is($r->{status}, 200, 'the manifest registration again: 200');
is($o->count("$V4/pckcerts"), 1, '... and no origin request');

# the platform has no PPID anywhere: only the registration makes it served
my $mq = "qeid=$mqeid&encrypted_ppid=" . ('0' x 768)
         . "&cpusvn=07070202030100ff0000000000000000&pcesvn=0b00&pceid=$mpceid";
$r = $t->get("$V4/pckcert?$mq");
is($r->{status}, 200, 'pckcert of the multi-package platform: 200')
    or diag $r->{content};
is(uc($r->{headers}{'sgx-fmspc'} // ''), '90806F000000', '... its FMSPC');
is($r->{headers}{'sgx-pck-certificate-ca-type'}, 'platform',
   '... a Platform CA certificate');
is($r->{headers}{'sgx-tcbm'}, '07070202030100FF00000000000000000B00',
   '... the certificate of its TCB');

# ---- v3: no v3 TCB info for this FMSPC at the origin, v4's is used ----------

$o->reset;
$r = $t->get("$V3/pckcert?$mq");
is($r->{status}, 200, 'v3 pckcert with no v3 TCB info at the origin: 200')
    or diag $r->{content};
is($o->count("$V3/tcb"), 1, '... the v3 TCB info was asked for');
is($r->{content}, $t->get("$V4/pckcert?$mq")->{content},
   '... and the v4 TCB info chose the same certificate');

# ---- privacy -----------------------------------------------------------------

my $logs = $t->error_log . ($t->read_file("logs/thim.log") // "");
for my $row ($rows[0]) {
    unlike($logs, qr/\Q$row->[0]\E/i, 'no encrypted PPID in any log');
}
unlike($logs, qr/\Q$manifest\E/i, 'no platform manifest in any log');

$t->check_alerts;
done_testing;
