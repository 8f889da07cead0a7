#!/usr/bin/perl
# bench/scale.pl (make bench-scale): ngx_thim with 1k, 10k and 100k
# entries, measured from outside only: nginx's own log lines, its status
# endpoint, /proc, the origin emulator's log and the clients' clocks.
# Nothing here reads the module's structures or its snapshot format, so
# the same run measures the code before and after a change of either.
#
# Per size N:
#   1. N distinct SGX TCB infos (FMSPC B0 + 10 hex digits), signed by a
#      look-alike Intel TCB Signing key (t/lib/ThimIntelPKI.pm, whose root
#      nginx pins) with build/tools/gen-tcb, as a bundle (docs/bundle.md)
#      with the look-alike root CA CRL.
#   2. nginx seeds its zone from the bundle (every entry checked as an
#      origin answer; in parts of at most BENCH_INDEX_MB of index, one
#      start each) and writes its own snapshot when it stops.
#   3. Run A (snapshot_interval 3600s: no periodic writer): nginx started
#      on that snapshot with the origin dropping every TCB request, so an
#      answer can only come from the zone: time to the first connection
#      accepted, to the first correct answer of a random cached key, to
#      the load's "records loaded" log line; sampled keys checked byte for
#      byte; hits vs static files of the same bytes (wrk, random key per
#      request, and one client probing beside wrk); worker RSS; waiter
#      wake-up latency.
#   4. Run B: the same nginx reloaded with snapshot_interval
#      BENCH_SNAPSHOT_INTERVAL (2s), and a trickle of new keys so that
#      every interval has something to write: the same hits while the
#      writer runs, the writer's own log lines, RSS; graceful stop.
#
# Output: a Markdown table (stdout, and build/bench-scale/results.md) to
# paste into docs/performance.md.  Environment: BENCH_SIZES ("1000 10000
# 100000"), BENCH_DURATION (s per wrk run, 8), BENCH_ROUNDS (2),
# BENCH_CONNECTIONS (32), BENCH_WORKERS (2), BENCH_WAITERS (100),
# BENCH_WAKE_ROUNDS (5), BENCH_ORIGIN_DELAY (ms, 300),
# BENCH_SNAPSHOT_INTERVAL (2s), BENCH_TRICKLE (new keys/s, 10),
# BENCH_SAMPLE (keys checked, 200), NGINX, TEST_THIM_MODULE, BENCH_OUT
# (build/bench-scale), BENCH_PERF (1: the workers profiled with perf
# during the waiters' rounds, BENCH_OUT/wake-N.perf; strace: their
# system calls, BENCH_OUT/wake-N.perf.strace; sched: perf sched record).  BENCH_PARTS=snapshot (bench/snapshot.pl, make
# bench): steps 1 and 2, then three start-ups and stops, loads and writes
# only.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(time sleep);

use ThimPKI;
use ThimIntelPKI;
use ThimOrigin;

$| = 1;

my $TOP = abs_path("$FindBin::Bin/..");
my @SIZES = split ' ', ($ENV{BENCH_SIZES} // '1000 10000 100000');
my $DUR = $ENV{BENCH_DURATION} // 8;
my $ROUNDS = $ENV{BENCH_ROUNDS} // 2;
my $CONNS = $ENV{BENCH_CONNECTIONS} // 32;
my $WORKERS = $ENV{BENCH_WORKERS} // 2;
my $WAITERS = $ENV{BENCH_WAITERS} // 100;
my $WAKE_ROUNDS = $ENV{BENCH_WAKE_ROUNDS} // 5;
my $DELAY = $ENV{BENCH_ORIGIN_DELAY} // 300;
my $INTERVAL = $ENV{BENCH_SNAPSHOT_INTERVAL} // '2s';
my $TRICKLE = $ENV{BENCH_TRICKLE} // 10;
my $SAMPLE = $ENV{BENCH_SAMPLE} // 200;
my $NGINX = $ENV{NGINX} // '/usr/sbin/nginx';
my $MODULE = $ENV{TEST_THIM_MODULE}
             // "$TOP/build/objs/ngx_http_thim_module.so";
my $GEN = "$TOP/build/tools/gen-tcb";
my $OUT = $ENV{BENCH_OUT} // "$TOP/build/bench-scale";
my $ONLY_SNAPSHOT = ($ENV{BENCH_PARTS} // '') eq 'snapshot';
my $WAIT_MAX = $ENV{BENCH_START_TIMEOUT} // 900;
# the descriptors an nginx worker may hold (its soft limit is ours)
my $NOFILE = (qx(sh -c 'ulimit -n') =~ /^(\d+)/ ? $1 : 1 << 20);

my $TCB = '/sgx/certification/v4/tcb';
# BENCH_BODY=small: the 3.5 KB tcbInfo of 90806F000000 instead of the 10 KB
my $TEMPLATE = "$TOP/t/data/intel/pcs/sgx/"
    . (($ENV{BENCH_BODY} // '') eq 'small'
       ? 'tcb_90806f000000_eval19_2025-08-08.json'
       : 'tcb_00906ed50000_eval19_2025-06-04.json');

-x $GEN or die "bench-scale: $GEN not built (make bench-scale builds it)\n";
-f $MODULE or die "bench-scale: $MODULE not built (make all)\n";

remove_tree($OUT);
make_path("$OUT/origin");

my $pki = ThimPKI::make("$OUT/pki");
my $ipki = ThimIntelPKI::make("$OUT/intel-pki");
my $chain_pem = $ipki->chain('tcb');
(my $chain_pct = $chain_pem) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
spew("$OUT/chain.pct", $chain_pct);
my $chain_file = $ipki->chain_file('tcb');

# the template: today's dates, so that no record is due for a refresh
my $tpl = slurp($TEMPLATE);
my $now = time;
my $iso = sub { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) };
$tpl =~ s/"issueDate":"[^"]*"/'"issueDate":"' . $iso->($now - 3600) . '"'/e;
$tpl =~ s/"nextUpdate":"[^"]*"/'"nextUpdate":"' . $iso->($now + 30 * 86400) . '"'/e;
spew("$OUT/template.json", $tpl);

my $origin = ThimOrigin->start(pki => $pki, data => "$TOP/t/data",
                               dir => "$OUT/origin");

my (%res, @notes);
# the kernel's policy for huge pages in shared memory: the zone asks for
# them (docs/directives.md), and this decides whether it gets them
my $shmem_thp = (slurp('/sys/kernel/mm/transparent_hugepage/shmem_enabled')
                 // '') =~ /\[(\w+)\]/ ? $1 : 'n/a';
my $machine = sprintf '%d cores, load average %s at start, nginx %s, '
    . 'shmem_enabled %s',
    qx{nproc} + 0, join(' ', (split ' ', slurp('/proc/loadavg'))[0 .. 2]),
    (qx{$NGINX -v 2>&1} =~ m{nginx/(\S+)})[0] // '?', $shmem_thp;

# the nginx instances started and not yet stopped: a size that fails
# stops its own, so that none goes on writing its snapshot into the next
# run's directory
my @started;

for my $n (@SIZES) {
    $res{$n} = eval { bench_size($n) } // {};
    if ($@) {
        chomp(my $e = $@);
        print "size $n failed: $e\n";
        push @notes, "$n entries: run failed: $e";
    }
    eval { nginx_stop($_) } for grep { $_->{pid} } splice @started;
}

exit 0 if $ONLY_SNAPSHOT;
my $table = table();
print "\n$table";
spew("$OUT/results.md", $table);
print "\n(also in $OUT/results.md)\n";
exit 0;


# ---------------------------------------------------------------------------

sub bench_size {
    my ($n) = @_;
    my %r;
    my $dir = "$OUT/n$n";
    my $extras = $WAKE_ROUNDS + $TRICKLE * ($DUR + 2) * $ROUNDS * 2 + 50;
    make_path("$dir/bundle", "$dir/extra");
    print "== $n entries\n";

    # 1. the bundle: N TCB infos, the root CA CRL; extras for the origin
    my $t0 = time;
    gen($n, 0, $n, "$dir/bundle", "$dir/entries.jsonl");
    gen($n, $n, $extras, "$dir/extra", '/dev/null');
    my $crl = slurp($ipki->{root_crl});
    my @chunks = index_json($dir, $crl);
    printf "bundle: %d TCB infos + root CRL in %.1f s, %d part(s)\n", $n,
           time - $t0, scalar @chunks;

    # 2. seeded, a part per start (the seed index is read whole, at most
    # 64 MB); nginx writes its own snapshot when it stops, and the next
    # start loads it before seeding the next part
    # a record of ~12.5 KB takes 4 slab pages, its node 256 bytes more
    my $zone = sprintf '%dm', int($n * 20480 / 1048576) + 64;
    my $ng = nginx_new($dir, $n, zone => $zone, interval => '3600s');
    $origin->clear_faults;
    $origin->fault($TCB, drop => 1);
    $r{seed_ms} = 0;
    for my $chunk (@chunks) {
        $ng->{seed} = $chunk;
        write_conf($ng);
        nginx_start($ng);
        my $st = wait_for($ng, qr/entries seeded from bundle/, $WAIT_MAX);
        die "no seed line:\n" . tail($ng) unless $st;
        my ($ms) = $st->{line} =~ / in (\d+) ms/;
        $r{seed_ms} += $ms // 0;
        if (log_since($ng, $ng->{mark})
            =~ /^.*\] (.*snapshot.*(?:cannot be read|starting without it).*)$/m) {
            nginx_stop($ng);
            die sprintf "nginx cannot read back the snapshot it wrote "
                . "(%.2f GB) before seeding part %d: %s\n",
                (-s "$dir/thim.snap") / 1e9, $chunk =~ /-(\d+)$/ ? $1 : 1, $1;
        }
        my ($skip) = $st->{line} =~ /\((\d+) skipped/;
        print "seed: $st->{line}\n";
        push @notes, "$n: $skip bundle entries skipped" if $skip;
        my ($ev) = $st->{line} =~ /(\d+) evicted/;
        push @notes, "$n: $ev entries evicted while seeding (zone $zone too small)" if $ev;
        wait_http($ng, 60);
        nginx_stop($ng);
        ($r{seed_write_ms}, $r{seed_write_lock}, $r{snap_bytes})
            = writes($ng, $ng->{mark_stop});
    }
    -s "$dir/thim.snap" or die "no snapshot written:\n" . tail($ng);
    $r{snap_bytes} //= -s "$dir/thim.snap";
    $r{parts} = @chunks;
    delete $ng->{seed};
    return snapshot_rounds($ng, \%r) if $ONLY_SNAPSHOT;

    # 3. run A: no periodic writer
    write_conf($ng);
    if (!eval { startup($ng, \%r, 'a'); 1 }) {
        die $@ unless $@ =~ /^snapshot not loaded: (.*)/ && @chunks == 1;
        # the rest is still worth measuring: on a zone seeded at start
        push @notes, "$n: the snapshot nginx wrote was not loaded at start ($1); "
                     . "the zone is seeded from the bundle at start instead, "
                     . "and start-up figures are the seeding's";
        nginx_stop($ng);
        $ng->{seed} = $chunks[0];
        write_conf($ng);
        startup($ng, \%r, 'a');
    }
    $origin->clear_faults;
    verify_sample($ng, \%r);
    $r{rss_idle} = rss($ng);
    hits($ng, \%r, 'a');
    $r{rss_idle_after} = rss($ng);
    $r{pages} = pages($ng);
    wake($ng, \%r);

    # 4. run B: the same zone after a reload (nginx -s reload) with the
    # periodic writer, and a trickle of new keys to write
    $ng->{interval} = $INTERVAL;
    write_conf($ng);
    my $s0 = time;
    reload($ng);
    $r{reload} = time - $s0;
    verify_sample($ng, \%r, 'b');
    my $mark = log_size($ng);
    my $trickle = trickle($ng);
    my $sampler = rss_sampler($ng, "$dir/rss.log");
    sleep(interval_s() + 0.5);          # the writer's first interval
    hits($ng, \%r, 'b');
    kill 'TERM', $trickle, $sampler;
    waitpid($_, 0) for $trickle, $sampler;
    $r{writer} = [writer_lines($ng, $mark)];
    $r{rss_write} = rss_max("$dir/rss.log");
    $r{trickled} = (slurp("$dir/trickle.log") =~ tr/\n//);
    $s0 = time;
    nginx_stop($ng);
    $r{stop} = time - $s0;
    ($r{stop_write_ms}, $r{stop_write_lock}) = writes($ng, $ng->{mark_stop});

    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, slurp($ng->{log});
    push @notes, "$n: " . scalar(@bad) . " [alert]/[crit]/[emerg] lines, first: $bad[0]"
        if @bad;

    # the bodies are large: keep only what explains the run
    remove_tree("$dir/extra");
    return \%r;
}


# make bench's part: the snapshot loaded at three start-ups, written at
# three stops (when the zone differs from the file)
sub snapshot_rounds {
    my ($ng, $r) = @_;
    printf "snapshot: %d entries, %.1f MB\n", $ng->{n}, (-s "$ng->{dir}/thim.snap") / 1e6;
    write_conf($ng);
    for my $round (1 .. 3) {
        startup($ng, $r, "r$round");
        nginx_stop($ng);
        my ($ms, $lock, $bytes) = writes($ng, $ng->{mark_stop});
        print defined $ms
            ? sprintf("write %d: %.1f MB in %s ms (zone locked %s ms)\n",
                      $round, ($bytes // 0) / 1e6, $ms, $lock // '?')
            : "write $round: not written at stop (unchanged)\n";
    }
    return $r;
}


# N signed TCB infos from number $first, and their index lines
sub gen {
    my ($n, $first, $count, $out, $lines) = @_;
    system("$GEN '$OUT/template.json' '$ipki->{tcb}{key}' '$OUT/chain.pct' "
           . "'$out' $first $count >'$lines'") == 0
        or die "gen-tcb failed\n";
}


# the index, in parts of at most BENCH_INDEX_MB (48) MB: the directories
sub index_json {
    my ($dir, $crl) = @_;
    my $max = ($ENV{BENCH_INDEX_MB} // 48) * 1048576;
    # "fetched": when the origin answered, as thimctl writes it (a seeded
    # record without one is written to the snapshot with fetch time 0,
    # which the snapshot loader then refuses)
    my $fetched = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime);
    my $crl_entry = '{"fetched":"' . $fetched . '","origin":"intel-root",'
        . '"path":"/IntelSGXRootCA.der","file":"root_crl.der","sha256":"'
        . sha256_hex($crl) . '","headers":{}}';
    open my $in, '<', "$dir/entries.jsonl" or die $!;
    my (@dirs, $h, $size);
    my $open = sub {
        my $d = @dirs ? "$dir/bundle-" . (@dirs + 1) : "$dir/bundle";
        if (@dirs) {
            make_path($d);
            symlink("$dir/bundle/tcb", "$d/tcb") or die "symlink: $!";
        }
        spew("$d/root_crl.der", $crl);
        open $h, '>', "$d/index.json" or die $!;
        print $h '{"format":"ngx_thim-bundle","version":1,'
                 . '"generator":"bench/scale.pl","entries":[', "\n";
        $size = 0;
        push @dirs, $d;
    };
    $open->();
    while (my $l = <$in>) {
        chomp $l;
        $l =~ s/^\{/{"fetched":"$fetched",/;
        if ($size + length($l) > $max) {
            print $h "$crl_entry]}\n";
            close $h;
            $open->();
        }
        print $h "$l,\n";
        $size += length($l) + 2;
    }
    print $h "$crl_entry]}\n";
    close $h;
    unlink "$dir/entries.jsonl";
    return @dirs;
}


sub fmspc { sprintf 'b0%010x', $_[0] }


# ---- nginx ---------------------------------------------------------------

sub nginx_new {
    my ($dir, $n, %o) = @_;
    my $ng = { dir => $dir, n => $n, log => "$dir/logs/error.log",
               https => free_port(), http => free_port(), %o };
    make_path("$dir/logs", "$dir/tmp");
    write_conf($ng);
    return $ng;
}


sub write_conf {
    my ($ng) = @_;
    my ($d, $n) = @$ng{qw(dir n)};
    my $seed = $ng->{seed} ? " seed=$ng->{seed}" : '';
    my $oport = $origin->port;
    my $user = $> == 0 ? 'user root;' : '';
    my $to_origin = <<"EOF";
            internal;
            proxy_pass https://intel_pcs/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $pki->{ca};
            proxy_ssl_name localhost;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_headers off;
            proxy_buffer_size 16k;
            proxy_buffers 4 16k;
            subrequest_output_buffer_size 1m;
EOF
    my $proxy = <<"EOF";
        location /_thim/intel/ {
$to_origin
            proxy_set_header Ocp-Apim-Subscription-Key \$thim_intel_api_key;
        }
        location /_thim/intel-root/ {
$to_origin
        }
        location /sgx/certification/ { thim_intel; }
EOF
    # the static twin's open_file_cache holds a descriptor per file: as
    # many as the descriptor limit leaves room for beside the connections
    # (on the development machine 20,000, which even root cannot raise)
    my $files = max(min($n + 64, $NOFILE - 2048), 64);
    push @notes, "$n: the static twin's open_file_cache holds $files of "
                 . "$n files (RLIMIT_NOFILE $NOFILE)"
        if $files < $n + 64 && !$ng->{noted_files}++;
    my $conf = <<"EOF";
load_module $MODULE;
worker_processes $WORKERS;
daemon off;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log info;
$user
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000;
    open_file_cache max=$files inactive=1h;   # static at its best
    open_file_cache_valid 1h;
    log_format plain '\$msec \$status \$thim_cache_status \$request_uri';

    thim_cache_zone name=thim:$ng->{zone} snapshot=$d/thim.snap snapshot_interval=$ng->{interval}$seed;
    thim_cache_valid 1d;
    # the origin drops every TCB request while the start-up is measured
    # (an answer can only come from the zone): keys asked before they are
    # loaded fail, and with the default back-off the origin would then be
    # held off for the waiters' rounds
    thim_fetch_backoff 100ms 1s;
    thim_intel_root_ca $ipki->{root}{cert};
    thim_intel_api_key_file $TOP/t/lib/intel-api-key;

    upstream intel_pcs { server 127.0.0.1:$oport; keepalive 8; }

    # what wrk measures: HTTPS, as clients use it
    server {
        listen 127.0.0.1:$ng->{https} ssl http2;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};

        location /static/tcb/ {
            alias $d/bundle/tcb/;
            default_type application/json;
            add_header TCB-Info-Issuer-Chain "$chain_pct";
            add_header SGX-TCB-Info-Issuer-Chain "$chain_pct";
            add_header Cache-Control "max-age=86400";
            add_header Request-ID \$request_id;
            add_header X-Cache-Status HIT;
        }
$proxy
    }

    # the harness's own probes, waiters and trickle: plain HTTP, logged
    server {
        listen 127.0.0.1:$ng->{http};
        access_log $d/logs/plain.log plain;
        location = /thim/status { thim_status; }
$proxy
    }
}
EOF
    spew("$d/nginx.conf", $conf);
}


sub nginx_start {
    my ($ng) = @_;
    $ng->{mark} = log_size($ng);
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$ng->{dir}/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        { exec $NGINX, '-p', "$ng->{dir}/", '-c', "$ng->{dir}/nginx.conf",
               '-e', $ng->{log} }
        POSIX::_exit(127);
    }
    $ng->{pid} = $pid;
    $ng->{t0} = time;
    push @started, $ng;
}


# graceful stop: QUIT, and the master's exit (the last snapshot written)
sub nginx_stop {
    my ($ng) = @_;
    my $pid = delete $ng->{pid} or return;
    $ng->{mark_stop} = log_size($ng);
    kill 'QUIT', $pid;
    my $until = time + 300;
    while (time < $until) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    die "nginx did not stop within 300 s\n";
}


sub alive {
    my ($ng) = @_;
    return $ng->{pid} && waitpid($ng->{pid}, WNOHANG) == 0;
}


# start-up, measured from the outside: first accept, first right answer
# of a random cached key, the load's log line (or status entries)
sub startup {
    my ($ng, $r, $run) = @_;
    my $key = int rand $ng->{n};
    my $want = slurp("$ng->{dir}/bundle/tcb/" . fmspc($key) . '.json');
    my ($accept, $hit, $loaded, $line, $how, $counted, $polled);
    nginx_start($ng);
    my $t0 = $ng->{t0};
    while (time - $t0 < $WAIT_MAX) {
        alive($ng) or die "nginx exited at start:\n" . tail($ng);
        if (!defined $loaded) {
            my $l = log_since($ng, $ng->{mark});
            if ($l =~ /^(.*records loaded from snapshot.*)$/m && !$ng->{seed}
                || $ng->{seed} && $l =~ /^(.*entries seeded from bundle.*)$/m) {
                ($loaded, $line) = (time - $t0, $1);
            } elsif (!$ng->{seed} && $l =~ /^(.*snapshot.*(?:cannot be read|starting without it|starting empty|not a snapshot).*)$/m) {
                ($loaded, $line) = (-1, $1);
            }
        }
        if (!defined $hit) {
            my ($code, $h, $body) = http_get($ng->{http},
                                             "$TCB?fmspc=" . fmspc($key), 2);
            $accept //= time - $t0 if $code;
            if ($code == 200 && $body eq $want) {
                $hit = time - $t0;
                $how = $h->{'x-cache-status'} // '?';
            }
        }
        last if defined $hit && defined $loaded;
        # no line this script knows (a changed loader): the zone's entries
        # as thim_status counts them, and 10 s more for a line
        if (defined $hit && !defined $counted && time - ($polled // 0) > 0.25) {
            $polled = time;
            my (undef, undef, $st) = http_get($ng->{http}, '/thim/status', 2);
            my $e = eval { JSON::PP::decode_json($st)->{zones}{thim}{entries} };
            $counted = time - $t0 if ($e // 0) >= $ng->{n} + 1;
        }
        if (defined $counted && time - $t0 > $counted + 10) {
            ($loaded, $line) = ($counted, "(no load line known to bench/scale.pl; "
                                . "thim_status counted all entries)");
            last;
        }
        die "the load line is there but no answer of the cached key after 60 s:\n"
            . tail($ng) . "\n" if defined $loaded && time - $t0 > $loaded + 60;
        sleep 0.005;
    }
    die "no answer of a cached key within $WAIT_MAX s:\n" . tail($ng)
        unless defined $hit;
    $r->{"accept_$run"} = $accept;
    $r->{"hit_$run"} = $hit;
    $r->{"hit_how_$run"} = $how;
    $r->{"loaded_$run"} = $loaded;
    $r->{"load_line_$run"} = $line;
    if (defined $line && $line =~ /(\d+) records loaded from snapshot "[^"]*"(?: and its journal)? in (\d+) ms \((\d+) damaged, (\d+) refused/) {
        @$r{"load_records_$run", "load_ms_$run"} = ($1, $2);
        push @notes, "$ng->{n}: load $run: $3 damaged, $4 refused" if $3 || $4;
        push @notes, "$ng->{n}: load $run: $1 records loaded, not " . ($ng->{n} + 1)
            if $run eq 'a' && $1 != $ng->{n} + 1;
    }
    printf "start %s: accepts after %.2f s, cached key answered (%s) after %.2f s, "
           . "load line after %s\n  %s\n", $run, $accept, $how, $hit,
           defined $loaded ? sprintf('%.2f s', $loaded) : 'none',
           $line // '(no load line)';
    die "snapshot not loaded: $line\n" if defined $loaded && $loaded < 0;
}


# SIGHUP, and the old workers gone (their exit's snapshot write done)
sub reload {
    my ($ng) = @_;
    my %old = map { $_ => 1 } workers($ng);
    kill 'HUP', $ng->{pid};
    my $until = time + 600;
    while (time < $until) {
        alive($ng) or die "nginx exited on reload:\n" . tail($ng);
        my @w = workers($ng);
        return if @w && !grep { $old{$_} } @w;
        sleep 0.05;
    }
    die "the old workers did not exit within 600 s of the reload\n";
}


sub wait_for {
    my ($ng, $re, $max) = @_;
    my $t0 = time;
    while (time - $t0 < $max) {
        my $l = log_since($ng, $ng->{mark});
        return { line => $1, t => time - $ng->{t0} } if $l =~ /^(.*$re.*)$/m;
        alive($ng) or return undef;
        sleep 0.05;
    }
    return undef;
}


sub wait_http {
    my ($ng, $max) = @_;
    my $t0 = time;
    while (time - $t0 < $max) {
        my ($code) = http_get($ng->{http}, '/thim/status', 2);
        return 1 if $code;
        sleep 0.05;
    }
    die "nginx does not answer:\n" . tail($ng);
}


# distinct keys, verified: a sample answered with its own body
sub verify_sample {
    my ($ng, $r, $run) = @_;
    $run = $run ? "_$run" : '';
    my ($ok, $n, $slow) = (0, 0, 0);
    for (1 .. $SAMPLE) {
        my $k = int rand $ng->{n};
        my ($code, $h, $body) = http_get($ng->{http}, "$TCB?fmspc=" . fmspc($k), 5);
        $n++;
        $slow++ unless $code;
        $ok++ if $code == 200
                 && $body eq slurp("$ng->{dir}/bundle/tcb/" . fmspc($k) . '.json');
    }
    $r->{"verified$run"} = "$ok/$n" . ($slow ? " ($slow not answered within 5 s)" : '');
    my (undef, undef, $st) = http_get($ng->{http}, '/thim/status', 5);
    my $j = eval { JSON::PP::decode_json($st) } // {};
    $r->{"entries$run"} = $j->{zones}{thim}{entries} // '?';
    print "sample: $ok of $n random keys answered 200 with their own body; "
          . "status: entries " . $r->{"entries$run"} . "\n";
}


# ---- hits: wrk, a random key per request --------------------------------

sub hits {
    my ($ng, $r, $run) = @_;
    my $lua = "$OUT/random.lua";
    spew($lua, <<'EOF');
-- a random key of BENCH_KEYS per request: PREFIX .. b0 + 10 hex .. SUFFIX
local n = tonumber(os.getenv("BENCH_KEYS"))
local prefix = os.getenv("BENCH_PREFIX")
local suffix = os.getenv("BENCH_SUFFIX") or ""
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end
function init(args)
    math.randomseed(os.time() * 97 + id)
end
function request()
    return wrk.format("GET", prefix .. string.format("b0%010x",
                      math.random(0, n - 1)) .. suffix)
end
EOF
    my %t = (static => ['/static/tcb/', '.json'], thim => ["$TCB?fmspc=", '']);
    my $probe = prober($ng, "$ng->{dir}/probe-$run.log");
    for my $i (1 .. $ROUNDS) {
        for my $what (qw(static thim)) {
            my ($rps, $p99, $bad, $max) = wrk($ng, $lua, @{ $t{$what} });
            printf "hits %s round %d %-6s %8.0f req/s  p99 %7.2f ms  max %7.2f ms%s\n",
                   $run, $i, $what, $rps, $p99, $max, $bad ? "  ($bad non-2xx!)" : '';
            push @{ $r->{"max_${what}_$run"} }, $max;
            push @{ $r->{"rps_${what}_$run"} }, $rps;
            push @{ $r->{"p99_${what}_$run"} }, $p99;
            push @notes, "$ng->{n}: $what run $run: $bad non-2xx answers" if $bad;
        }
    }
    kill 'TERM', $probe;
    waitpid($probe, 0);
    my @l = sort { $a <=> $b } map { (split)[0] }
            split /\n/, slurp("$ng->{dir}/probe-$run.log") // '';
    $r->{"probe_$run"} = [pct(\@l, 50), pct(\@l, 99), $l[-1], scalar @l];
    printf "probe %s: %d hits, median %.1f ms, p99 %.1f ms, max %.1f ms\n",
           $run, scalar @l, @{ $r->{"probe_$run"} }[0 .. 2] if @l;
}


# a child: one client asking a random cached key every 20 ms while wrk
# runs, each latency logged; wrk counts only the requests it completes
# within its run, so a worker held up for longer than that would be
# missing from its figures, not from these
sub prober {
    my ($ng, $file) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    open my $log, '>', $file or POSIX::_exit(1);
    $log->autoflush(1);
    while (!$stop) {
        my $t = time;
        my ($code) = http_get($ng->{http}, "$TCB?fmspc=" . fmspc(int rand $ng->{n}), 120);
        printf $log "%.3f %d\n", (time - $t) * 1000, $code;
        sleep 0.02;
    }
    POSIX::_exit(0);
}


sub wrk {
    my ($ng, $lua, $prefix, $suffix) = @_;
    local $ENV{BENCH_KEYS} = $ng->{n};
    local $ENV{BENCH_PREFIX} = $prefix;
    local $ENV{BENCH_SUFFIX} = $suffix;
    # --timeout 60s: a request held up by a stalled worker counts in the
    # latencies, instead of being dropped from them as a timeout
    my $out = qx{wrk -t2 -c$CONNS -d${DUR}s --timeout 60s --latency -s $lua https://127.0.0.1:$ng->{https} 2>&1};
    my ($rps) = $out =~ /^Requests\/sec:\s+([\d.]+)/m;
    my ($p, $u) = $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)\b/m;
    my ($bad) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    my ($errs) = $out =~ /(Socket errors:.*)/;
    push @notes, "$ng->{n}: wrk $prefix: $errs" if $errs;
    my ($m, $mu) = $out =~ /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\b/m;
    die "wrk: $out" unless defined $rps && defined $p && defined $m;
    return ($rps, ms($p, $u), $bad // 0, ms($m, $mu));
}


# ---- the periodic writer's company: new keys, and RSS -------------------

sub ms {
    my ($v, $u) = @_;
    return $v * { us => 0.001, ms => 1, s => 1000, m => 60000 }->{$u};
}


sub interval_s {
    my ($v, $u) = $INTERVAL =~ /^(\d+)(ms|s|m)?$/ or return 2;
    return $v / 1000 if ($u // 's') eq 'ms';
    return $v * 60 if $u eq 'm';
    return $v;
}


# a child: a new key from the origin BENCH_TRICKLE times a second
sub trickle {
    my ($ng) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    open my $log, '>', "$ng->{dir}/trickle.log" or POSIX::_exit(1);
    $log->autoflush(1);
    my $k = $ng->{n} + $WAKE_ROUNDS;
    while (!$stop) {
        my $t = time;
        my $f = fmspc($k++);
        $origin->serve("$TCB?fmspc=$f", file => "$ng->{dir}/extra/tcb/$f.json",
                       chain => $chain_file);
        my ($code) = http_get($ng->{http}, "$TCB?fmspc=$f", 10);
        print $log "$f $code\n";
        my $left = 1 / $TRICKLE - (time - $t);
        sleep $left if $left > 0;
    }
    POSIX::_exit(0);
}


sub workers {
    my ($ng) = @_;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat) // next;
        push @w, $1 if $s =~ /^(\d+) \(nginx\) \S (\d+)/ && $2 == $ng->{pid};
    }
    return @w;
}


# the largest worker's page tables (VmPTE, KB) and its shared memory
# mapped with huge pages (ShmemPmdMapped, MB)
sub pages {
    my ($ng) = @_;
    my ($pte, $huge) = (0, 0);
    for my $w (workers($ng)) {
        my ($p) = (slurp("/proc/$w/status") // '') =~ /^VmPTE:\s+(\d+)/m;
        my ($h) = (slurp("/proc/$w/smaps_rollup") // '')
                  =~ /^ShmemPmdMapped:\s+(\d+)/m;
        $pte = $p if ($p // 0) > $pte;
        $huge = $h if ($h // 0) > $huge;
    }
    return [$pte, $huge / 1024];
}


# per worker: VmRSS and its private part (RssAnon), MB; the largest worker
sub rss {
    my ($ng) = @_;
    my ($rss, $anon) = (0, 0);
    for my $w (workers($ng)) {
        my $s = slurp("/proc/$w/status") // next;
        my ($r) = $s =~ /^VmRSS:\s+(\d+)/m;
        my ($a) = $s =~ /^RssAnon:\s+(\d+)/m;
        $rss = $r if ($r // 0) > $rss;
        $anon = $a if ($a // 0) > $anon;
    }
    return [$rss / 1024, $anon / 1024];
}


sub rss_sampler {
    my ($ng, $file) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    open my $log, '>', $file or POSIX::_exit(1);
    $log->autoflush(1);
    while (!$stop) {
        my $r = rss($ng);
        print $log "$r->[0] $r->[1]\n";
        sleep 0.05;
    }
    POSIX::_exit(0);
}


sub rss_max {
    my ($file) = @_;
    my ($rss, $anon) = (0, 0);
    for (split /\n/, slurp($file) // '') {
        my ($r, $a) = split;
        $rss = $r if $r > $rss;
        $anon = $a if $a > $anon;
    }
    return [$rss, $anon];
}


# the writer's log lines since a mark: [ms, locked ms, bytes] each; a
# line this script does not know is kept whole and shown
sub writer_lines {
    my ($ng, $mark) = @_;
    my @w;
    for (split /\n/, log_since($ng, $mark)) {
        next unless /snapshot|journal/i && /\b(written|wrote|compact\w*|appended)\b/i;
        my ($ms) = /\bin (\d+) ms/;
        # "zone locked per record": the writer holds it for no longer
        my ($lock) = /locked (?:for )?(\d+) ms/ ? $1
                   : /zone locked per record/ ? 'per record' : undef;
        my ($bytes) = /\((\d+) bytes\)/;
        push @w, { ms => $ms, lock => $lock, bytes => $bytes, line => $_ };
    }
    return @w;
}


sub writes {
    my ($ng, $mark) = @_;
    my @w = writer_lines($ng, $mark);
    return () unless @w;
    return ($w[-1]{ms}, $w[-1]{lock}, $w[-1]{bytes});
}


# ---- waiters ---------------------------------------------------------------

# BENCH_WAITERS clients ask one missing key at once; the origin answers
# after BENCH_ORIGIN_DELAY ms; each client's first byte, less the
# emulator's own time of sending the answer
sub wake {
    my ($ng, $r) = @_;
    my (@lat, @ngx, @landed);
    my ($fetches, $bad) = (0, 0);
    my $perf = profile_workers($ng, "$OUT/wake-$ng->{n}.perf");
    for my $round (1 .. $WAKE_ROUNDS) {
        my $f = fmspc($ng->{n} + $round - 1);
        my $path = "$TCB?fmspc=$f";
        $origin->serve($path, file => "$ng->{dir}/extra/tcb/$f.json",
                       chain => $chain_file);
        $origin->fault($path, latency => $DELAY, times => 1);

        my (@s, %first, %buf);
        for (1 .. $WAITERS) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $ng->{http},
                                          Timeout => 5)
                or die "connect: $!";
            push @s, $s;
        }
        my $sel = IO::Select->new(@s);
        syswrite($_, "GET $path HTTP/1.0\r\nHost: bench\r\n\r\n") for @s;
        my $until = time + $DELAY / 1000 + 30;
        while ($sel->count && time < $until) {
            my @ready = $sel->can_read(1);
            my $t = time;
            for my $s (@ready) {
                $first{$s} //= $t;
                my $got = sysread($s, $buf{$s}, 65536, length($buf{$s} // ''));
                next if $got;
                $sel->remove($s);
                close $s;
            }
        }
        my @sent = origin_sent($f);
        $fetches += @sent;
        die "the origin was not asked for $f:\n" . tail($ng) unless @sent;
        for my $s (@s) {
            if (($buf{$s} // '') !~ m{^HTTP/1\.\d 200 }) { $bad++; next }
            push @lat, ($first{$s} - $sent[0]) * 1000;
        }
        # nginx's own view: the access log's $msec of each answer; and
        # each waiter's against the request that fetched (its MISS line):
        # $msec is the time of the event loop's pass that answered, and
        # the fetching request is answered in the pass that read the
        # origin's answer, so this is from the answer reaching nginx
        # (its check and storing included) to the pass of each waiter
        my (@pass, $miss);
        for (split /\n/, slurp("$ng->{dir}/logs/plain.log") // '') {
            next unless /^([\d.]+) 200 (\S+) \Q$path\E$/;
            push @ngx, ($1 - $sent[0]) * 1000;
            $2 eq 'MISS' ? ($miss = $1) : push @pass, $1;
        }
        push @landed, map { ($_ - $miss) * 1000 } @pass if defined $miss;
    }
    if ($perf) {
        kill 'INT', $perf;
        waitpid($perf, 0);
    }
    @lat = sort { $a <=> $b } @lat;
    @ngx = sort { $a <=> $b } @ngx;
    $r->{wake} = [pct(\@lat, 50), pct(\@lat, 99), $lat[-1], scalar @lat,
                  $fetches, $bad];
    $r->{wake_ngx} = [pct(\@ngx, 50), pct(\@ngx, 99), $ngx[-1], scalar @ngx];
    @landed = sort { $a <=> $b } @landed;
    $r->{wake_landed} = [pct(\@landed, 50), pct(\@landed, 99), $landed[-1],
                         scalar @landed,
                         scalar(grep { $_ <= 2 } @landed)];
    printf "waiters: %d answers, %d origin fetches for %d rounds, %d not 200; "
           . "after the origin's answer: median %.2f ms, p99 %.2f ms, max %.2f ms "
           . "(nginx's access log: %.0f / %.0f / %.0f ms)\n",
           scalar @lat, $fetches, $WAKE_ROUNDS, $bad, @{ $r->{wake} }[0 .. 2],
           map { $_ // -1 } @{ $r->{wake_ngx} }[0 .. 2];
    printf "waiters by nginx's clock from the fetching request's pass: "
           . "median %.0f ms, p99 %.0f ms, max %.0f ms (n=%d, %d within 2 ms)\n",
           map { $_ // -1 } @{ $r->{wake_landed} };
}


# BENCH_PERF=1: the workers profiled (perf record, call graphs, on CPU
# and where they leave it) while the waiters' rounds run, to FILE; BENCH_PERF=strace:
# their system calls with times, to FILE.strace; BENCH_PERF=sched: the
# machine's scheduling (perf sched), to FILE.sched; the tracer's pid
sub profile_workers {
    my ($ng, $file) = @_;
    my $how = $ENV{BENCH_PERF} or return undef;
    my @w = workers($ng);
    my @cmd = $how eq 'strace'
        ? ('strace', '-ttt', '-T', '-o', "$file.strace", map { ('-p', $_) } @w)
        : $how eq 'sched'
        ? ('perf', 'sched', 'record', '-o', "$file.sched")
        : ('perf', 'record', '-e', 'cpu-clock', '-F', '20000',
           '-e', 'sched:sched_switch', '-g', '-p', join(',', @w),
           '-o', $file);
    spew("$file.workers", join("\n", @w) . "\n");
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$file.log";
        open STDERR, '>&', \*STDOUT;
        { exec @cmd }
        POSIX::_exit(127);
    }
    sleep 1;
    return $pid;
}


# the emulator's own times of answering a key
sub origin_sent {
    my ($f) = @_;
    my @t;
    for (split /\n/, slurp($origin->log_file) // '') {
        push @t, $1 if m{GET \Q$TCB\E\?fmspc=\Q$f\E\S* -> 200 .* sent=([\d.]+)};
    }
    return @t;
}


# ---- the table -------------------------------------------------------------

sub table {
    my @n = grep { %{ $res{$_} } } @SIZES;
    my $t = "ngx_thim bench-scale, " . strftime('%Y-%m-%d %H:%M UTC', gmtime)
          . ", $machine; $WORKERS workers, wrk -t2 -c$CONNS -d${DUR}s x $ROUNDS "
          . "rounds (medians), HTTPS keep-alive, a random key per request; "
          . "records: signed SGX TCB infos of " . (-s "$OUT/template.json")
          . " bytes under distinct FMSPCs.\n\n";
    $t .= '| | ' . join(' | ', map { commify($_) . ' entries' } @n) . " |\n";
    $t .= '|---|' . join('', map { '---|' } @n) . "\n";
    my $row = sub {
        my ($name, $f) = @_;
        $t .= "| $name | " . join(' | ', map { my $v = eval { $f->($res{$_}) };
                                             defined $v ? $v : 'n/a' } @n) . " |\n";
    };
    my $s = sub { defined $_[0] ? sprintf('%.2f s', $_[0]) : undef };
    my $ms = sub { defined $_[0] ? "$_[0] ms" : undef };
    $row->('snapshot file (written by nginx after seeding)',
           sub { sprintf '%.1f MB', $_[0]{snap_bytes} / 1e6 });
    $row->('seeding from the bundle, every entry checked (log; starts)', sub {
        "$_[0]{seed_ms} ms ($_[0]{parts})" });
    $row->('start → first connection accepted', sub { $s->($_[0]{accept_a}) });
    $row->('start → first answer of a random cached key', sub {
        $s->($_[0]{hit_a}) . " ($_[0]{hit_how_a})" });
    $row->('start → load complete (its log line)', sub {
        defined $_[0]{loaded_a} ? $s->($_[0]{loaded_a}) : 'no line' });
    $row->('snapshot load, as the module logs it', sub { $ms->($_[0]{load_ms_a}) });
    $row->('keys checked after start / after reload: right body, 200', sub {
        "$_[0]{verified} / $_[0]{verified_b} (zone entries $_[0]{entries} / $_[0]{entries_b})" });
    $row->('reload to the writer config: old workers gone after', sub { $s->($_[0]{reload}) });
    $row->('hits, no writer: static / thim req/s (ratio)', sub { ratio($_[0], 'rps', 'a') });
    $row->('hits, no writer: static / thim p99 (ratio)', sub { ratio($_[0], 'p99', 'a') });
    $row->('hits, writer running: static / thim req/s (ratio)', sub { ratio($_[0], 'rps', 'b') });
    $row->('hits, writer running: static / thim p99 (ratio)', sub { ratio($_[0], 'p99', 'b') });
    $row->('hits, max latency: static / thim without writer; with writer', sub {
        sprintf '%.0f / %.0f ms; %.0f / %.0f ms', map { max(@{ $_[0]{$_} }) }
            qw(max_static_a max_thim_a max_static_b max_thim_b) });
    $row->('one client beside wrk, a random key every 20 ms: median / p99 / max, no writer', sub {
        sprintf '%.1f / %.1f / %.1f ms (n=%d)', @{ $_[0]{probe_a} } });
    $row->('... writer running', sub {
        sprintf '%.1f / %.1f / %.1f ms (n=%d)', @{ $_[0]{probe_b} } });
    $row->('thim p99 with writer / without', sub {
        sprintf '%.2f', med($_[0]{p99_thim_b}) / med($_[0]{p99_thim_a}) });
    $row->('thim req/s with writer / without', sub {
        sprintf '%.2f', med($_[0]{rps_thim_b}) / med($_[0]{rps_thim_a}) });
    $row->("writes while measuring ($INTERVAL interval, $TRICKLE new keys/s)", sub {
        my @w = @{ $_[0]{writer} };
        return 'none' unless @w;
        my @ms = grep { defined } map { $_->{ms} } @w;
        my @lk = grep { defined } map { $_->{lock} } @w;
        my $ms = @ms ? sprintf('%s / %s ms', med(\@ms), max(@ms)) : 'n/a';
        my @lkn = grep { /^\d+$/ } @lk;
        my $lk = @lkn ? sprintf('%s / %s ms', med(\@lkn), max(@lkn))
               : @lk ? $lk[0] : 'n/a';
        sprintf '%d; each median / max %s, zone locked %s', scalar @w, $ms, $lk });
    $row->('snapshot write at stop after seeding (zone locked)', sub {
        my $lk = $_[0]{seed_write_lock} // 'n/a';
        $lk .= ' ms' if $lk =~ /^\d+$/;
        defined $_[0]{seed_write_ms} ? "$_[0]{seed_write_ms} ms ($lk)" : undef });
    $row->('graceful stop, writer config (incl. its exit write)', sub { $s->($_[0]{stop}) });
    $row->('worker RSS idle after hits (private)', sub {
        sprintf '%.0f MB (%.0f MB)', @{ $_[0]{rss_idle_after} } });
    $row->('worker page tables / zone in huge pages, largest worker', sub {
        sprintf '%d KB / %.0f MB', @{ $_[0]{pages} } });
    $row->('worker RSS max while writing (private)', sub {
        sprintf '%.0f MB (%.0f MB)', @{ $_[0]{rss_write} } });
    $row->("waiters woken ($WAITERS clients x $WAKE_ROUNDS keys): median / p99 / max after the origin's answer", sub {
        my $w = $_[0]{wake};
        sprintf '%.2f / %.2f / %.2f ms (n=%d, %d fetches%s)', @$w[0 .. 4],
            $w->[5] ? ", $w->[5] not 200" : '' });
    $row->("... the same from nginx's access log (\$msec, 1 ms resolution)", sub {
        sprintf '%.0f / %.0f / %.0f ms (n=%d)', @{ $_[0]{wake_ngx} } });
    $row->("... by nginx's clock from the pass that read the origin's answer (the fetching request's \$msec): median / p99 / max; within 2 ms", sub {
        my $w = $_[0]{wake_landed};
        sprintf '%.0f / %.0f / %.0f ms (n=%d); %d', @$w });
    $t .= "\n" . join('', map { "- $_\n" } @notes) if @notes;
    return $t;
}


sub ratio {
    my ($r, $what, $run) = @_;
    my ($s, $t) = (med($r->{"${what}_static_$run"}), med($r->{"${what}_thim_$run"}));
    return $what eq 'rps' ? sprintf('%.0f / %.0f (%.2f)', $s, $t, $t / $s)
                          : sprintf('%.2f / %.2f ms (%.2f)', $s, $t, $t / $s);
}


# ---- small things ------------------------------------------------------------

sub http_get {
    my ($port, $path, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => $timeout) or return (0);
    syswrite($s, "GET $path HTTP/1.0\r\nHost: bench\r\n\r\n");
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;
    while (time < $until && $sel->can_read($until - time)) {
        my $got = sysread($s, $buf, 65536, length $buf);
        last unless $got;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($code) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return ($code // 0, \%h, $body // '');
}


sub free_port {
    IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0')->sockport;
}

sub log_size { -s $_[0]{log} // 0 }

sub log_since {
    my ($ng, $mark) = @_;
    open my $h, '<', $ng->{log} or return '';
    seek $h, $mark // 0, 0;
    local $/;
    return <$h> // '';
}

sub tail {
    my ($ng) = @_;
    my @l = split /\n/, log_since($ng, 0);
    return join "\n", @l[($#l > 30 ? $#l - 30 : 0) .. $#l];
}

sub pct {
    my ($v, $p) = @_;
    return undef unless @$v;
    return $v->[int(($#$v) * $p / 100 + 0.5)];
}

sub med {
    my @v = sort { $a <=> $b } @{ $_[0] };
    my $n = @v;
    return $n % 2 ? $v[$n / 2] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2;
}

sub max { my $m = shift; $_ > $m and $m = $_ for @_; $m }
sub min { my $m = shift; $_ < $m and $m = $_ for @_; $m }

sub commify { my $v = reverse $_[0]; $v =~ s/(\d{3})(?=\d)/$1,/g; scalar reverse $v }

sub slurp {
    my ($f) = @_;
    open my $h, '<:raw', $f or return undef;
    local $/;
    return scalar <$h>;
}

sub spew {
    my ($f, $d) = @_;
    open my $h, '>:raw', $f or die "$f: $!";
    print $h $d;
    close $h;
}
