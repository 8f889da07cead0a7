#!/usr/bin/perl
# The status endpoint (thim_status;): after a known sequence of requests
# (one miss, then hits, over HTTP/1.1 and HTTP/2) the counters say exactly
# that, in JSON and in the Prometheus text format alike; zone memory adds
# up; every declared zone is listed, its name escaped; only GET and HEAD.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use ThimSetup;
use ThimTest;

my $QE = '/sgx/certification/v4/qe/identity';
my $STATUS = '/thim/status';

# three zones: the one the routes use, a spare one, and one whose name
# needs escaping in both formats (nginx unquotes it to: odd"zone\x)
my $ODD = 'odd"zone\\x';
my ($t, $o) = ThimSetup::start(
    workers => 2,
    http => q{thim_cache_zone name=spare:128k;
              thim_cache_zone "name=odd\"zone\\\\x:128k";
              thim_cache thim;},
    server => "location = $STATUS { thim_status; }");

sub status_json {
    my (%opt) = @_;
    my $r = $t->get($STATUS, %opt);
    my $j = eval { JSON::PP::decode_json($r->{content}) };
    return ($j, $r);
}

# samples of a Prometheus text body, checking the syntax on the way:
# { 'name{labels}' => value }, and the families in order of appearance
sub parse_prometheus {
    my ($text, $what) = @_;
    my (%samples, %help, %type, @families, %seen, @bad);
    my $current = '';
    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP ([a-z_]+) \S/) {
            $help{$1} = 1;
        } elsif ($line =~ /^# TYPE ([a-z_]+) (counter|gauge)$/) {
            push @bad, "TYPE before HELP: $line" unless $help{$1};
            $type{$1} = $2;
        } elsif ($line =~ /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/) {
            my ($name, $labels, $value) = ($1, $2 // '', $3);
            push @bad, "no HELP/TYPE before: $line"
                unless $help{$name} && $type{$name};
            if ($name ne $current) {
                push @bad, "family $name split up" if $seen{$name}++;
                push @families, $name;
                $current = $name;
            }
            push @bad, "duplicate sample: $line"
                if exists $samples{"$name$labels"};
            $samples{"$name$labels"} = $value;
        } else {
            push @bad, "bad line: $line";
        }
    }
    is_deeply(\@bad, [], "$what: valid text exposition syntax")
        or diag($text);
    return (\%samples, \@families);
}

# --- before any traffic ------------------------------------------------------

my ($s0, $r0) = status_json();
is($r0->{status}, 200, 'status 200');
is($r0->{headers}{'content-type'}, 'application/json', 'JSON by default');
is($r0->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
ok($s0, 'JSON parses') or diag($r0->{content});
is($s0->{version}, 1, 'version 1');
ok(abs($s0->{time} - time) <= 5, 'time is the current unix time');
is_deeply([sort keys %{$s0->{zones}}], [sort 'thim', 'spare', $ODD],
          'every declared zone is listed, names unescaped by the parser');

# keys in the documented order, checked on the raw text
my @order = (qw(size free used entries record_bytes hits misses stale waits
               fetches results ok not_found gone rate_limited error timeout
               invalid held_off evictions holdoff intel intel_root amd
               intel_pck backoff intel intel_root amd),
            (map { ("budget_$_", qw(intel intel_root amd)) }
             qw(refreshes cold refused deferred tightened cold_divisor
                tokens)),
            'snapshot');
my ($spare_raw) = $r0->{content} =~ /"spare":(\{.*?"snapshot":\d+\})/;
is(join(' ', ($spare_raw // '') =~ /"([a-z_]+)":/g), join(' ', @order),
   'zone keys in the documented order');
like($r0->{content}, qr/"odd\\"zone\\\\x":\{/, 'zone name escaped in JSON');

my $z0 = $s0->{zones}{thim};
is($z0->{$_}, 0, "no traffic yet: $_ = 0")
    for qw(entries record_bytes hits misses fetches);

# --- a known sequence: one miss, then five hits over HTTP/1.1 and HTTP/2 -----

my $r = $t->get($QE);
is($r->{headers}{'x-cache-status'}, 'MISS', 'first request: MISS');
my @hits = ($t->get_many([$QE, $QE, $QE]),
            $t->get($QE, http2 => 1), $t->get($QE, http2 => 1));
is(scalar(grep { $_->{status} == 200
                 && $_->{headers}{'x-cache-status'} eq 'HIT' } @hits), 5,
   'then five HITs');
is(scalar(grep { $_->{proto} eq 'HTTP/2' } @hits), 2,
   '... two of them HTTP/2');

# traffic has stopped: every form below describes the same instant
my ($s1, $r1) = status_json();
my ($s2) = status_json(http2 => 1);
my $pj = $t->get("$STATUS?format=prometheus");
my $pa = $t->get($STATUS, http2 => 1, headers => {
                     Accept => 'text/plain;version=0.0.4;q=0.5,*/*' });

my $z1 = $s1->{zones}{thim};
my %delta = map { $_ => $z1->{$_} - $z0->{$_} } qw(hits misses fetches);
is($delta{hits}, 5, 'hits moved by exactly 5');
is($delta{misses}, 1, 'misses moved by exactly 1');
is($delta{fetches}, 1, 'fetches moved by exactly 1');
is($z1->{results}{ok} - $z0->{results}{ok}, 1, 'results.ok moved by 1');
is($z1->{results}{$_}, 0, "results.$_ = 0")
    for qw(not_found gone rate_limited error timeout invalid);
is($z1->{$_}, 0, "$_ = 0") for qw(stale waits held_off evictions);
is($z1->{holdoff}{$_}, 0, "holdoff.$_ = 0") for qw(intel intel_root amd intel_pck);
cmp_ok($z1->{entries}, '>=', 1, 'entries >= 1');
cmp_ok($z1->{record_bytes}, '>', 0, 'record_bytes > 0');
is($z1->{size}, 4 * 1024 * 1024, 'size is the configured 4m');
cmp_ok($z1->{free}, '>', 0, 'free > 0');
is($z1->{used} + $z1->{free}, $z1->{size}, 'used + free == size');
cmp_ok($z1->{free}, '<', $z0->{free}, 'the cached record took zone memory');
is($z1->{free} % 4096, 0, 'free is whole pages');
is_deeply($s2->{zones}, $s1->{zones}, 'the same numbers over HTTP/2');

my $spare = $s1->{zones}{spare};
is($spare->{size}, 128 * 1024, 'second zone: its own size');
is($spare->{entries} + $spare->{hits} + $spare->{misses}
   + $spare->{fetches}, 0, 'second zone: untouched');

# --- Prometheus: same numbers, valid syntax ----------------------------------

is($pj->{status}, 200, '?format=prometheus: 200');
is($pj->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   '?format=prometheus: text format 0.0.4');
is($pj->{headers}{'cache-control'}, 'no-store', 'Prometheus: no-store');
is($pa->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   'Accept: text/plain (HTTP/2) selects Prometheus');
is($pa->{content}, $pj->{content}, '... with the same body');

my ($p, $families) = parse_prometheus($pj->{content}, 'Prometheus');

my %families = map { $_ => 1 } @$families;
ok($families{$_}, "family $_") for qw(thim_cache_hits_total
    thim_origin_fetches_total thim_zone_bytes thim_cache_entries
    thim_origin_holdoff_until_seconds);

my %want;
for my $zone (keys %{$s1->{zones}}) {
    my $z = $s1->{zones}{$zone};
    (my $label = $zone) =~ s/(["\\])/\\$1/g;
    my $l = qq{zone="$label"};
    $want{"thim_zone_size_bytes{$l}"} = $z->{size};
    $want{qq{thim_zone_bytes{$l,state="$_"}}} = $z->{$_} for qw(free used);
    $want{"thim_cache_entries{$l}"} = $z->{entries};
    $want{"thim_cache_record_bytes{$l}"} = $z->{record_bytes};
    $want{"thim_cache_${_}_total{$l}"} = $z->{$_}
        for qw(hits misses stale waits evictions);
    $want{"thim_origin_fetches_started_total{$l}"} = $z->{fetches};
    $want{qq{thim_origin_fetches_total{$l,result="$_"}}} = $z->{results}{$_}
        for keys %{$z->{results}};
    $want{"thim_origin_held_off_total{$l}"} = $z->{held_off};
    $want{qq{thim_origin_holdoff_until_seconds{$l,origin="$_"}}}
        = $z->{holdoff}{$_} for keys %{$z->{holdoff}};
    $want{qq{thim_origin_backoff_keys{$l,origin="$_"}}}
        = $z->{backoff}{$_} for keys %{$z->{backoff}};
    for my $b (qw(refreshes cold refused deferred tightened)) {
        $want{qq{thim_origin_budget_${b}_total{$l,origin="$_"}}}
            = $z->{"budget_$b"}{$_} for keys %{$z->{"budget_$b"}};
    }
    for my $b (qw(cold_divisor tokens)) {
        $want{"thim_origin_budget_$b" . qq({$l,origin="$_"})}
            = $z->{"budget_$b"}{$_} for keys %{$z->{"budget_$b"}};
    }
    $want{"thim_snapshot_written_seconds{$l}"} = $z->{snapshot};
}
is_deeply($p, \%want, 'Prometheus samples == JSON numbers, nothing else');
ok(exists $p->{'thim_cache_hits_total{zone="odd\"zone\\\\x"}'},
   'zone label escaped as the text format requires');

# --- format selection and methods -------------------------------------------

$r = $t->get("$STATUS?format=json", headers => { Accept => 'text/plain' });
is($r->{headers}{'content-type'}, 'application/json',
   'format=json wins over Accept: text/plain');
$r = $t->get("$STATUS?format=xml");
is($r->{status}, 400, 'unknown format: 400');
like($r->{content}, qr/"parameter":"format"/, '... a JSON error naming it');

$r = $t->get($STATUS, method => 'HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content}, '', 'HEAD: no body');
is($r->{headers}{'content-type'}, 'application/json', 'HEAD: JSON headers');

for my $h2 (0, 1) {
    $r = $t->get($STATUS, method => 'POST', body => '{"x":1}', http2 => $h2);
    is($r->{status}, 405, "POST: 405 (http2=$h2)");
    is($r->{headers}{'content-type'}, 'application/json', 'POST: JSON error');
    ok(eval { JSON::PP::decode_json($r->{content})->{error} },
       'POST: error body parses');
    is($r->{headers}{allow}, 'GET, HEAD', 'POST: Allow header');
}

# status requests are not cache traffic
my ($s3) = status_json();
is_deeply([@{$s3->{zones}{thim}}{qw(hits misses fetches)}],
          [@{$z1}{qw(hits misses fetches)}],
          'status requests leave the counters alone');

# --- an origin 429: the result and the hold-off, in both formats ------------

my $TDX = '/tdx/certification/v4/qe/identity';
$o->fault($TDX, status => 429, retry_after => 30);
is($t->get($TDX)->{status}, 503, 'origin 429 -> 503');
my $before = time;
my ($s4) = status_json();
my $z4 = $s4->{zones}{thim};
is($z4->{results}{rate_limited} - $z1->{results}{rate_limited}, 1,
   'results.rate_limited moved by 1');
cmp_ok($z4->{holdoff}{intel}, '>', $before, 'holdoff.intel: a future time');
cmp_ok($z4->{holdoff}{intel}, '<=', $before + 31, '... Retry-After away');
is($z4->{holdoff}{$_}, 0, "holdoff.$_ untouched") for qw(intel_root amd intel_pck);
($p) = parse_prometheus($t->get("$STATUS?format=prometheus")->{content},
                       'after a 429');
is($p->{'thim_origin_holdoff_until_seconds{zone="thim",origin="intel"}'},
   $z4->{holdoff}{intel}, 'Prometheus: the same hold-off');
is($p->{'thim_origin_fetches_total{zone="thim",result="rate_limited"}'},
   $z4->{results}{rate_limited}, 'Prometheus: the same rate_limited');

# --- no zone declared at all: an empty list, not an error ------------------

my $bare = ThimTest->new(modules => [ThimSetup::module()]);
$bare->write_config(<<'EOF');
%%TEST_GLOBALS%%
events {}
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location = /thim/status { thim_status; }
    }
}
EOF
$bare->run;
$r = $bare->get($STATUS, plain => 1);
my $empty = eval { JSON::PP::decode_json($r->{content}) };
is_deeply($empty && $empty->{zones}, {}, 'no zones: "zones":{}');
$r = $bare->get("$STATUS?format=prometheus", plain => 1);
($p) = parse_prometheus($r->{content}, 'no zones, Prometheus');
is_deeply($p, {}, 'no zones: HELP and TYPE only');

done_testing();
