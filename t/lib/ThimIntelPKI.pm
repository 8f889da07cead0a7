package ThimIntelPKI;

# A look-alike of Intel's SGX PKI, made with the openssl command line (P-256,
# milliseconds), for tests that configure its root as thim_intel_root_ca:
# every certificate carries Intel's names, so that only the role checks
# (issued directly by the root, CA or not, key usages, revocation) can tell
# a right signer from a wrong one.
#
#   my $pki = ThimIntelPKI::make($dir);
#   $pki->{root}{cert}, ...{key}         certificates and keys by role:
#     root            Intel SGX Root CA (self-signed, CA, pathlen 1)
#     tcb             Intel SGX TCB Signing (not a CA, digitalSignature)
#     processor       Intel SGX PCK Processor CA (CA, keyCertSign, cRLSign)
#     platform        Intel SGX PCK Platform CA (idem)
#     intermediate    a CA under the root ("Intel SGX Intermediate CA")
#     tcb_deep        "Intel SGX TCB Signing" under the intermediate
#     tcb_ca          "Intel SGX TCB Signing" that is a CA
#     platform_leaf   "Intel SGX PCK Platform CA" that is not a CA
#     tcb_revoked     a second "Intel SGX TCB Signing", revoked
#   chain($role)      the PEM issuer chain of a role (it, ..., the root)
#   $pki->{root_crl}  the root CA CRL (DER) listing tcb_revoked
#   sign_json($role, $body)   Intel's signature (r||s, 128 hex digits) over
#                     the exact bytes of the signed member, replaced
#   crl($role, $file) a DER CRL (no entry) signed by the role's key

use strict;
use warnings;

use File::Path qw(make_path);

my $DN = '/O=Intel Corporation/L=Santa Clara/ST=CA/C=US';

# role => [common name, issuer role, extensions section]
my @ROLES = (
    [root          => 'Intel SGX Root CA',          undef,          'root'],
    [tcb           => 'Intel SGX TCB Signing',      'root',         'tcb'],
    [processor     => 'Intel SGX PCK Processor CA', 'root',         'pckca'],
    [platform      => 'Intel SGX PCK Platform CA',  'root',         'pckca'],
    [intermediate  => 'Intel SGX Intermediate CA',  'root',         'pckca'],
    [tcb_deep      => 'Intel SGX TCB Signing',      'intermediate', 'tcb'],
    [tcb_ca        => 'Intel SGX TCB Signing',      'root',         'pckca'],
    [platform_leaf => 'Intel SGX PCK Platform CA',  'root',         'leaf'],
    [tcb_revoked   => 'Intel SGX TCB Signing',      'root',         'tcb'],
);

my $CONF = <<'EOF';
[ca]
default_ca = thim

[thim]
dir = %DIR%
database = $dir/index-%NAME%.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber-%NAME%
default_md = sha256
default_crl_days = 3650
policy = any
unique_subject = no
email_in_dn = no
copy_extensions = none

[any]
commonName = supplied
organizationName = optional
localityName = optional
stateOrProvinceName = optional
countryName = optional

[root]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[pckca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[tcb]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

use ThimPKI;

sub _run { ThimPKI::_run(@_) }

sub _spew {
    my ($f, $data) = @_;
    open my $h, '>:raw', $f or die "$f: $!";
    print $h $data;
    close $h;
}

sub _slurp {
    my ($f) = @_;
    open my $h, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$h>;
}

# the openssl ca configuration of one issuer (its own index and CRL number)
sub _conf {
    my ($self, $name) = @_;
    my $f = "$self->{dir}/ca-$name.cnf";
    return $f if -e $f;
    (my $c = $CONF) =~ s/%DIR%/$self->{dir}/g;
    $c =~ s/%NAME%/$name/g;
    _spew($f, $c);
    _spew("$self->{dir}/index-$name.txt", '');
    _spew("$self->{dir}/crlnumber-$name", "01\n");
    return $f;
}

sub make {
    my ($dir) = @_;
    make_path("$dir/new");
    my $self = bless { dir => $dir }, __PACKAGE__;
    _spew("$dir/serial", "1000\n") unless -e "$dir/serial";

    for my $r (@ROLES) {
        my ($role, $cn, $issuer, $ext) = @$r;
        my %f = (cert => "$dir/$role.pem", key => "$dir/$role.key",
                 issuer => $issuer);
        $self->{$role} = \%f;
        next if -s $f{cert};

        _run(qw(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256
                -nodes -subj), "'/CN=$cn$DN'", '-keyout', $f{key},
             '-out', "$dir/$role.csr");

        # valid long before any fixture's issueDate, as Intel's are
        my @sign = $issuer
            ? ('-cert', $self->{$issuer}{cert}, '-keyfile',
               $self->{$issuer}{key}, '-config', $self->_conf($issuer))
            : ('-selfsign', '-keyfile', $f{key},
               '-config', $self->_conf($role));
        _run(qw(openssl ca -batch -notext -startdate 20170101000000Z
                -enddate 20491231235959Z), '-extensions', $ext,
             '-in', "$dir/$role.csr", '-out', $f{cert}, @sign);
    }

    unless (-s "$dir/root_crl.der") {
        my $root = $self->{root};
        _run(qw(openssl ca -batch), '-config', $self->_conf('root'),
             '-cert', $root->{cert}, '-keyfile', $root->{key},
             '-revoke', $self->{tcb_revoked}{cert});
        _run(qw(openssl ca -batch -gencrl), '-config', $self->_conf('root'),
             '-cert', $root->{cert}, '-keyfile', $root->{key},
             '-out', "$dir/root_crl.pem");
        _run(qw(openssl crl -outform der), '-in', "$dir/root_crl.pem",
             '-out', "$dir/root_crl.der");
    }

    $self->{root_crl} = "$dir/root_crl.der";
    return $self;
}

# the role's certificate, then its issuers', up to the root
sub chain {
    my ($self, $role) = @_;
    my $pem = '';
    for (my $r = $role; $r; $r = $self->{$r}{issuer}) {
        $pem .= _slurp($self->{$r}{cert});
    }
    return $pem;
}

# the chain in a file, for the emulator's serve(chain =>)
sub chain_file {
    my ($self, $role) = @_;
    my $f = "$self->{dir}/chain-$role.pem";
    _spew($f, $self->chain($role)) unless -s $f;
    return $f;
}

# the value of the body's first top-level member: [offset, length]
sub _member {
    my ($body) = @_;
    $body =~ /^\s*\{\s*"[A-Za-z]+"\s*:\s*/g or die 'not a signed document';
    my ($start, $depth, $in) = (pos($body), 0, 0);
    for (my $i = $start; $i < length $body; $i++) {
        my $c = substr($body, $i, 1);
        if ($in) {
            if ($c eq '\\') { $i++ }
            elsif ($c eq '"') { $in = 0 }
        } elsif ($c eq '"') {
            $in = 1;
        } elsif ($c eq '{' || $c eq '[') {
            $depth++;
        } elsif (($c eq '}' || $c eq ']') && --$depth == 0) {
            return ($start, $i + 1 - $start);
        }
    }
    die 'unterminated signed member';
}

# a DER ECDSA-Sig-Value -> r||s, 32 bytes each
sub _rs {
    my ($der) = @_;
    my ($o, @v) = (2);
    $o++ if ord(substr($der, 1, 1)) & 0x80;
    for (1 .. 2) {
        my $l = ord(substr($der, $o + 1, 1));
        my $v = substr($der, $o + 2, $l);
        $v =~ s/^\0+//;
        push @v, ("\0" x (32 - length $v)) . $v;
        $o += 2 + $l;
    }
    return join '', @v;
}

sub sign_json {
    my ($self, $role, $body) = @_;
    my ($off, $len) = _member($body);
    my $in = "$self->{dir}/sign.in";
    _spew($in, substr($body, $off, $len));
    _run(qw(openssl dgst -sha256 -sign), $self->{$role}{key},
         '-out', "$in.sig", $in);
    my $hex = unpack('H*', _rs(_slurp("$in.sig")));
    $body =~ s/("signature"\s*:\s*")[0-9a-fA-F]{128}"/$1$hex"/
        or die 'no signature member';
    return $body;
}

# a DER CRL without entries, issued and signed by the role
sub crl {
    my ($self, $role) = @_;
    my $f = "$self->{dir}/crl-$role";
    return "$f.der" if -s "$f.der";
    _run(qw(openssl ca -batch -gencrl), '-config', $self->_conf($role),
         '-cert', $self->{$role}{cert}, '-keyfile', $self->{$role}{key},
         '-out', "$f.pem");
    _run(qw(openssl crl -outform der), '-in', "$f.pem", '-out', "$f.der");
    return "$f.der";
}

1;
