#!/usr/bin/perl
# The PCCS admin tool's offline workflow against ngx_thim (issue 17): an
# air-gapped ngx_thim (thim_pccs_offline on, its origin unreachable) takes
# registrations from the PCK ID retrieval tool; the admin tool lists them
# (GET /platforms, admin-token), their collateral is fetched on a connected
# machine (here bundles made by thimctl fetch from the emulator, turned
# into the admin tool's platform_collaterals.json by thimctl
# pccs-collateral), and uploaded (PUT
# /platformcollateral).  Every item is verified as an origin answer first: a
# forged one refuses the whole upload and names itself; the good upload
# makes QCNL's pckcert requests hits with no origin at all.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha512_hex);
use JSON::PP ();
use Test::More;

use ThimOrigin;
use ThimSetup;

my $ROOT = "$FindBin::Bin/..";
my $DATA = "$FindBin::Bin/data";
my $CTL = $ENV{TEST_THIMCTL} || "$ROOT/build/thimctl";
plan skip_all => "thimctl not built: $CTL" unless -x $CTL;

my $V4 = '/sgx/certification/v4';
my $JSON = JSON::PP->new->canonical;
my $USER = 'user-secret-token';
my $ADMIN = 'admin-secret-token';

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
@rows = @rows[0, 2];

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_pccs_user_token_hash ' . sha512_hex($USER) . ';
             thim_pccs_admin_token_hash ' . sha512_hex($ADMIN) . ';
             thim_pccs_offline on;');
$o->fault('/', drop => 1);    # air-gapped: nothing reaches the origin

sub admin {
    my ($method, $path, %opt) = @_;
    my %h = ('admin-token' => $opt{token} // $ADMIN);
    delete $h{'admin-token'} if $opt{no_token};
    $h{'Content-Type'} = 'application/json' if defined $opt{body};
    return $t->get("$V4/$path", method => $method, body => $opt{body},
                   headers => \%h, http2 => $opt{http2});
}

# ---- the PCK ID retrieval tool registers two platforms -----------------------

for my $row (@rows) {
    my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @$row;
    my $r = $t->get("$V4/platforms", method => 'POST',
        headers => { 'Content-Type' => 'application/json', 'user-token' => $USER },
        body => $JSON->encode({ qe_id => uc $qeid, pce_id => $pceid,
                                cpu_svn => uc $cpusvn, pce_svn => $pcesvn,
                                enc_ppid => uc $ppid }));
    is($r->{status}, 200, "offline registration of $qeid: 200");
}

# ---- GET /platforms -----------------------------------------------------------

is(admin(GET => 'platforms', no_token => 1)->{status}, 401, 'no admin-token: 401');
is(admin(GET => 'platforms', token => $USER)->{status}, 401,
   'the user token is not the admin token: 401');
is(admin(GET => 'platforms', token => sha512_hex($ADMIN))->{status}, 401,
   'nor is the hash');

my $r = admin(GET => 'platforms', http2 => 1);
is($r->{status}, 200, 'GET /platforms: 200');
my $list = JSON::PP::decode_json($r->{content});
my $listed = $r->{content};    # the admin tool's platform_list.json
is($r->{headers}{'platform-count'}, 2, 'platform-count: 2');
is_deeply([sort map { lc $_->{qe_id} } @$list], [sort map { $_->[4] } @rows],
          'the registered platforms, as PCCS lists them');
is_deeply([sort keys %{ $list->[0] }],
          [qw(cpu_svn enc_ppid pce_id pce_svn platform_manifest qe_id)],
          '... with the fields the admin tool reads');
is(admin(GET => 'platforms?source=reg_na')->{content}, '[]',
   'source=reg_na: none has certificates Intel marks not available');
is(admin(GET => 'platforms?source=bogus')->{status}, 400, 'source=bogus: 400');

# ---- on a connected machine: thimctl fetches the bundle ---------------------

my $csv = $t->dir . '/platforms.csv';
open my $fh, '>', $csv or die $!;
print $fh join(',', @{$_}{qw(enc_ppid pce_id cpu_svn pce_svn qe_id)}), "\n" for @$list;
close $fh;

my @common = ('--cacert', $t->pki->{ca},
              '--intel-root-ca', "$DATA/intel/root/Intel_SGX_Root_CA.pem",
              '--amd-trust', "$ROOT/conf/amd",
              '--intel', $o->url, '--intel-root', $o->url, '--amd', $o->url);

sub thimctl {
    my (@args) = @_;
    local $ENV{THIM_INTEL_API_KEY} = ThimOrigin::DEFAULT_API_KEY;
    my $out = `'$CTL' @args 2>&1`;
    return ($? >> 8, $out);
}

$o->clear_faults;
my $b1 = $t->dir . '/sets';
my ($rc, $out) = thimctl('fetch', '-o', $b1, @common, '--no-intel',
                         '--pckid-csv', $csv);
is($rc, 0, 'thimctl fetches the platforms\' certificate sets') or diag $out;
my $idx1 = JSON::PP::decode_json(slurp("$b1/index.json"));
my %fmspc = map { lc($_->{headers}{'SGX-FMSPC'}) => 1 }
            grep { $_->{path} =~ /pckcerts$/ } @{ $idx1->{entries} };

my $b2 = $t->dir . '/collateral';
($rc, $out) = thimctl('fetch', '-o', $b2, @common, '--fmspc', join(',', sort keys %fmspc));
my $idx2 = JSON::PP::decode_json(slurp("$b2/index.json"));
ok(scalar @{ $idx2->{entries} }, 'and the collateral of their FMSPCs') or diag $out;
$o->reset;    # counts and faults
$o->fault('/', drop => 1);

# ---- the admin tool's platform_collaterals.json -------------------------------

sub slurp { open(my $h, '<:raw', $_[0]) or return undef; local $/; scalar <$h> }

# thimctl writes the admin tool's upload from the platform list and the
# bundles, as the admin tool's "fetch" would from Intel
my $plist = $t->dir . '/platform_list.json';
open $fh, '>:raw', $plist or die $!;
print $fh $listed;
close $fh;
my $upfile = $t->dir . '/platform_collaterals.json';
($rc, $out) = thimctl('pccs-collateral', '-o', $upfile, $plist, $b1, $b2);
is($rc, 0, "thimctl pccs-collateral writes the admin tool's upload") or diag $out;
my $doc = JSON::PP::decode_json(slurp($upfile) // '{}');
is(scalar @{ $doc->{collaterals}{pck_certs} // [] }, 2,
   '... with both platforms\' certificate sets');
is_deeply([sort map { $_->{fmspc} } @{ $doc->{collaterals}{tcbinfos} // [] }],
          [sort keys %fmspc], '... and their FMSPCs\' TCB infos');

sub upload {
    my (%forge) = @_;
    my $text = slurp($upfile);
    if ($forge{qe}) {
        # one digit of the QE identity's isvprodid, inside its JSON string
        my $at = index($text, '\\"isvprodid\\":', index($text, '"qeidentity"'));
        $at += length '\\"isvprodid\\":';
        my $d = substr($text, $at, 1);
        substr($text, $at, 1) = $d == 9 ? 8 : $d + 1;
    }
    return $text;
}

# ---- a forged item refuses the whole upload -----------------------------------

my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[0] };
my $q = "qeid=$qeid&encrypted_ppid=" . ('0' x 768)
        . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid";

$r = admin(PUT => 'platformcollateral', body => upload(qe => 1));
is($r->{status}, 460, 'an upload with a forged QE identity: 460');
is($r->{content}, "The integrity of the data can't be verified.",
   '... PCCS\'s answer');
like($r->{headers}{'thim-error-parameter'} // '', qr/^qeidentity: .*signature/,
     '... naming the refused item and why');
$r = $t->get("$V4/pckcert?$q");
is($r->{status}, 404, 'nothing of it entered the zone: the PCK set is not there');
$r = $t->get("$V4/qe/identity");
isnt($r->{status}, 200, '... nor the identities') or diag $r->{content};
is(admin(GET => 'platforms')->{headers}{'platform-count'}, 2,
   '... and both platforms still wait for their collateral');

is(admin(PUT => 'platformcollateral', body => upload(), no_token => 1)->{status},
   401, 'an upload without the admin token: 401');
is(admin(PUT => 'platformcollateral', body => '{"platforms":[]}')->{status},
   400, 'not the admin tool\'s format: 400');

# ---- the good upload ------------------------------------------------------------

my $asked = $o->total;

$r = admin(PUT => 'platformcollateral', body => upload());
is($r->{status}, 200, 'the admin tool\'s upload: 200') or diag explain $r;
is($r->{content}, 'Operation successful.', '... PCCS\'s answer');

for my $row (@rows) {
    my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @$row;
    my $qq = "qeid=$qeid&encrypted_ppid=" . ('0' x 768)
             . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid";
    $r = $t->get("$V4/pckcert?$qq");
    is($r->{status}, 200, "QCNL's pckcert for $qeid: 200, no origin")
        or diag explain $r;
    $r = $t->get("$V4/pckcert?$qq", http2 => 1);
    is($r->{headers}{'x-cache-status'}, 'HIT', '... a hit (HTTP/2)');
}
for my $p ("$V4/qe/identity", "$V4/pckcrl?ca=processor&encoding=der",
           "$V4/rootcacrl", "$V4/tcb?fmspc=" . (sort keys %fmspc)[0])
{
    $r = $t->get($p, http2 => 1);
    ok($r->{status} == 200 && $r->{headers}{'x-cache-status'} eq 'HIT',
       "$p: a hit") or diag "$r->{status} $r->{content}";
}
is($o->total, $asked, 'the origin was never asked again')
    or diag explain [map { "$_->{method} $_->{target}" } @{ $o->requests }];
is(admin(GET => 'platforms')->{content}, '[]',
   'no registered platform waits any more');

$t->check_alerts;
done_testing;
