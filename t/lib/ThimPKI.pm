package ThimPKI;

# A throw-away test PKI made with the openssl command line: one CA and one
# server certificate for 127.0.0.1 / localhost.  Both nginx (the module's
# listener) and the origin emulator present the server certificate; clients
# and nginx's proxy_ssl_trusted_certificate trust the CA.  Keys are P-256 so
# that making them costs milliseconds.

use strict;
use warnings;

use File::Path qw(make_path);

sub _run {
    my (@cmd) = @_;
    my $out = qx{@cmd 2>&1};
    die "ThimPKI: '@cmd' failed:\n$out" if $?;
    return $out;
}

# make($dir) -> { ca => ca.pem, cert => server.pem, key => server.key }
# Idempotent: an existing, complete PKI in $dir is reused.
sub make {
    my ($dir) = @_;
    make_path($dir);
    my %f = (ca => "$dir/ca.pem", ca_key => "$dir/ca.key",
             cert => "$dir/server.pem", key => "$dir/server.key",
             dir => $dir);
    return \%f if -s $f{ca} && -s $f{cert} && -s $f{key};

    open my $ext, '>', "$dir/server.ext" or die "$dir/server.ext: $!";
    print $ext "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        . "basicConstraints=CA:FALSE\n"
        . "keyUsage=digitalSignature\n"
        . "extendedKeyUsage=serverAuth\n";
    close $ext;

    _run(qw(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
            -nodes -days 3650 -subj), '"/CN=ngx_thim test CA"',
         '-keyout', $f{ca_key}, '-out', $f{ca},
         '-addext', '"basicConstraints=critical,CA:TRUE"',
         '-addext', '"keyUsage=critical,keyCertSign,cRLSign"');
    _run(qw(openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
            -subj), '"/CN=127.0.0.1"', '-keyout', $f{key},
         '-out', "$dir/server.csr");
    _run(qw(openssl x509 -req -days 3650), '-in', "$dir/server.csr",
         '-CA', $f{ca}, '-CAkey', $f{ca_key}, '-CAcreateserial',
         '-extfile', "$dir/server.ext", '-out', $f{cert});
    return \%f;
}

1;
