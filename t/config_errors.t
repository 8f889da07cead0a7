#!/usr/bin/perl
# A half-written configuration fails at nginx -t (issue 15, item 2): a
# thim_intel, thim_amd or thim_amd_azure location whose internal origin
# location is missing (or not internal, or a thim location itself), a route
# without its trust anchor, a zone named but not declared, a thim_refresh
# without a zone, a zone whose refresh= reaches no thim_refresh location:
# each an [emerg] naming what to add.  The complete configuration passes,
# and what nginx -t cannot know (a proxy_pass with variables, a location
# that answers itself) is logged once by the first worker, not per request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimSetup;
use ThimTest;

# nginx -t on a configuration: (exit code, output)
sub nginx_t {
    my ($conf) = @_;
    my $t = ThimTest->new(modules => [ThimSetup::module()], check_alerts => 0);
    $t->{vars}{ORIGIN_PORT} = $t->port('origin');
    $t->write_config($conf);
    return ThimTest::_capture($ThimTest::NGINX, $t->_nginx_args, '-t');
}

sub refused {
    my ($what, $conf, $want) = @_;
    my ($rc, $out) = nginx_t($conf);
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$want/, "$what: the [emerg] says what to add")
        or diag($out);
}

# remove a location block (one level of nested braces)
sub without_location {
    my ($conf, $name) = @_;
    $conf =~ s/^\s*location \Q$name\E \{(?:[^{}]|\{[^{}]*\})*\}\n//m
        or die "no location $name";
    return $conf;
}

my $full = ThimSetup::config();

my ($rc, $out) = nginx_t($full);
is($rc, 0, 'the complete configuration passes nginx -t') or diag($out);
unlike($out, qr/\[emerg\]/, '... without an [emerg]');

# ---- the origin locations ----------------------------------------------

refused('thim_intel without /_thim/intel/',
        without_location($full, '/_thim/intel/'),
        qr/"thim_intel" in location "(?:\/(?:sgx|tdx)\/certification\/|\/metadata\/THIM\/sgx\/)" \(\S+nginx\.conf:\d+\) fetches from Intel PCS through "\/_thim\/intel\/", and its server has no internal location for it \(it has none\): add "include snippets\/thim_routes\.conf;"/);

refused('thim_intel without /_thim/intel-root/',
        without_location($full, '/_thim/intel-root/'),
        qr/fetches from Intel's root CRL host through "\/_thim\/intel-root\/"/);

# thim_amd and thim_amd_azure each, alone
(my $amd = without_location($full, '/_thim/amd/'))
    =~ s/^\s*location[^\n]*thim_amd_azure;[^\n]*\n//mg;
refused('thim_amd without /_thim/amd/', $amd,
        qr/"thim_amd" in location "\/v[cl]ek\/" \(\S+:\d+\) fetches from AMD KDS through "\/_thim\/amd\/"/);

(my $azure = without_location($full, '/_thim/amd/'))
    =~ s/^\s*location \/v[cl]ek\/ \{ thim_amd; \}\n//mg;
refused('thim_amd_azure without /_thim/amd/', $azure,
        qr/"thim_amd_azure" in location "[^"]+" \(\S+:\d+\) fetches from AMD KDS/);

# the prefix is taken by a location that is not internal
(my $open = $full) =~ s{(location /_thim/intel/ \{\s*)internal;}{$1}
    or die 'no internal';
refused('an origin location that is not internal', $open,
        qr/\(location "\/_thim\/intel\/" takes it, which is not internal: clients could reach the origin through it\)/);

# a catch-all location of the server takes the prefix instead
my $catchall = without_location($full, '/_thim/intel/');
$catchall =~ s{(\n\s*location /sgx/certification/)}
              {\n        location / { root html; }$1} or die;
refused('a catch-all location in place of the origin location', $catchall,
        qr/\(location "\/" takes it, which is not internal/);

# a thim location takes it (a regex that catches everything Intel-like)
my $loop = without_location($full, '/_thim/intel/');
$loop =~ s{(\n\s*location /sgx/certification/)}
          {\n        location ~ /sgx/ { thim_intel; }$1} or die;
refused('a thim location in place of the origin location', $loop,
        qr/\(location "\/sgx\/" takes it, a thim location, which would answer itself\)/);

# a moved prefix: thim_intel_origin names where the location must be
(my $moved = $full) =~ s/(\n\s*thim_cache_zone)/\n    thim_intel_origin \/_pcs;$1/;
refused('thim_intel_origin names a prefix with no location', $moved,
        qr/through "\/_pcs\/", and its server has no internal location/);
$moved =~ s{location /_thim/intel/ }{location /_pcs/ };
($rc, $out) = nginx_t($moved);
is($rc, 0, '... and passes once the location is there') or diag($out);

# a second server with the routes but not the origin locations
(my $two = $full) =~ s{(\n\s*server \{)}{
    server {
        listen 127.0.0.1:%%PORT_second%%;
        location /sgx/certification/ { thim_intel; }
    }
$1};
refused('a second server with routes but no origin locations', $two,
        qr/"thim_intel" in location "\/sgx\/certification\/" \(\S+:\d+\) fetches from Intel PCS through "\/_thim\/intel\/", and its server has no internal location/);

# nested and regex origin locations are found as nginx finds them
(my $nested = $full) =~ s{(location /_thim/intel/ \{[^{}]*\})}
                         {location /_thim/ { internal; $1 }} or die;
($rc, $out) = nginx_t($nested);
is($rc, 0, 'an origin location nested in another passes') or diag($out);

# ---- trust anchors, zones, thim_refresh ----------------------------------

(my $noroot = $full) =~ s/^\s*thim_intel_root_ca [^\n]*\n//m or die;
refused('thim_intel without its trust anchor', $noroot,
        qr/"thim_intel" verifies what Intel signs: name the Intel SGX Root CA with "thim_intel_root_ca" in \S+nginx\.conf:\d+$/m);

(my $noark = $full) =~ s/^\s*thim_amd_trust [^\n]*\n//mg or die;
refused('thim_amd without its trust anchors', $noark,
        qr/"thim_amd(?:_azure)?" verifies what AMD signs: name the ARKs with "thim_amd_trust" in \S+nginx\.conf:\d+$/m);

(my $nozone = $full) =~ s/^\s*thim_cache_zone [^\n]*\n//m or die;
refused('routes without a zone', $nozone,
        qr/"thim_(?:intel|amd|amd_azure)" needs a zone: declare one with "thim_cache_zone" and, if there are several, choose it with "thim_cache" in \S+nginx\.conf:\d+$/m);

(my $undeclared = $full) =~ s/(\n\s*thim_cache_zone[^\n]*)/$1\n    thim_cache other;/;
refused('thim_cache names a zone never declared', $undeclared,
        qr/"thim_cache other" names a zone that no "thim_cache_zone" declares: add "thim_cache_zone name=other:64m;"/);

my $refresh = <<'EOF';
        listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }
EOF
refused('thim_refresh without a zone',
        ThimSetup::config(server => $refresh)
            =~ s/^\s*thim_cache_zone [^\n]*\n//mr
            =~ s/^\s*location [^\n]*thim_(?:intel|amd|amd_azure);[^\n]*\n//mgr,
        qr/"thim_refresh" in location "\/_thim\/refresh" \(\S+:\d+\) needs a zone: declare one with "thim_cache_zone"/);

my $zone = '4m refresh=http://127.0.0.1:%%PORT_refresh%%/_thim/refresh';
($rc, $out) = nginx_t(ThimSetup::config(zone => $zone, server => $refresh));
is($rc, 0, 'refresh= with its thim_refresh location passes') or diag($out);
refused('refresh= with no thim_refresh location',
        ThimSetup::config(zone => $zone,
                          server => 'listen 127.0.0.1:%%PORT_refresh%%;'),
        qr/"refresh=" of zone "thim" sends to "\/_thim\/refresh" at 127\.0\.0\.1:\d+, and no server has a "thim_refresh" location there: add "location = \/_thim\/refresh \{ thim_refresh;/);

# thim_refresh in a server without the origin locations
my $alone = ThimSetup::config(zone => $zone) =~ s{(\n\s*server \{)}{
    server {
        listen 127.0.0.1:%%PORT_refresh%%;
        location = /_thim/refresh { thim_refresh; }
    }
$1}r;
refused('thim_refresh in a server without the origin locations', $alone,
        qr/"thim_refresh" in location "\/_thim\/refresh" \(\S+:\d+\) fetches from Intel PCS through "\/_thim\/intel\/"/);

# ---- what nginx -t cannot know: said once, by the first worker ----------

{
    # the AMD origin location answers itself; the Intel one proxies to a
    # variable address (make run's way) with no resolver
    my $conf = ThimSetup::config(http => 'thim_amd_origin /_mirror;',
        server => 'location /_mirror/ { internal; root html; }');
    $conf =~ s{proxy_pass https://intel_pcs/;(\s*proxy_set_header Ocp)}
              {set \$up intel_pcs; proxy_pass https://\$up;$1} or die;
    my $t = ThimTest->new(workers => 2, modules => [ThimSetup::module()]);
    $t->{vars}{ORIGIN_PORT} = $t->port('origin');
    $t->write_config($conf);
    $t->run;
    my @warned = $t->error_log =~ /^[^\n]*thim: origin location[^\n]*$/mg;
    is(scalar(grep { /"\/_mirror\/" has no proxy_pass/ } @warned), 1,
       'an origin location without proxy_pass: said once at start')
        or diag(join "\n", @warned);
    like((grep { /_mirror/ } @warned)[0] // '', qr/\[warn\]/, '... at warn');
    is(scalar(grep { /"\/_thim\/intel\/" does not proxy_pass to an address fixed/ } @warned),
       1, 'proxy_pass with variables: said once at start, not per worker');
    like((grep { /_thim\/intel/ } @warned)[0] // '',
         qr/no "resolver" for it: a name must be an upstream\{\}/,
         '... with what it needs');
    $t->mark_log;
    $t->get('/vcek/v1/Milan/cert_chain') for 1 .. 3;
    unlike($t->log_since_mark, qr/thim: origin location/,
           'and never again per request');
    $t->stop;
}

done_testing();
