package ThimNamespace;

# nginx under the origins' real host names, for the tests that run
# shipped configuration unchanged (t/readme_conf.t, t/deb.t): nginx runs in
# a private mount namespace (unshare -m, as root) where /etc/hosts maps
# api.trustedservices.intel.com, certificates.trustedservices.intel.com
# and kdsintf.amd.com to 127.0.0.1, /etc/ssl/certs holds the test CA as
# ca-certificates.crt, and Debian's default log and temp directories are
# the test's own; the emulator's certificate names the three hosts, so
# TLS verification, SNI and Host are the configuration's own.

use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use ThimOrigin;
use ThimSetup;
use ThimTest;

our @HOSTS = qw(api.trustedservices.intel.com
                certificates.trustedservices.intel.com kdsintf.amd.com);

# why no namespace can be made here ('' when one can)
sub unavailable {
    return 'needs root: nginx runs in a private mount namespace where '
         . '/etc/hosts names the origins' if $> != 0;
    return 'needs unshare(1) and mount(8) (util-linux)'
        unless grep { -x "$_/unshare" } split /:/, $ENV{PATH};
    my $out = `unshare -m -- sh -c 'mount --bind /etc/hosts /etc/hosts && echo ok' 2>&1`;
    return $out =~ /^ok$/m ? ''
         : 'cannot make a mount namespace here: ' . ($out || 'unshare failed');
}

# the origin emulator with a certificate for the origins' names, signed by
# the test CA
sub origin {
    my ($t) = @_;
    my $dir = $t->dir;
    my $pki = $t->pki;
    my $opki = "$dir/origin-pki";
    make_path($opki);
    open my $ext, '>', "$opki/ext" or die $!;
    print $ext 'subjectAltName=' . join(',', 'IP:127.0.0.1', 'DNS:localhost',
                                        map { "DNS:$_" } @HOSTS) . "\n";
    close $ext;
    system("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
           . " -subj /CN=$HOSTS[0] -keyout $opki/key.pem -out $opki/csr.pem"
           . " 2>/dev/null") == 0
        and system("openssl x509 -req -days 30 -in $opki/csr.pem"
           . " -CA $pki->{ca} -CAkey $pki->{ca_key} -CAcreateserial"
           . " -extfile $opki/ext -out $opki/cert.pem 2>/dev/null") == 0
        or die 'openssl failed';

    mkdir "$dir/origin";
    return ThimOrigin->start(pki => { ca => $pki->{ca},
                                      cert => "$opki/cert.pem",
                                      key => "$opki/key.pem" },
                             data => $ThimSetup::DATA, dir => "$dir/origin");
}

# thim_origins.conf's text with the origins' port changed to the
# emulator's: the only change the tests make to a shipped file
sub origins_conf {
    my ($text, $port) = @_;
    $text =~ s/^(\s*server\s+[\w.-]+):443;/$1:$port;/mg
        or die 'thim_origins.conf: no server line on port 443';
    return $text;
}

# from now on $t runs nginx in a namespace of its own; extra binds are
# "FROM TO" pairs (a file of the test's over a system one)
sub wrap {
    my ($t, @extra) = @_;
    my $d = $t->dir;
    make_path(map { "$d/ns/$_" } qw(certs lib log));
    $t->write_file('ns/hosts', "127.0.0.1 localhost\n"
                   . join('', map { "127.0.0.1 $_\n" } @HOSTS));
    copy($t->pki->{ca}, "$d/ns/certs/ca-certificates.crt") or die $!;
    my @bind = ("$d/ns/hosts /etc/hosts", "$d/ns/certs /etc/ssl/certs",
                "$d/ns/lib /var/lib/nginx", "$d/ns/log /var/log/nginx",
                @extra);
    my $mounts = join ' && ', map {
        my ($from, $to) = split / /;
        "{ [ ! -e $to ] || mount --bind $from $to; }"
    } @bind;
    my $nginx = $ThimTest::NGINX;
    # Debian's compiled-in pid file is /run/nginx.pid: the last -g wins
    my $f = $t->write_file('nginx-ns', <<"SH");
#!/bin/sh
exec unshare -m --propagation private -- sh -c '$mounts && exec "\$@"' \\
    sh $nginx "\$@" -g "daemon off; pid $d/logs/nginx.pid;"
SH
    chmod 0755, $f;
    $ThimTest::NGINX = $f;
}

# the nginx block after the "t/readme_conf.t" marker, as README.md has it
sub readme_block {
    open my $fh, '<', "$ThimSetup::ROOT/README.md" or die "README.md: $!";
    local $/;
    my $md = <$fh>;
    $md =~ /^<!-- t\/readme_conf\.t: [^\n]*-->\n```nginx\n(.*?)^```$/ms
        or die "README.md: no nginx block after the t/readme_conf.t marker";
    return $1;
}

1;
