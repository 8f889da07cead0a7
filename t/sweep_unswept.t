#!/usr/bin/perl
# The refresh sweep takes expired copies as well as copies due (so that
# after an outage longer than their life they come back with nobody
# asking, t/refresh_ahead.t).  A key the refresh location cannot serve
# must not then be asked for at every sweep for ever: a PCK certificate
# set whose platform nobody registered is fetched with the PPID of a
# client's request only, so the refresh location refuses it (400), and
# the sweep leaves that key to clients' requests until a new copy is
# stored.  Without that, every sweep would ask for it again, and enough
# such sets would fill every sweep's batch.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;

my $V4 = '/sgx/certification/v4';

my ($t, $o) = ThimSetup::start(workers => 2,
    http => 'thim_cache_valid 4s;',
    zone => '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh '
            . 'refresh_interval=1s',
    server => 'listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }');

my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid) = @{ $rows[0] }[0, 1];
my $SET = "$V4/pckcerts?encrypted_ppid=$ppid&pceid=$pceid";

# the sweep's loopback requests that the refresh location refused
sub refused {
    return scalar grep { $_->[1] eq '400' && $_->[3] =~ m{^GET /_thim/refresh} }
        ThimSetup::thim_log($t);
}

is($t->get($SET)->{status}, 200, 'a set nobody registered is cached');
is($o->count("$V4/pckcerts"), 1, '... one origin request');

# due after 3 s, expired after 4 s; the sweep runs every second
ok($t->wait_for(sub { refused() >= 1 }, timeout => 20),
   'once due, the sweep asks for it and the refresh location refuses');
# past its expiry, every sweep would otherwise take it again
sleep 8;
is(refused(), 1, '... once: the sweep leaves it to clients from then on');
is($o->count("$V4/pckcerts"), 1, 'the origin was not asked again');

# a client's request refetches the expired set; the new copy is swept
# again (and refused again) once due, once
my $r = $t->get($SET);
is($r->{status}, 200, 'a client asks for the expired set: the copy is served');
ok($t->wait_for(sub { $o->count("$V4/pckcerts") >= 2 }, timeout => 15),
   '... and fetched again for that client');
ok($t->wait_for(sub { refused() >= 2 }, timeout => 20),
   'the new copy, once due, is asked for by the sweep again');
sleep 8;
is(refused(), 2, '... once');

done_testing();
