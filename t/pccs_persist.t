#!/usr/bin/perl
# PCCS registrations survive restarts and refresh their platforms (issue 17):
# they are zone records ("intel-reg:<digest>") written to the snapshot (mode
# 0600) and read back through their own check; the refresh sweep refetches
# a registered platform's PCK certificate set with what its registration
# holds (GET pckcerts with the encrypted PPID, POST pckcerts with the
# platform manifest), which no client's pckcert request carries.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha512_hex);
use JSON::PP ();
use Test::More;

use ThimOrigin;
use ThimSetup;
use ThimSnapshot;

my $V4 = '/sgx/certification/v4';
my $JSON = JSON::PP->new->canonical;
my $USER = 'user-secret-token';

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($mrow) = map { [split /,/] } grep { /^[0-9A-F]+,/ }
    split /\n/, ThimSetup::fixture('intel/pckcerts/platform_manifest.csv');
my ($manifest, $mpceid, $mqeid) = @$mrow;
my ($ppid, $pceid, $cpusvn, $pcesvn, $qeid) = @{ $rows[2] };

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_pccs_user_token_hash ' . sha512_hex($USER) . ';
             thim_cache_valid 10s;',
    zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s '
            . 'refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh '
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

my $q = "qeid=$qeid&encrypted_ppid=" . ('0' x 768)
        . "&cpusvn=$cpusvn&pcesvn=$pcesvn&pceid=$pceid";
my $mq = "qeid=$mqeid&encrypted_ppid=" . ('0' x 768)
         . "&cpusvn=07070202030100ff0000000000000000&pcesvn=0b00&pceid=$mpceid";

$t->mark_log;
is(register({ qe_id => $qeid, pce_id => $pceid, cpu_svn => $cpusvn,
              pce_svn => $pcesvn, enc_ppid => $ppid })->{status}, 200,
   'a platform registered by its encrypted PPID');
is(register({ qe_id => $mqeid, pce_id => $mpceid,
              platform_manifest => $manifest })->{status}, 200,
   'a multi-package platform registered by its manifest');

# ---- the registered sets refresh with nobody asking --------------------------

$o->reset;
ok($t->wait_for(sub {
       my @r = grep { $_->{target} =~ m{/pckcerts} } @{ $o->requests };
       (grep { $_->{method} eq 'GET' } @r) && (grep { $_->{method} eq 'POST' } @r)
   }, timeout => 20),
   'both sets are fetched again ahead of expiry: GET (PPID) and POST (manifest)');
unlike($t->error_log, qr/thim_refresh.*400|not a key of this family/,
       '... the refresh location takes their keys');

my $r = $t->get("$V4/pckcert?$q");
is($r->{status}, 200, 'the PPID platform is served');
my $want = $r->{content};
$r = $t->get("$V4/pckcert?$mq");
is($r->{status}, 200, 'the manifest platform is served');
my $mwant = $r->{content};

# ---- the snapshot keeps the registrations ------------------------------------

my $snap = $t->dir . '/thim.snap';
ok($t->wait_for(sub {
       my $s = eval { ThimSnapshot::read_all($snap) } or return 0;
       2 == grep { $_->{key} =~ /^intel-reg:[0-9a-f]{64}$/ } @{ $s->{records} }
   }, timeout => 10), 'the snapshot holds both registrations');
is((stat $snap)[2] & 07777, 0600, 'the snapshot is 0600');

# ---- a restart with the origin down: the registrations come back -------------

$t->stop;
$o->fault('/', drop => 1);
my $copy = ThimSnapshot::read_all($snap);
$t->mark_log;
$t->run;
ThimSnapshot::wait_loaded($t);
like($t->log_since_mark, qr/records loaded from snapshot .*\(0 damaged, 0 refused/,
     'the snapshot loads, nothing refused');
$r = $t->get("$V4/pckcert?$mq");
ok($r->{status} == 200 && $r->{content} eq $mwant,
   'the manifest platform is served with the origin down');
$r = $t->get("$V4/pckcert?$q");
ok($r->{status} == 200 && $r->{content} eq $want,
   '... and the PPID platform');

$o->clear_faults;
$o->reset;
ok($t->wait_for(sub {
       grep { $_->{target} =~ m{/pckcerts} && $_->{method} eq 'POST' }
           @{ $o->requests }
   }, timeout => 20), 'after the restart the registration still refreshes its set');

# ---- a registration under another platform's key is refused ------------------

$t->stop;
my @reg = grep { $_->{key} =~ /^intel-reg:/ } @{ $copy->{records} };
($reg[0]{value}, $reg[1]{value}) = ($reg[1]{value}, $reg[0]{value});
ThimSnapshot::write_file($snap, $copy);
unlink "$snap.journal";
$t->mark_log;
$t->run;
ThimSnapshot::wait_loaded($t);
like($t->log_since_mark, qr/records loaded from snapshot .*\(0 damaged, 2 refused/,
     'two swapped registrations: both refused on load');
like($t->log_since_mark, qr/the registration is another platform's/,
     '... saying why');

$t->check_alerts;
done_testing;
