#!/usr/bin/perl
# Tiers on loopback: two edges whose origin is a pool of two regional
# ngx_thim (hash $thim_key consistent), one emulator behind the regionals.
# A cold stampede costs the emulator one request per key; one regional
# down, the other takes its keys; both down, the edges serve what they
# hold (stale where expired) and back off; a regional's Retry-After holds
# the edge off; an answer forged at a regional is refused at the edge.
# docs/deployment.md quotes the figures this prints.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use ThimOrigin;
use ThimSetup;
use ThimTiers;

my $V4 = '/sgx/certification/v4';

# one real key is asked before the stampede (lifetimes), the others in it
my $PRE = "$V4/tcb?fmspc=00906ea10000";
my @real = grep { $_ ne $PRE } ThimTiers::real_keys();
my @unknown = ThimTiers::unknown_keys(17);
my @keys = (@real, @unknown);
my ($milan2, @milan) = ThimTiers::milan_chips();

is(scalar @real, 33, '33 real keys');
is(scalar @keys, 50, '50 keys');

# ---- the topology ------------------------------------------------------

# the regionals: the API key, the emulator as origin; a short life, so
# that the edges' copies (bounded by the regionals' max-age) expire here
my $REGIONAL_VALID = 30;
# (a busy machine: generous timeouts, the edge's above the regional's)
my $regional_http = <<"EOF";
    thim_cache_valid ${REGIONAL_VALID}s;
    thim_fetch_timeout 60s;
    log_format tierkey '\$http_ocp_apim_subscription_key \$request';
    access_log %%TESTDIR%%/logs/key.log tierkey;
EOF

my ($r1, $o) = ThimSetup::start(workers => 1, http => $regional_http,
                                read_timeout => '30s',
                                connect_timeout => '20s');
my $pki = $r1->pki;
my ($r2) = ThimSetup::start(workers => 1, pki => $pki, no_origin => 1,
                            origin_port => $o->port, http => $regional_http,
                            read_timeout => '30s',
                            connect_timeout => '20s');

# the edges: no API key, the pool of regionals as origin, Intel's root CA
# CRL from the regionals' rootcacrl (hex, as a PCCS serves it)
sub edge_conf {
    my (@ports) = @_;
    my $servers = join '', map {
        "server 127.0.0.1:$_ max_fails=1 fail_timeout=30s;\n        "
    } @ports;
    return (workers => 2, pki => $pki, no_origin => 1,
            api_key_file => undef, backoff => '2s 30s',
            read_timeout => '60s', connect_timeout => '20s',
            http => 'thim_fetch_timeout 90s;',
            upstream => "hash \$thim_key consistent;\n        $servers"
                        . 'keepalive 4;',
            root_loc => 'rewrite ^ /sgx/certification/v4/rootcacrl break;');
}

my @pool = ($r1->port('https'), $r2->port('https'));
my ($e1) = ThimSetup::start(edge_conf(@pool));
my ($e2) = ThimSetup::start(edge_conf(@pool));
my @edges = ($e1, $e2);

like($e1->error_log, qr/has no "thim_intel_api_key_file"/,
     'an edge has no API key (a warning says so)');

# ---- a cold stampede: 200 clients over 50 keys on both edges ----------

sub stampede { ThimTiers::stampede($e1->dir, @_) }

# the origin's request counted for a key (the root CA CRL has its own path)
sub origin_count {
    my ($key) = @_;
    return $o->count('/IntelSGXRootCA.der') if $key =~ /rootcacrl$/;
    my $n = 0;
    my $c = $o->counts;
    for my $k (keys %$c) {
        $n += $c->{$k} if same_key($k, $key);
    }
    return $n;
}

sub same_key { ThimTiers::same_key(@_) }

my %body;

# the edge's copy lives no longer than the regional's
my $r = $e1->get($PRE, timeout => 120);
is($r->{headers}{'x-cache-status'}, 'MISS', 'a key fetched through a '
                                              . 'regional');
$body{$PRE} = $r->{content};
$r = $e1->get($PRE);
my ($max_age) = ($r->{headers}{'cache-control'} // '') =~ /max-age=(\d+)/;
ok(defined $max_age && $max_age <= $REGIONAL_VALID,
   "the edge's max-age (" . ($max_age // 'none') . ") is bounded by the "
   . "regional's ($REGIONAL_VALID s), not its own thim_cache_valid (300 s)");
is($r->{headers}{'x-cache-status'}, 'HIT', 'then a hit at the edge');

$o->reset;
my @reqs;
for my $round (1 .. 2) {
    for my $i (0 .. $#keys) {
        push @reqs, [ $edges[($i + $round) % 2], $keys[$i] ],
                    [ $edges[($i + $round + 1) % 2], $keys[$i] ];
    }
}
is(scalar @reqs, 200, '200 clients');

my $t0 = time;
my @res = stampede(@reqs);
my $fill = time - $t0;

my $bad = 0;
for my $i (0 .. $#reqs) {
    my ($st, $xcs, $cc, $content) = @{ $res[$i] };
    my $key = $reqs[$i][1];
    my $want = (grep { $_ eq $key } @unknown) ? 404 : 200;
    if ($st != $want) {
        $bad++;
        diag("$key: $st $xcs " . substr($content // '', 0, 200));
        next;
    }
    $body{$key} //= $content if $st == 200;
    $bad++, diag("$key: two bodies") if $st == 200 && $body{$key} ne $content;
}
is($bad, 0, 'every client got its key (real: 200 and the same bytes; '
            . 'unknown: 404)');

my $total = $o->total;
is($total, 50, "the emulator saw exactly 50 requests for 200 clients "
               . "on 2 edges (cold fill: " . sprintf('%.2f', $fill) . ' s)');
my @twice = grep { origin_count($_) != 1 } @keys;
is("@twice", '', 'one emulator request per key');

# each key went through one regional, whichever edge asked
my %via;
for my $i (0, 1) {
    my $log = ($r1, $r2)[$i]->read_file('logs/thim.log') // '';
    for my $line (split /\n/, $log) {
        my (undef, undef, undef, $req) = split / /, $line, 4;
        next unless $req && $req =~ m{^GET (\S+)};
        my $path = $1;
        for my $k (@keys) {
            $via{$k}{$i}++ if $path eq $k || same_key($path, $k)
                || ($k =~ /rootcacrl$/ && $path =~ /rootcacrl$/);
        }
    }
}
my @split = grep { keys %{ $via{$_} || {} } != 1 } @keys;
is("@split", '', 'each key was fetched through exactly one regional');
my @on = map { my $i = $_; scalar grep { $via{$_}{$i} } @keys } 0, 1;
my $hops = 0;
$hops += $_ for map { values %{ $via{$_} } } @keys;
ok($on[0] && $on[1], "the pool shares the keys: $on[0] and $on[1]");


# the root CA CRL came as hex from the regional and is DER at the edge
$r = $e1->get("$V4/rootcacrl");
is($r->{status}, 200, 'rootcacrl at the edge');
like($r->{content}, qr/^[0-9a-f]+$/, 'served as hex to its clients');
is($e1->get("$V4/pckcrl?uri=https%3a%2f%2fcertificates.trustedservices."
            . 'intel.com%2fIntelSGXRootCA.der&clientid=x')->{status}, 200,
   'and kept as the CRL itself (the Azure uri= form)');

# over HTTP/2 too
$r = $e2->get("$V4/qe/identity", http2 => 1);
is($r->{status}, 200, 'HTTP/2 at the edge: 200');
is($r->{content}, $body{"$V4/qe/identity"}, 'the same bytes');

# ---- one regional down --------------------------------------------------

$_->mark_log for @edges;
$r1->stop;
$o->reset;
@res = stampede(map { ([ $e1, $_ ], [ $e2, $_ ]) } @keys);
is(scalar(grep { $_->[0] == 200 } @res), 2 * @real,
   'one regional down: the edges serve every key they hold');
my @fetched = grep { $_->[1] !~ /^(HIT|UPDATING|STALE)$/ } @res;
is(scalar @fetched, 0, 'from their own zones (no MISS)');

# keys the edges do not hold go through the other regional: a PCK
# certificate (the PPID passes through, the API key is the regional's),
# and an Azure form of a chip never asked for
my @rows = map { [split /,/] } grep { /^[0-9a-f]{768},/i }
    split /\n/, ThimSetup::fixture('intel/pckcerts/pckid_retrieval.csv');
my ($ppid, $pceid, $cpusvn, $pcesvn) = @{ $rows[0] };
my @new = ThimTiers::unknown_keys(8, 'ffdd');
my $miss = 0;
for my $k (@new) {
    $miss++ unless $e1->get($k)->{status} == 404;
}
is($miss, 0, 'new keys: fetched (404 from the emulator, through the '
             . 'regional left)');
is(scalar(grep { origin_count($_) == 1 } @new), 8, 'once each');
my $r2log = $r2->read_file('logs/thim.log') // '';
is(scalar(grep { $r2log =~ /\Q$_\E/ } @new), 8,
   'all through the regional left');
ok(grep({ $_->log_since_mark =~ /connect\(\) failed .*127\.0\.0\.1:$pool[0]/ }
        @edges),
   'keys that hash to the regional that is down went on to the other '
   . '(proxy_next_upstream; then max_fails)');

$r = $e2->get("$V4/pckcert?encrypted_ppid=$ppid&cpusvn=$cpusvn"
              . "&pcesvn=$pcesvn&pceid=$pceid");
is($r->{status}, 200, 'a PCK certificate at an edge without an API key');
like($r->{content}, qr/^-----BEGIN CERTIFICATE-----/, 'PEM');
is($o->count("$V4/pckcerts"), 1, 'the regional fetched the set once');
my $keylog = $r2->read_file('logs/key.log') // '';
my ($line) = grep { m{ GET $V4/pckcerts\?} } split /\n/, $keylog;
like($line // '', qr/^- GET /, 'the edge sent no API key to the regional');
ok(!grep({ /\Q$ppid\E/i } map { split /\n/, $_->access_log
                                 . ($_->read_file('logs/thim.log') // '') }
                             $e2, $r2),
   'no PPID in the access logs of either tier');
is(scalar(grep { $_->{target} =~ m{/pckcerts\?}
                 && ($_->{headers}{'ocp-apim-subscription-key'} // '') eq
                    ThimOrigin::DEFAULT_API_KEY } @{ $o->requests }), 1,
   'the emulator got the API key from the regional');

my $CHIP = $milan2;
$r = $e2->get('/metadata/THIM/amd/certification?platformId=' . $CHIP
              . '&tcbVersion=4405000000000002&productName=Milan',
              headers => { Metadata => 'true' });
is($r->{status}, 200, "Azure's THIM JSON at the edge, from KDS forms "
                      . 'held by the edge');

# a regional's Retry-After holds the edge off its origin
my $VC = "/vcek/v1/Genoa/$milan[0]?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=1";
$o->fault("/vcek/v1/Genoa/$milan[0]", status => 429, retry_after => 7,
          times => 1);
$r = $e1->get($VC);
is($r->{status}, 503, "KDS said 429 to the regional: 503 at the edge");
is($r->{headers}{'retry-after'}, 7, "with the origin's Retry-After");
$r = $e1->get("/vcek/v1/Genoa/$milan[1]?blSPL=1&teeSPL=0&snpSPL=1&ucodeSPL=1");
is($r->{status}, 503, 'another KDS key at that edge: 503 at once');
ok($r->{headers}{'retry-after'} > 0, 'with the time left');
sleep 0.5;
unlike($r2->read_file('logs/thim.log') // '', qr{/vcek/v1/Genoa/$milan[1]},
       'the edge did not ask the regional for it');

# ---- both regionals down: stale where expired, and back off -------------

$r2->stop;
# (every copy was fetched by the end of the fill: expired a lifetime on)
my $wait = $t0 + $fill + $REGIONAL_VALID + 2 - time;
sleep $wait if $wait > 0;

$e1->mark_log;
my (%xcs, $same);
$same = 0;
for my $round (1 .. 3) {
    for my $k (@real) {
        my $got = $e1->get($k);
        $xcs{"$got->{status} " . ($got->{headers}{'x-cache-status'} // '')}++;
        $same++ if $got->{status} == 200 && $got->{content} eq $body{$k};
    }
}
is($same, 3 * @real, 'both regionals down: every copy the edge holds is '
                     . 'served, the same bytes');
my @xcs = sort keys %xcs;
ok(!grep({ !/^200 (STALE|UPDATING|HIT)$/ } @xcs)
   && grep({ /STALE|UPDATING/ } @xcs),
   "expired copies served STALE (@xcs)");
my $tries = () = $e1->log_since_mark =~ /no answer from origin/g;
ok($tries < @real, "and backing off: $tries attempts for "
                   . 3 * @real . ' requests');
$r = $e1->get("$V4/tcb?fmspc=ffcc00000001");
is($r->{status}, 503, 'a key the edge never held: 503 at once');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
is($e2->get($real[0])->{status}, 200, 'the other edge too');

# ---- an answer forged at a regional is refused at the edge --------------

# the "regional" is the emulator itself, re-signing with a key of its own
$o->clear_faults;
$o->fault("$V4/tcb", resign => 1);
my ($e3) = ThimSetup::start(edge_conf($o->port));
$r = $e3->get("$V4/tcb?fmspc=00906ea10000");
is($r->{status}, 502, 'an answer forged above: 502 at the edge');
like($r->{content}, qr/refused/, 'saying it was refused');
$o->clear_faults;
# (the key backs off after the refusal: thim_fetch_backoff's first step)
$e3->wait_for(sub { ($r = $e3->get("$V4/tcb?fmspc=00906ea10000"))
                    ->{status} != 502 }, timeout => 15, interval => 0.5);
is($r->{status}, 200, 'nothing of it cached: the genuine answer next');
is($r->{content}, $body{"$V4/tcb?fmspc=00906ea10000"}, 'byte for byte');

# a regional's stale copy is stale at the edge: its X-Cache-Status says so
$o->serve("$V4/tcb?fmspc=00906ed50000", status => 200,
          file => 'intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json',
          headers => { 'X-Cache-Status' => 'STALE',
                       'Cache-Control' => 'max-age=60' });
$r = $e3->get("$V4/tcb?fmspc=00906ed50000");
is($r->{status}, 200, "an upper tier's stale copy: served");
is($r->{headers}{'x-cache-status'}, 'STALE', 'marked STALE at the edge');
$r = $e3->get("$V4/tcb?fmspc=00906ed50000");
like($r->{headers}{'x-cache-status'}, qr/^(STALE|UPDATING)$/,
     'and never fresh there');

# a newer stale copy above replaces an older one here (still expired); the
# same stale copy again is a failed refresh: the copy stays, the key backs
# off
my $K = "$V4/tcb?fmspc=00606a000000";
sub ev { "intel/pcs/eval-series/tcb_00606a000000_eval$_[0]_2025-06-06.json" }
my %stale = ('X-Cache-Status' => 'STALE', 'Cache-Control' => 'max-age=60');
$o->serve($K, file => ev(17), headers => \%stale);
$r = $e3->get($K);
is($r->{content}, ThimSetup::fixture(ev(17)),
   'a stale copy (evaluation 17) from above');
$o->serve($K, file => ev(19), headers => \%stale);
my $want19 = ThimSetup::fixture(ev(19));
$e3->mark_log;
ok($e3->wait_for(sub { $e3->get($K)->{content} eq $want19 },
                 timeout => 30, interval => 0.5),
   'a newer stale copy above (evaluation 19) replaces it');
like($e3->get($K)->{headers}{'x-cache-status'}, qr/^(STALE|UPDATING)$/,
     'still expired');
ok($e3->wait_for(sub {
       $e3->get($K);
       $e3->log_since_mark =~ /upper tier's copy of .* is stale too/;
   }, timeout => 30, interval => 0.5),
   'the same stale copy again: a failed refresh, the copy kept');
is($e3->get($K)->{content}, $want19, 'the newer copy still served');

# ---- mirror failover: the primary down, another ngx_thim as backup -------

$r1->run;                               # a regional again, its zone empty
my $dead = $e1->port('dead');           # nothing listens there
my ($m) = ThimSetup::start(workers => 1, pki => $pki, no_origin => 1,
    api_key_file => undef, read_timeout => '60s', connect_timeout => '20s',
    http => 'thim_fetch_timeout 90s;',
    upstream => "server 127.0.0.1:$dead;\n        server 127.0.0.1:"
                . $r1->port('https') . " backup;\n        keepalive 4;",
    root_loc => 'rewrite ^ /sgx/certification/v4/rootcacrl break;');
$o->reset;
$r = $m->get("$V4/tcb?fmspc=00906ea10000", timeout => 120);
is($r->{status}, 200, 'the primary down: the backup (another ngx_thim) '
                      . 'answered');
is($r->{content}, $body{"$V4/tcb?fmspc=00906ea10000"}, 'the same bytes');
like($m->error_log, qr/connect\(\) failed .*127\.0\.0\.1:$dead/,
     'after the primary refused the connection');
is($o->count("$V4/tcb"), 1, 'one origin request, by the backup');
$r = $m->get("$V4/rootcacrl", timeout => 120);
is($r->{status}, 200, 'the root CA CRL from the backup\'s rootcacrl (hex, '
                      . 'the PCCS form)');
is($r->{content}, $e2->get("$V4/rootcacrl")->{content},
   'the same CRL as the edges hold');

diag(sprintf 'cold fill of 50 keys, 200 clients, 2 edges / 2 regionals: '
     . '%.2f s; edge->regional requests: %d (keys per regional: %d, %d); '
     . 'origin requests: %d; load average at the end: %s', $fill, $hops,
     @on, $total, (split ' ', `cat /proc/loadavg`)[0]);

done_testing;
