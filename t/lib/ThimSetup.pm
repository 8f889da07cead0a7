package ThimSetup;

# The common fixture of the integration tests: an origin emulator and an
# nginx with ngx_thim in front of it, configured as an operator would
# (conf/thim.conf): a zone, the public routes over HTTPS (HTTP/1.1 and
# HTTP/2), and internal proxy_pass locations to the origin with TLS
# verification on.
#
#   my ($t, $o) = ThimSetup::start(workers => 2,
#                                  http => 'thim_fetch_timeout 3s;',
#                                  server => 'location = /x { ... }');

use strict;
use warnings;

use FindBin;
use Test::More ();

use ThimPKI;
use ThimTest;
use ThimOrigin;

our $ROOT = "$FindBin::Bin/..";
$ROOT = "$FindBin::Bin/../.." unless -f "$ROOT/config";
our $MODULE = $ENV{TEST_THIM_MODULE}
    || "$ROOT/build/objs/ngx_http_thim_module.so";
our $DATA = "$ROOT/t/data";

# Intel's API key as the emulator wants it (ThimOrigin::DEFAULT_API_KEY)
our $API_KEY_FILE = "$ROOT/t/lib/intel-api-key";

sub module {
    Test::More::BAIL_OUT("module not built: $MODULE (run make all)")
        unless -f $MODULE;
    return $MODULE;
}

# start(%opt): workers, zone (size), http (extra http-level text),
# server (extra server-level text), origin_loc (extra text in the internal
# proxy location), read_timeout (of the origin, default 5s), no_origin
# (start no emulator), api_key (the Intel API key the emulator wants on
# pckcerts), intel_root (the thim_intel_root_ca file, by default Intel's),
# pass_headers (leave proxy_pass_request_headers at its default, on, as an
# operator may: the module alone must keep client headers from the origin),
# log_level (of the error log, debug by default), backoff
# (thim_fetch_backoff's arguments; by default "1ms 1ms", which lets a test
# retry a failed key at once; undef: the module's default, as t/backoff.t
# has it), rate (thim_origin_rate lines' arguments, e.g.
# ['amd 5r/s burst=10', 'intel 20r/s']; an origin not named is "off", as
# every origin is by default, so tests that make many cold requests are
# not throttled; undef: the module's defaults).
# Tiers (t/tiers.t): pki (share one test PKI between instances, so that
# one nginx trusts another's certificate), origin_port (the port the
# origin upstream points at when no emulator is started here), upstream
# (the body of "upstream intel_pcs {}", e.g. a hash pool of regionals),
# api_key_file (undef: no thim_intel_api_key_file, as on an edge), root_loc
# (extra text in the root CA CRL origin location), connect_timeout (of the
# origin, TLS handshake included, default 2s).
sub start {
    my (%opt) = @_;
    my $t = ThimTest->new(workers => $opt{workers} // 2,
                          log_level => $opt{log_level} // 'debug',
                          modules => [module()],
                          ($opt{pki} ? (pki => $opt{pki}) : ()));
    my $o;
    unless ($opt{no_origin}) {
        mkdir $t->dir . "/origin";
        $o = ThimOrigin->start(pki => $t->pki, data => $DATA,
                               api_key => $opt{api_key},
                               dir => $t->dir . '/origin');
    }
    $t->{vars}{ORIGIN_PORT} = $o ? $o->port
                              : $opt{origin_port} // $t->port('origin');
    $t->write_config(config(%opt));
    $t->run;
    return ($t, $o);
}

sub config {
    my (%opt) = @_;
    my $zone = $opt{zone} // '4m';
    my $http = $opt{http} // '';
    my $server = $opt{server} // '';
    my $loc = $opt{origin_loc} // '';
    my $read_timeout = $opt{read_timeout} // '5s';
    my $connect_timeout = $opt{connect_timeout} // '2s';
    my $intel_root = $opt{intel_root}
                     // "$DATA/intel/root/Intel_SGX_Root_CA.pem";
    my $pass = $opt{pass_headers} ? '' : 'proxy_pass_request_headers off;';
    # root_in_locations: the Intel trust anchor only where thim_intel is
    my $root_http = $opt{root_in_locations} ? ''
                    : "thim_intel_root_ca $intel_root;";
    my $root_loc = $opt{root_in_locations}
                   ? "thim_intel_root_ca $intel_root;" : '';
    my $upstream = $opt{upstream}
                   // "server 127.0.0.1:%%ORIGIN_PORT%%;\n        keepalive 4;";
    my $key_file = exists $opt{api_key_file} ? $opt{api_key_file}
                                             : $API_KEY_FILE;
    $key_file = defined $key_file ? "thim_intel_api_key_file $key_file;" : '';
    my $root_origin = $opt{root_loc} // '';
    my $backoff = exists $opt{backoff} ? $opt{backoff} : '1ms 1ms';
    $backoff = defined $backoff ? "thim_fetch_backoff $backoff;" : '';
    my %rate = map { $_ => "$_ off" } qw(intel intel-root amd);
    if (exists $opt{rate}) {
        %rate = () unless defined $opt{rate};
        $rate{(split / /, $_)[0]} = $_ for @{$opt{rate} // []};
    }
    my $rate = join ' ', map { "thim_origin_rate $_;" } sort values %rate;
    my $proxy = <<"PROXY";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %%CA%%;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            $pass
            proxy_connect_timeout $connect_timeout;
            proxy_read_timeout $read_timeout;
            proxy_buffer_size 16k;
            proxy_buffers 4 16k;
            subrequest_output_buffer_size 1m;
PROXY
    return <<"EOF";
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format thim '\$pid \$status \$thim_cache_status \$request';
    access_log %%TESTDIR%%/logs/thim.log thim;

    thim_cache_zone name=thim:$zone;
    $root_http
    $key_file
    thim_amd_trust Milan $DATA/amd/milan/cert_chain.pem;
    thim_amd_trust Genoa $DATA/amd/genoa/cert_chain.pem;
    thim_amd_trust Turin $DATA/amd/turin/cert_chain.pem;
    $backoff
    $rate
    $http

    upstream intel_pcs {
        $upstream
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl http2 reuseport;
        %%SSL%%

        location /sgx/certification/ { thim_intel; $root_loc }
        location /tdx/certification/ { thim_intel; $root_loc }
        location /metadata/THIM/sgx/ { thim_intel; $root_loc }
        location /vcek/ { thim_amd; }
        location /vlek/ { thim_amd; }
        location = /metadata/THIM/amd/certification { thim_amd_azure; }
        location /SevSnpVM/certificates/ { thim_amd_azure; }

        location /_thim/intel/ {
            internal;
            proxy_pass https://intel_pcs/;
            proxy_set_header Ocp-Apim-Subscription-Key \$thim_intel_api_key;
$proxy
            $loc
        }

        # AMD KDS (the emulator serves it too)
        location /_thim/amd/ {
            internal;
            proxy_pass https://intel_pcs/;
$proxy
        }

        # Intel's root CA CRL location (another host at Intel; the
        # emulator serves it too)
        location /_thim/intel-root/ {
            internal;
            $root_origin
            proxy_pass https://intel_pcs/;
$proxy
        }

        $server
    }
}
EOF
}

# the bytes of a fixture file
sub fixture {
    my ($rel) = @_;
    open my $fh, '<:raw', "$DATA/$rel" or die "$DATA/$rel: $!";
    local $/;
    return scalar <$fh>;
}

# the access log lines (fields: pid status cache_status request)
sub thim_log {
    my ($t) = @_;
    my $log = $t->read_file('logs/thim.log') // '';
    return map { [split / /, $_, 4] } split /\n/, $log;
}

# the sum of a counter ("hits", "waits", ...) over the zones of the status
# JSON at $path (a location with thim_status)
sub status_sum {
    my ($t, $field, $path) = @_;
    require JSON::PP;
    my $r = $t->get($path // '/thim/status');
    my $j = eval { JSON::PP::decode_json($r->{content}) } || {};
    my $n = 0;
    my $walk;
    $walk = sub {
        my ($x) = @_;
        if (ref $x eq 'HASH') {
            $n += $x->{$field} if defined $x->{$field} && !ref $x->{$field};
            $walk->($_) for values %$x;
        } elsif (ref $x eq 'ARRAY') {
            $walk->($_) for @$x;
        }
    };
    $walk->($j);
    return $n;
}

# Intel's header encoding: everything outside RFC 3986 unreserved as %XX
sub intel_pct_encode {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

1;
