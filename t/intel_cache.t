#!/usr/bin/perl
# Cache behaviour of the Intel routes beyond the identities (PROTOCOLS.md 0,
# 4.1): freshness from the collateral's nextUpdate within thim_cache_valid;
# expired collateral still served; a cold tcb key fetched once for 50
# concurrent clients across workers; origin 404s cached briefly
# (thim_cache_negative_valid) but never replacing a good copy; a newer
# collateral picked up after expiry; and an origin 429 holding off every
# Intel request from every worker for Retry-After seconds.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use ThimSetup;

sub start {
    my ($what, %opt) = @_;
    my @r = eval { ThimSetup::start(%opt) };
    return @r if $r[0];
    fail("$what: nginx starts");
    diag($@);
    return;
}

sub fx { ThimSetup::fixture(@_) }
sub xcs { $_[0]{headers}{'x-cache-status'} // '' }
sub max_age { (($_[0]{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/)[0] }

my $SGX4 = '/sgx/certification/v4';
my $TDX4 = '/tdx/certification/v4';

# ===========================================================================
# defaults: thim_cache_valid 5m 1d, thim_cache_negative_valid 1m

SKIP: {
    my ($t, $o) = start('defaults', workers => 2, http => 'thim_fetch_timeout 4s;')
        or skip 'no nginx', 1;

    # --- freshness -----------------------------------------------------------
    # every Intel fixture here but the root CRL is past its nextUpdate: still
    # served (THIM serves older baselines), fresh for the minimum, 5 minutes
    my $tcb = "$SGX4/tcb?fmspc=00906ed50000";
    my $r = $t->get($tcb);
    is($r->{status}, 200, 'tcb past nextUpdate: still served');
    ok($r->{content} eq fx('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json'),
       '... the origin bytes');
    my $age = max_age($r);
    ok(defined $age && $age >= 1 && $age <= 300,
       'tcb past nextUpdate: max-age within 1..300 (the 5m minimum)')
        or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
    is(xcs($t->get($tcb)), 'HIT', 'and fresh for a while: HIT');

    for my $p ("$SGX4/pckcrl?ca=platform&encoding=der", "$SGX4/qe/identity",
               "$SGX4/tcbevaluationdatanumbers")
    {
        $r = $t->get($p);
        $age = max_age($r);
        ok($r->{status} == 200 && defined $age && $age >= 1 && $age <= 300,
           "$p past nextUpdate: 200, max-age 1..300")
            or diag("$r->{status} " . ($r->{headers}{'cache-control'} // 'none'));
    }

    # the root CRL's nextUpdate is 2027-02-26: fresh for the 1d maximum
    $r = $t->get("$SGX4/rootcacrl");
    $age = max_age($r);
    ok($r->{status} == 200 && defined $age && $age > 3600 && $age <= 86400,
       'root CRL (nextUpdate months ahead): max-age capped at 1d, far above 5m')
        or diag("$r->{status} " . ($r->{headers}{'cache-control'} // 'none'));

    # --- negative caching, 1 minute by default --------------------------------
    my $unk = "$SGX4/tcb?fmspc=123456789abc";
    $r = $t->get($unk);
    is($r->{status}, 404, 'unknown fmspc: 404');
    is(xcs($r), 'MISS', '... MISS');
    $r = $t->get("$SGX4/tcb?fmspc=123456789ABC&clientid=x");
    is($r->{status}, 404, 'again: 404');
    is(xcs($r), 'HIT', '... from the negative cache (HIT)');
    ok(!grep({ $_->[1] eq '' } @{ $r->{header_list} }), '... no empty header value');
    like($r->{headers}{'request-id'} // '', qr/^[0-9a-f]{32}$/, '... Request-ID');
    is($o->count("$SGX4/tcb?fmspc=123456789abc&update=standard"), 1,
       'unknown fmspc: one origin request');
    $r = $t->get("$SGX4/tcb?fmspc=123456789abc&update=early");
    is(xcs($r), 'MISS', 'the negative entry is per key (update=early is another)');

    # --- 50 concurrent clients, one cold tcb key, 2 workers -------------------
    my $cold = "$SGX4/tcb?fmspc=90806f000000";
    my $canon = "$cold&update=standard";
    $o->fault($canon, latency => 700);
    my @res = $t->parallel(50, $cold);
    my $want = fx('intel/pcs/sgx/tcb_90806f000000_eval19_2025-08-08.json');
    is(scalar(grep { $_->{status} == 200 && $_->{content} eq $want } @res), 50,
       '50 clients: all 200 with the origin bytes')
        or diag(join ' ', map { $_->{status} } @res);
    is($o->count($canon), 1, '50 clients: exactly one origin request');
    is($o->count("$SGX4/tcb"), 4, 'no other tcb request meanwhile');
    my @lines = grep { $_->[3] =~ /fmspc=90806f000000/ } ThimSetup::thim_log($t);
    my %pids = map { $_->[0] => 1 } @lines;
    is(scalar(keys %pids), 2, '50 clients were served by both workers');
    is(scalar(grep { $_->[2] eq 'MISS' } @lines), 1, 'one MISS in the log');
    $o->clear_faults;

    # the same over HTTP/2, another cold key
    my $cold2 = "$TDX4/tcb?fmspc=90c06f000000";
    $o->fault("$cold2&update=standard", latency => 500);
    @res = $t->parallel(12, $cold2, http2 => 1);
    is(scalar(grep { $_->{status} == 200 && $_->{proto} eq 'HTTP/2' } @res), 12,
       'HTTP/2: 12 concurrent clients all 200');
    is($o->count("$cold2&update=standard"), 1, 'HTTP/2: one origin request');
    $o->clear_faults;

    # --- 429: every worker holds off Intel for Retry-After seconds -----------
    my $hit = $tcb;                                  # cached above
    my $b = "$SGX4/tcb?fmspc=00a06d080000";          # the one that gets 429
    my @cold = ("$TDX4/tcb?fmspc=00a06d080000", "$SGX4/qe/identity?update=early",
                "$SGX4/pckcrl?ca=processor", "$TDX4/qe/identity",
                "$SGX4/tcb?fmspc=00606a000000&tcbEvaluationDataNumber=18");
    # a window far wider than the checks below take on a busy machine
    my $ra = 12;
    $o->fault("$b&update=standard", status => 429, retry_after => $ra,
              times => 1);
    my $t0 = time;
    $r = $t->get($b);
    is($r->{status}, 503, 'origin 429 -> 503');
    is($r->{headers}{'retry-after'}, $ra, "... with the origin's Retry-After");
    my $n = $o->total;

    for my $p (@cold) {
        $r = $t->get($p);
        is($r->{status}, 503, "held off: $p -> 503 at once");
        my $h = $r->{headers}{'retry-after'};
        ok(defined $h && $h =~ /^\d+$/ && $h >= 1 && $h <= $ra,
           "... Retry-After 1..$ra")
            or diag('Retry-After: ' . ($h // 'none'));
        # waiting would cost the fetch timeout (4 s): far more than a busy
    # machine's slowest answer
    ok($r->{elapsed} < 3, '... without waiting for anything');
    }
    my $mark = () = ThimSetup::thim_log($t);
    @res = $t->parallel(12, $cold[0]);
    is(scalar(grep { $_->{status} == 503 } @res), 12, 'held off: 12 parallel clients all 503');
    my @held = (ThimSetup::thim_log($t))[$mark .. ($mark + 11)];
    %pids = map { $_->[0] => 1 } grep { defined && $_->[1] == 503 } @held;
    is(scalar(keys %pids), 2, '... from both workers');
    $r = $t->get($hit);
    is($r->{status}, 200, 'held off: a cached key is still served');
    ok($r->{content} eq fx('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json'),
       '... with its bytes');
    is($o->total, $n, 'the origin saw no request during the hold-off')
        or diag(join "\n", sort keys %{ $o->counts });
    ok(time - $t0 < $ra, "all of that within the $ra s hold-off")
        or diag('took ' . (time - $t0) . ' s: the checks above may be void');

    sleep($ra + 0.3 - (time - $t0)) if time - $t0 < $ra + 0.3;
    $r = $t->get($cold[0]);
    is($r->{status}, 200, 'after Retry-After: the origin is asked again');
    is(xcs($r), 'MISS', '... MISS');
    is($o->count("$cold[0]&update=standard"), 1, '... one request for it');
    $r = $t->get($b);
    is($r->{status}, 200, 'the key that got the 429 is fetched now too');
}

# ===========================================================================
# short lifetimes: thim_cache_valid 2s 2s, thim_cache_negative_valid 2s
# (the three cases share one wait for expiry; with a 1 s clock an entry may
# expire at once, so nothing here relies on it staying fresh)

SKIP: {
    my ($t, $o) = start('short lifetimes', workers => 2,
                        http => "thim_cache_valid 2s 2s;\n    thim_cache_negative_valid 2s;")
        or skip 'no nginx', 1;

    my $unk = "$SGX4/tcb?fmspc=0000000000ff";        # the origin has none
    my $tcb = "$SGX4/tcb?fmspc=00606a000000";        # becomes newer
    my $good = "$SGX4/tcb?fmspc=00906ed50000";       # the origin turns 404
    my $old = fx('intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06.json');
    my $new = fx('intel/pcs/eval-series/tcb_00606a000000_eval19_2025-06-06.json');
    my $body = fx('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json');

    is($t->get($unk)->{status}, 404, 'unknown fmspc: 404');
    $o->serve($tcb, file => 'intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06.json');
    my $r = $t->get($tcb);
    ok($r->{status} == 200 && $r->{content} eq $old, 'tcb: the (older) eval 17 body first');
    my $age = ($r->{headers}{'cache-control'} // '') =~ /^max-age=(\d+)$/ ? $1 : undef;
    ok(defined $age && $age >= 1 && $age <= 2, 'max-age follows thim_cache_valid 2s 2s')
        or diag('Cache-Control: ' . ($r->{headers}{'cache-control'} // 'none'));
    $r = $t->get($good);
    ok($r->{status} == 200 && $r->{content} eq $body, 'another tcb cached');

    $o->unserve($tcb);                                # the origin now has eval 19
    $o->serve($good, status => 404, body => '');      # and has lost this one
    my $n_unk = $o->count("$unk&update=standard");
    my $n_good = $o->count("$good&update=standard");
    is($n_unk, 1, 'unknown fmspc: asked once');
    sleep 2.3;

    # --- a negative entry expires ---------------------------------------------
    $r = $t->get($unk);
    is($r->{status}, 404, 'after 2s: unknown fmspc still 404');
    ok($t->wait_for(sub { $o->count("$unk&update=standard") >= 2 }, timeout => 10),
       '... and the origin is asked again');

    # --- a newer collateral is picked up after expiry ------------------------
    $r = $t->get($tcb);
    is($r->{status}, 200, 'expired tcb: still 200');
    ok($r->{content} eq $old || $r->{content} eq $new, '... old or new body, nothing else');
    my $got = $t->wait_for(sub {
        my $x = $t->get($tcb);
        return $x->{status} == 200 && $x->{content} eq $new;
    }, timeout => 10, interval => 0.1);
    ok($got, 'the newer eval 19 body is served after the refresh');
    ok($o->count("$tcb&update=standard") >= 2, '... fetched again from the origin');

    # --- an origin 404 never replaces a good copy ----------------------------
    my ($bad, $tries) = (0, 0);
    my $until = time + 1.6;
    while (time < $until) {
        $r = $t->get($good);
        $tries++;
        $bad++ unless $r->{status} == 200 && $r->{content} eq $body;
        sleep 0.15;
    }
    is($bad, 0, "origin answering 404 after expiry: the cached 200 kept ($tries requests)")
        or diag("last: $r->{status} " . xcs($r));
    ok($o->count("$good&update=standard") > $n_good, '... the origin was asked (and said 404)');
    like(xcs($r), qr/^(STALE|UPDATING)$/, '... served as an expired copy');
    $o->clear_serves;
    $got = $t->wait_for(sub { xcs($t->get($good)) eq 'HIT' }, timeout => 10, interval => 0.1);
    ok($got, 'origin good again: refreshed, HIT');
}

done_testing();
