#!/usr/bin/perl
# The Debian packages as an operator meets them: make deb's
# libnginx-mod-http-thim and thimctl carry what they must and depend on
# the nginx ABI Debian's own module packages depend on; dpkg installs
# both, the module is enabled the Debian way (the modules-enabled
# symlink its postinst makes), Debian's /usr/sbin/nginx loads it through
# /etc/nginx/modules-enabled/*.conf with the packaged trust anchors and
# serves collateral through the packaged include files (the README's
# minimal configuration) from the origin emulator over HTTP/1.1 and
# HTTP/2;
# then both are purged and nothing of theirs is left on the system.
#
# Needs root (dpkg), and runs in the pass against Debian's nginx only
# (the other passes' nginx is not the one the package is for).  Uses
# build/deb/*.deb when make deb (make test runs it first) built them,
# else runs make deb.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use ThimNamespace;
use ThimSetup;
use ThimTest;

my $ROOT = $ThimSetup::ROOT;
my $DEB_DIR = "$ROOT/build/deb";
my $MOD = 'libnginx-mod-http-thim';
my $CTL = 'thimctl';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-thim.conf';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-thim.conf';
my $SHARE = '/usr/share/ngx-thim';

plan skip_all => 'SKIPPED: installs packages with dpkg, needs root'
    unless $> == 0;
plan skip_all => 'SKIPPED: runs in the pass against Debian\'s nginx only '
               . "(this one: $ENV{TEST_NGINX_BINARY})"
    if ($ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx') ne '/usr/sbin/nginx';
plan skip_all => 'SKIPPED: no dpkg or no Debian nginx here'
    unless -x '/usr/bin/dpkg' && -x '/usr/sbin/nginx';

sub sh {
    my (@cmd) = @_;
    my $out = qx{@cmd 2>&1};
    return ($? >> 8, $out);
}

sub installed {
    my ($pkg) = @_;
    my ($rc, $st) = sh("dpkg-query -W -f='\${Status}' $pkg");
    return $rc == 0 && $st =~ /install ok installed/;
}

# the system as found: an operator's own installation is not ours to purge
plan skip_all => "SKIPPED: $_ is installed already; not touching it"
    for grep { installed($_) } $MOD, $CTL;
plan skip_all => "SKIPPED: $ENABLED exists already" if -e $ENABLED || -l $ENABLED;

sub deb_of {
    my ($pkg) = @_;
    my @f = sort glob("$DEB_DIR/${pkg}_*.deb");
    return $f[-1];
}

unless (deb_of($MOD) && deb_of($CTL)) {
    diag('no packages in build/deb: running make deb');
    my ($rc, $out) = sh("make -s -C '$ROOT' deb");
    BAIL_OUT("make deb failed:\n$out") if $rc;
}
my %deb = ($MOD => deb_of($MOD), $CTL => deb_of($CTL));

# ---------------------------------------------------------------------------
# what the packages carry and depend on

# the ABI virtual package of the nginx installed here, as Debian's module
# packages depend on it
my (undef, $provides) = sh("dpkg-query -W -f='\${Provides}' nginx");
my ($abi) = $provides =~ /(nginx-abi-[\w.+~-]+)/;
ok($abi, "nginx provides an ABI virtual package ($provides)");

my %dep = map { $_ => (sh("dpkg-deb -f '$deb{$_}' Depends"))[1] } keys %deb;
like($dep{$MOD}, qr/(^|, )\Q$abi\E(,|$)/m, "$MOD depends on $abi");
like($dep{$MOD}, qr/\blibssl3\b/, "$MOD depends on libssl3");
like($dep{$MOD}, qr/\blibjansson4\b/, "$MOD depends on libjansson4");
like($dep{$CTL}, qr/\blibcurl4\b/, "$CTL depends on libcurl4");
like($dep{$CTL}, qr/\blibssl3\b/, "$CTL depends on libssl3");
like($dep{$CTL}, qr/\blibjansson4\b/, "$CTL depends on libjansson4");
like($dep{$MOD}, qr/\bca-certificates\b/,
     "$MOD depends on ca-certificates (the include files verify origins "
     . 'against its trust store)');
unlike($dep{$MOD}, qr/libcurl/, "$MOD does not pull libcurl (thimctl does)");

my %content = map { $_ => (sh("dpkg-deb -c '$deb{$_}'"))[1] } keys %deb;
for my $f ('./usr/lib/nginx/modules/ngx_http_thim_module.so', ".$AVAILABLE",
           "$SHARE/intel/Intel_SGX_Root_CA.pem" =~ s{^}{.}r,
           (map { ".$SHARE/amd/$_.pem" } qw(milan genoa turin)),
           './etc/nginx/snippets/thim_origins.conf',
           './etc/nginx/snippets/thim_routes.conf',
           "./usr/share/doc/$MOD/copyright",
           "./usr/share/doc/$MOD/directives.md.gz")
{
    like($content{$MOD}, qr/ \Q$f\E$/m, "$MOD ships $f");
}
for my $f ('./usr/bin/thimctl', './usr/share/man/man1/thimctl.1.gz',
           "./usr/share/doc/$CTL/copyright") {
    like($content{$CTL}, qr/ \Q$f\E$/m, "$CTL ships $f");
}
unlike($content{$MOD}, qr{ \./etc/nginx/modules-enabled/},
       'the modules-enabled link is made by postinst, not shipped');

# ---------------------------------------------------------------------------
# install, the Debian way

# dpkg's lock may be held for a moment by someone else on a shared machine
sub dpkg {
    my ($args) = @_;
    my ($rc, $out);
    for (1 .. 30) {
        ($rc, $out) = sh("DEBIAN_FRONTEND=noninteractive dpkg $args");
        last unless $rc && $out =~ /lock/i;
        sleep 2;
    }
    return ($rc, $out);
}

my ($rc, $out) = dpkg("-i '$deb{$MOD}' '$deb{$CTL}'");
is($rc, 0, 'dpkg -i installs both packages') or diag($out);
my $cleanup = 1;
END { dpkg("--purge $MOD $CTL") if $cleanup && $> == 0 }

ok(installed($_), "$_ is installed") for $MOD, $CTL;
ok(-l $ENABLED && readlink($ENABLED) eq $AVAILABLE,
   "postinst enabled the module: $ENABLED -> $AVAILABLE");
like(ThimTest::_slurp($AVAILABLE) // '',
     qr/^load_module modules\/ngx_http_thim_module\.so;$/m,
     'the load snippet loads the module from nginx\'s modules directory');

my %listed = map { $_ => [grep { m{^/} } split /\n/, (sh("dpkg -L $_"))[1]] }
             $MOD, $CTL;
ok(!grep({ !-e $_ } @{ $listed{$_} }), "every file dpkg -L $_ lists exists")
    for $MOD, $CTL;

my ($vrc, $ver) = sh('/usr/bin/thimctl --version');
is($vrc, 0, 'the installed thimctl runs') or diag($ver);
($vrc, $ver) = sh('man -w thimctl');
chomp $ver;
is($vrc, 0, "man finds thimctl(1) ($ver)");

# ---------------------------------------------------------------------------
# Debian's nginx serves collateral with the installed module

SKIP: {
    skip ThimNamespace::unavailable(), 10 if ThimNamespace::unavailable();

    local $ThimTest::NGINX = '/usr/sbin/nginx';
    my $t = ThimTest->new(workers => 1, modules => []);
    my $d = $t->dir;
    my $o = ThimNamespace::origin($t);

    # load_module's relative path is nginx's prefix: here the test's
    # directory, whose modules/ is Debian's (/usr/share/nginx/modules is
    # the same link)
    symlink '/usr/lib/nginx/modules', "$d/modules" or die "symlink: $!";

    # The README's minimal configuration as the package lays it out: the
    # module loaded from modules-enabled, the packaged trust anchors and
    # the packaged include files from /etc/nginx/snippets; only the API
    # key's and TLS paths and the port are the test's.  The packaged
    # files are used as installed, in a namespace where the origins' names
    # are the emulator (t/lib/ThimNamespace.pm); thim_origins.conf is read
    # with the emulator's port, its only change.
    my $conf = ThimNamespace::readme_block();
    my %path = (
        'load_module modules/ngx_http_thim_module.so;'
            => 'include /etc/nginx/modules-enabled/*.conf;',
        'include snippets/' => 'include /etc/nginx/snippets/',
        '/etc/ngx_thim/intel-api-key' => $ThimSetup::API_KEY_FILE,
        '/etc/nginx/tls/thim.pem' => $t->pki->{cert},
        '/etc/nginx/tls/thim.key' => $t->pki->{key},
    );
    for my $from (sort keys %path) {
        $conf =~ s/\Q$from\E/$path{$from}/g or die "README block: no $from";
    }
    $conf =~ s/^(\s*listen\s+)443\b/${1}127.0.0.1:%%PORT_https%%/m
        or die 'README block: no listen 443';
    like($conf, qr{\Q$SHARE\E/intel/Intel_SGX_Root_CA\.pem},
         'the packaged Intel root is the anchor');
    $t->write_config($conf);

    my $installed = ThimTest::_slurp('/etc/nginx/snippets/thim_origins.conf')
        // die "thim_origins.conf: $!";
    $t->write_file('ns/thim_origins.conf',
                   ThimNamespace::origins_conf($installed, $o->port));
    ThimNamespace::wrap($t, "$d/ns/thim_origins.conf "
                            . '/etc/nginx/snippets/thim_origins.conf');
    $t->run;

    my $tcb = '/sgx/certification/v4/tcb?fmspc=00906ed50000';
    my $chain = '/vcek/v1/Milan/cert_chain';
    for my $h2 (0, 1) {
        my $proto = $h2 ? 'HTTP/2' : 'HTTP/1.1';
        my $r = $t->get($tcb, http2 => $h2);
        is($r->{status}, 200, "$proto: Intel TCB info served");
        ok($r->{content} eq
           ThimSetup::fixture('intel/pcs/sgx/tcb_00906ed50000_eval19_2025-06-04.json'),
           "$proto: ... Intel's bytes");
        $r = $t->get($chain, http2 => $h2);
        is($r->{status}, 200, "$proto: AMD Milan cert_chain served");
        ok($r->{content} eq ThimSetup::fixture('amd/milan/cert_chain.pem'),
           "$proto: ... AMD's bytes");
    }
    is($o->count("/sgx/certification/v4/tcb?fmspc=00906ed50000&update=standard"),
       1, 'the second TCB info came from the cache');
    $t->stop;
    $o->stop;
}

# ---------------------------------------------------------------------------
# purge: nothing left behind

($rc, $out) = dpkg("--purge $MOD $CTL");
is($rc, 0, 'dpkg --purge removes both') or diag($out);
$cleanup = 0;
ok(!installed($_), "$_ is gone from dpkg's database") for $MOD, $CTL;
for my $pkg ($MOD, $CTL) {
    my @left = grep { -f $_ || -l $_ } @{ $listed{$pkg} };
    is("@left", '', "no file of $pkg is left");
}
ok(!-e $ENABLED && !-l $ENABLED && !-l "$ENABLED.removed",
   'no symlink left in /etc/nginx/modules-enabled');
ok(!-e $SHARE, "$SHARE is gone");

done_testing;
