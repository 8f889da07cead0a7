#!/usr/bin/perl
# PCCS appraisal policies (issue 17): PUT /appraisalpolicy (admin-token) as
# the PCCS admin tool sends it, GET /appraisalpolicy?fmspc= as QCNL's
# tee_qcnl_get_default_platform_policy() asks; the default policy of an
# FMSPC per type, kept across a restart.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha384_hex sha512_hex);
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use Test::More;

use ThimSetup;
use ThimSnapshot;

my $V4 = '/sgx/certification/v4';
my $ADMIN = 'admin-secret-token';
my $JSON = JSON::PP->new->canonical;

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_pccs_admin_token_hash ' . sha512_hex($ADMIN) . ';',
    zone => '4m snapshot=%%TESTDIR%%/thim.snap snapshot_interval=1s');

sub jwt {
    my ($class, $n) = @_;
    my $payload = { policy_payload => $JSON->encode(
        { policy_array => [ { environment => { class_id => $class } } ],
          n => $n }) };
    return join '.', map { encode_base64url($_) }
        '{"alg":"ES384","typ":"JWT"}', $JSON->encode($payload), "sig$n";
}

sub put {
    my ($doc, %opt) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{'admin-token'} = $ADMIN unless $opt{no_token};
    return $t->get("$V4/appraisalpolicy", method => 'PUT', headers => \%h,
                   body => ref $doc ? $JSON->encode($doc) : $doc);
}

my $SGX = '3123ec35-8d38-4ea5-87a5-d6c48b567570';
my $TDX = '9eec018b-7481-4b1c-8e1a-9f7c0c8c777f';
my $sgx = jwt($SGX, 1);

is(put({ policy => $sgx, is_default => JSON::PP::true, fmspc => '00906ea10000' },
       no_token => 1)->{status}, 401, 'PUT without the admin token: 401');

for my $bad ([{ policy => $sgx, fmspc => '00906ea1000' }, 'fmspc 11 hex'],
             [{ policy => 'not.a-jwt', fmspc => '00906ea10000' }, 'not a JWT'],
             [{ policy => jwt('0000', 2), fmspc => '00906ea10000' }, 'an unknown class_id'],
             [{ policy => $sgx, fmspc => '00906ea10000', is_default => 'yes' }, 'is_default a string'],
             ['{"policy":', 'not JSON'])
{
    my $r = put($bad->[0]);
    is($r->{status}, 400, "$bad->[1]: 400");
    is($r->{content}, 'Invalid request parameters.', '... PCCS\'s answer');
}

my $r = put({ policy => $sgx, is_default => JSON::PP::true, fmspc => '00906ea10000' });
is($r->{status}, 200, 'a default SGX policy: 200');
is($r->{content}, sha384_hex($sgx), '... answered with its id, SHA-384 of the JWT');

my $tdx = jwt($TDX, 3);
is(put({ policy => $tdx, is_default => JSON::PP::true, fmspc => '00906EA10000' })->{status},
   200, 'a default TDX policy of the same FMSPC');
is(put({ policy => jwt($SGX, 4), is_default => JSON::PP::false, fmspc => '00906ea10000' })->{status},
   200, 'a policy that is not a default');

$r = $t->get("$V4/appraisalpolicy?fmspc=00906EA10000", http2 => 1);
is($r->{status}, 200, 'QCNL\'s GET (no token): 200');
is($r->{content}, "$sgx,$tdx", '... the default policies, joined by ","');

$r = $t->get("$V4/appraisalpolicy?fmspc=00906ed50000");
is($r->{status}, 404, 'an FMSPC without one: 404');
is($r->{content}, 'No cache data for this platform.', '... PCCS\'s answer');
is($t->get("$V4/appraisalpolicy?fmspc=zz")->{status}, 400, 'a bad fmspc: 400');
is($o->total, 0, 'the origin is never asked');

# ---- kept across a restart ----------------------------------------------------

my $snap = $t->dir . '/thim.snap';
ok($t->wait_for(sub {
       my $s = eval { ThimSnapshot::read_all($snap) } or return 0;
       2 == grep { $_->{key} =~ /^intel-policy:00906EA10000:[01]$/ } @{ $s->{records} }
   }, timeout => 10), 'the snapshot holds both default policies');
$t->stop;
$t->mark_log;
$t->run;
ThimSnapshot::wait_loaded($t);
like($t->log_since_mark, qr/records loaded from snapshot .*\(0 damaged, 0 refused/,
     'both policies re-checked and loaded');
is($t->get("$V4/appraisalpolicy?fmspc=00906ea10000")->{content}, "$sgx,$tdx",
   'served after the restart');

$t->check_alerts;
done_testing;
