#!/usr/bin/perl
# PCCS's admin refresh (issue 17): GET|POST /refresh behind the admin-token,
# with the admin tool's parameters.  Without any, the quote verification
# collateral (TCB infos, identities, CRLs) is fetched again, the PCK sets
# not; type=certs&fmspc= refetches every PCK set; type=certs&fmspc=<list>
# only those of the FMSPCs named (and their TCB infos).  Collateral is
# cached for an hour, so nothing here is due on its own: every refetch the
# emulator sees is the admin's.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha512_hex);
use JSON::PP ();
use Test::More;

use ThimOrigin;
use ThimSetup;

my $V4 = '/sgx/certification/v4';
my $JSON = JSON::PP->new->canonical;
my $USER = 'user-secret-token';
my $ADMIN = 'admin-secret-token';

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($mrow) = map { [split /,/] } grep { /^[0-9A-F]+,/ }
    split /\n/, ThimSetup::fixture('intel/pckcerts/platform_manifest.csv');
my ($manifest, $mpceid, $mqeid) = @$mrow;
my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[2] };

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_pccs_user_token_hash ' . sha512_hex($USER) . ';
             thim_pccs_admin_token_hash ' . sha512_hex($ADMIN) . ';
             thim_cache_valid 1h;',
    zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh '
            . 'refresh_interval=1s',
    server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }',
    origin_loc => 'proxy_set_header Content-Type $content_type;');

sub register {
    my ($body) = @_;
    return $t->get("$V4/platforms", method => 'POST',
                   body => $JSON->encode($body),
                   headers => { 'Content-Type' => 'application/json',
                                'user-token' => $USER });
}

sub refresh {
    my ($query, %opt) = @_;
    my %h = ('admin-token' => $opt{token} // $ADMIN);
    delete $h{'admin-token'} if $opt{no_token};
    return $t->get("$V4/refresh" . (length $query ? "?$query" : ''),
                   method => $opt{method} // 'POST', headers => \%h,
                   http2 => $opt{http2});
}

# the origin requests since the last reset, by kind
sub fetched {
    my %n;
    for my $r (@{ $o->requests }) {
        my $k = $r->{target} =~ m{/pckcerts} ? "$r->{method} pckcerts"
              : $r->{target} =~ m{/tcb\?fmspc=([0-9a-fA-F]+)} ? 'tcb ' . lc $1
              : $r->{target} =~ m{/identity} ? 'identity'
              : $r->{target} =~ m{crl} ? 'crl' : 'other';
        $n{$k}++;
    }
    return \%n;
}

sub settle {
    my ($what) = @_;
    # the sweep runs every second and takes up to 16 keys a turn; a few
    # turns more show that nothing else follows
    my $ok = $t->wait_for($what, timeout => 20);
    sleep 3;
    return $ok;
}

is(register({ qe_id => $qeid, pce_id => $pceid, cpu_svn => $cpusvn,
              pce_svn => $pcesvn, enc_ppid => $ppid })->{status}, 200,
   'a platform registered by its encrypted PPID');
is(register({ qe_id => $mqeid, pce_id => $mpceid,
              platform_manifest => $manifest })->{status}, 200,
   'a multi-package platform registered by its manifest');

my $q = "qeid=$qeid&encrypted_ppid=" . ('0' x 768)
        . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid";
my $r = $t->get("$V4/pckcert?$q");
is($r->{status}, 200, 'the PPID platform is served');
my $fmspc = lc($r->{headers}{'sgx-fmspc'} // '');
like($fmspc, qr/^[0-9a-f]{12}$/, "... FMSPC $fmspc");
# a set nobody registered (a client's GET pckcerts): refreshed on access only
my ($uppid, $upceid) = @{ $rows[0] }[0, 1];
is($t->get("$V4/pckcerts?encrypted_ppid=$uppid&pceid=$upceid")->{status}, 200,
   'an unregistered platform\'s set is cached');
is($t->get("$V4/tcb?fmspc=$fmspc")->{status}, 200, 'its TCB info is cached');
is($t->get("$V4/qe/identity")->{status}, 200, 'the QE identity is cached');
is($t->get("$V4/tcb?fmspc=$fmspc")->{headers}{'x-cache-status'}, 'HIT',
   '... and fresh');

# ---- the admin-token is required ----------------------------------------------

$o->reset;
$r = refresh('', no_token => 1);
is($r->{status}, 401, 'no admin-token: 401');
is($r->{content}, 'Authentication failed.', "... PCCS's answer");
is(refresh('type=certs&fmspc=', token => $USER)->{status}, 401,
   'the user token is not the admin token: 401');
is(refresh('', method => 'GET', token => 'x' . $ADMIN)->{status}, 401,
   'GET with a wrong token: 401');
is(refresh('', method => 'PUT')->{status}, 405, 'PUT: 405');
sleep 3;
is_deeply(fetched(), {}, 'refused refreshes cost no origin request');

# ---- bad parameters -------------------------------------------------------------

for my $bad ('type=all', 'fmspc=' . uc $fmspc, 'type=certs&fmspc=00906ED5000',
             'type=certs&fmspc=[00906ED50000', 'type=certs&fmspc=00906ED5000G',
             'type=certs&fmspc=00906ED50000,,00606A000000') {
    $r = refresh($bad);
    is($r->{status}, 400, "$bad: 400");
    is($r->{content}, 'Invalid request parameters.', "... PCCS's answer");
}

# ---- no parameters: the quote verification collateral --------------------------

$o->reset;
$r = refresh('');
is($r->{status}, 200, 'refresh: 200');
is($r->{content}, 'Operation successful.', "... PCCS's answer");
ok(settle(sub { my $n = fetched(); $n->{"tcb $fmspc"} && $n->{identity} }),
   'the TCB info and the QE identity are fetched again');
my $n = fetched();
is($n->{"tcb $fmspc"}, 1, '... the TCB info once');
is($n->{identity}, 1, '... the QE identity once');
ok(!$n->{'GET pckcerts'} && !$n->{'POST pckcerts'}, '... the PCK sets not')
    or diag explain $n;

# ---- type=certs, every FMSPC, over HTTP/2 and as GET ------------------------------

$o->reset;
$r = refresh('type=certs&fmspc=', http2 => 1, method => 'GET');
is($r->{status}, 200, 'type=certs&fmspc= over HTTP/2: 200');
ok(settle(sub { my $n = fetched();
                $n->{'GET pckcerts'} && $n->{'POST pckcerts'} }),
   'both registered sets are fetched again: GET (PPID) and POST (manifest)');
$n = fetched();
is($n->{'GET pckcerts'}, 1, '... the PPID set once');
is($n->{'POST pckcerts'}, 1, '... the manifest set once');
ok(!$n->{"tcb $fmspc"} && !$n->{identity}, '... no other collateral')
    or diag explain $n;

# ---- type=certs with FMSPCs named -------------------------------------------------

$o->reset;
is(refresh('type=certs&fmspc=' . ($fmspc eq '00a067110000' ? '00606a000000'
                                                           : '00a067110000'))
       ->{status}, 200, 'an FMSPC of no cached platform: 200');
sleep 4;
is_deeply(fetched(), {}, '... nothing fetched');

$o->reset;
is(refresh('type=certs&fmspc=%5B' . uc($fmspc) . ',00A067110001%5D')->{status},
   200, "PCCS's list form naming the platform's FMSPC: 200");
ok(settle(sub { my $n = fetched(); $n->{'GET pckcerts'} && $n->{"tcb $fmspc"} }),
   "the PPID platform's set and its FMSPC's TCB info are fetched again");
$n = fetched();
is($n->{'GET pckcerts'}, 1, '... the set once');
is($n->{"tcb $fmspc"}, 1, '... the TCB info once');
ok(!$n->{identity}, '... not the identities') or diag explain $n;

$r = $t->get("$V4/pckcert?$q");
is($r->{status}, 200, 'the platform is still served');
is($r->{headers}{'x-cache-status'}, 'HIT', '... from the zone');

like($t->error_log, qr/PCCS refresh of PCK certificates: \d+ entries due now/,
     'the refresh is logged');
unlike($t->error_log, qr/thim_refresh.*400|not a key of this family|no platform registration/,
       '... and the refresh location takes every key it marked: no unregistered set');

done_testing();
