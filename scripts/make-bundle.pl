#!/usr/bin/perl
# make-bundle.pl: an ngx_thim bundle (docs/bundle.md) of the real collateral
# in t/data, as the origins serve it (the file mapping of
# t/origin/emulator.pl: the highest evaluation number for update=standard,
# the newest CRL of each CA), for `make run` and the tests.
#
#   scripts/make-bundle.pl [--data t/data] [--out conf/bundle]
#                          [--fetched 2026-11-29T00:00:00Z]
#
# "fetched" is the same for every entry (the fixtures carry no fetch time);
# the output is deterministic.  The pckcerts entry is one platform's PCK
# certificate set, rendered as PCS sends it (each certificate's PEM
# percent-encoded), so that make run answers pckcert for it offline.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use Getopt::Long;
use JSON::PP;

my $top = abs_path(dirname(abs_path($0)) . '/..');
my ($data, $out, $fetched) = ("$top/t/data", "$top/conf/bundle",
                              '2026-11-29T00:00:00Z');
GetOptions('data=s' => \$data, 'out=s' => \$out, 'fetched=s' => \$fetched)
    or die "usage: $0 [--data DIR] [--out DIR] [--fetched ISO8601]\n";

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!\n";
    local $/;
    return scalar <$fh>;
}

# Intel's header encoding: everything outside RFC 3986 unreserved as %XX
sub pct {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# the newest of several fixture files: highest eval number, then date
sub newest {
    my @f = @_;
    my $rank = sub { my ($e, $d) = $_[0] =~ /_eval(\d+)_(\d{4}-\d\d-\d\d)/;
                     ($e // 0) * 1e9 + ($d // '0') =~ s/-//gr };
    return (sort { $rank->($b) <=> $rank->($a) } @f)[0];
}

remove_tree(map { "$out/$_" } qw(intel intel-root amd));
make_path($out);

my @entries;

sub add {
    my (%e) = @_;
    my $body = delete $e{body} // slurp(delete $e{src});
    my $name = $e{origin} . $e{path} . ($e{query} ? "-$e{query}" : '');
    $name =~ s{[^A-Za-z0-9.]+}{-}g;
    $name = substr($name, 0, 120) . '-' . substr(sha256_hex($name), 0, 8)
        if length $name > 128;
    my $file = "$e{origin}/$name" . (delete $e{ext});
    make_path(dirname("$out/$file"));
    open my $fh, '>:raw', "$out/$file" or die "$out/$file: $!\n";
    print $fh $body;
    close $fh;
    my $chain = delete $e{chain};
    my $header = delete $e{header};
    $e{headers}{$header} = pct(slurp($chain)) if $chain;
    delete $e{query} unless $e{query};
    push @entries, { %e, file => $file, sha256 => sha256_hex($body),
                     fetched => $fetched };
}

sub json_entry {
    my ($src, %e) = @_;
    (my $chain = $src) =~ s/\.json$/.issuer_chain.pem/;
    add(%e, src => $src, chain => $chain, ext => '.json');
}

my $pcs = "$data/intel/pcs";

# --- Intel PCS: TCB info, per FMSPC, latest (update=standard) --------------
for my $family (['sgx', "$pcs/sgx", "$pcs/eval-series"], ['tdx', "$pcs/tdx"]) {
    my ($name, @dirs) = @$family;
    my %tcb;
    for my $f (map { glob("$_/tcb_*.json") } @dirs) {
        my ($fmspc) = $f =~ m{/tcb_([0-9a-f]{12})_} or next;
        push @{ $tcb{$fmspc} }, $f;
    }
    for my $fmspc (sort keys %tcb) {
        json_entry(newest(@{ $tcb{$fmspc} }), origin => 'intel',
                   path => "/$name/certification/v4/tcb",
                   query => "fmspc=$fmspc&update=standard",
                   header => 'TCB-Info-Issuer-Chain');
    }
}

for my $f (glob("$pcs/v3/tcb_*.json")) {
    my ($fmspc) = $f =~ m{/tcb_([0-9a-f]{12})_} or next;
    json_entry($f, origin => 'intel', path => '/sgx/certification/v3/tcb',
               query => "fmspc=$fmspc", header => 'SGX-TCB-Info-Issuer-Chain');
}

# --- identities, evaluation numbers ---------------------------------------
json_entry(newest(glob("$pcs/sgx/qe_identity_*.json"),
                  glob("$pcs/eval-series/qe_identity_*.json")),
           origin => 'intel', path => '/sgx/certification/v4/qe/identity',
           query => 'update=standard',
           header => 'SGX-Enclave-Identity-Issuer-Chain');
json_entry(newest(glob("$pcs/tdx/qe_identity_*.json")),
           origin => 'intel', path => '/tdx/certification/v4/qe/identity',
           query => 'update=standard',
           header => 'SGX-Enclave-Identity-Issuer-Chain');

for my $f (sort glob("$pcs/eval-series/*_eval*.json")) {
    my ($what, $fmspc, $n) = $f =~ m{/(tcb|qe_identity)_(?:([0-9a-f]{12})_)?eval(\d+)_}
        or next;
    if ($what eq 'tcb') {
        json_entry($f, origin => 'intel', path => '/sgx/certification/v4/tcb',
                   query => "fmspc=$fmspc&tcbEvaluationDataNumber=$n",
                   header => 'TCB-Info-Issuer-Chain');
    } else {
        json_entry($f, origin => 'intel',
                   path => '/sgx/certification/v4/qe/identity',
                   query => "tcbEvaluationDataNumber=$n",
                   header => 'SGX-Enclave-Identity-Issuer-Chain');
    }
}

json_entry(newest(glob("$pcs/eval-series/tcbevaluationdatanumbers_sgx_*.json")),
           origin => 'intel',
           path => '/sgx/certification/v4/tcbevaluationdatanumbers',
           header => 'TCB-Evaluation-Data-Numbers-Issuer-Chain');

# --- CRLs ------------------------------------------------------------------
for my $ca (qw(platform processor)) {
    my $f = (sort glob("$pcs/pckcrl/pckcrl_${ca}_*.der"))[-1] or next;
    (my $chain = $f) =~ s/\.der$/.issuer_chain.pem/;
    add(origin => 'intel', path => '/sgx/certification/v4/pckcrl',
        query => "ca=$ca&encoding=der", src => $f, ext => '.der',
        chain => $chain, header => 'SGX-PCK-CRL-Issuer-Chain');
}

add(origin => 'intel-root', path => '/IntelSGXRootCA.der', ext => '.der',
    src => (sort glob("$data/intel/root/IntelSGXRootCA_crl_*.der"))[-1]);

# --- PCK certificates (skipped by this build: the hook) ---------------------
{
    my ($csv) = grep { /16a5b41ebb076d263a1e39e64e7175e7/ }
        split /\n/, slurp("$data/intel/pckcerts/pckid_retrieval.csv");
    my ($ppid, $pceid) = split /,/, $csv // '';
    my $w = decode_json(slurp("$data/intel/pckcerts/pckcerts_00906ea10000_processor_2024-06-28_qeid-16a5b41ebb076d263a1e39e64e7175e7.json"));
    if ($ppid) {
        add(origin => 'intel', path => '/sgx/certification/v4/pckcerts',
            query => "encrypted_ppid=$ppid&pceid=$pceid", ext => '.json',
            body => JSON::PP->new->canonical->encode([map {
                my %e = %$_;
                $e{cert} = pct($e{cert}) unless $e{cert} eq 'Not available';
                \%e } @{ $w->{pck_data} }]),
            headers => {
                'SGX-PCK-Certificate-Issuer-Chain' => pct(join '', @{ $w->{ca_chain} }),
                'SGX-FMSPC' => '00906EA10000',
                'SGX-PCK-Certificate-CA-Type' => 'processor',
            },
            qeid => '16a5b41ebb076d263a1e39e64e7175e7');
    }
}

# --- AMD KDS ---------------------------------------------------------------
for my $p (qw(Milan Genoa Turin)) {
    my $d = "$data/amd/" . lc $p;
    add(origin => 'amd', path => "/vcek/v1/$p/cert_chain", ext => '.pem',
        src => "$d/cert_chain.pem");
    add(origin => 'amd', path => "/vlek/v1/$p/cert_chain", ext => '.pem',
        src => "$d/vlek_cert_chain.pem") if -f "$d/vlek_cert_chain.pem";
    add(origin => 'amd', path => "/vcek/v1/$p/crl", ext => '.der',
        src => "$d/crl.der") if -f "$d/crl.der";
    for my $f (sort glob("$d/vcek/*.der")) {
        my ($hwid, $bl, $tee, $snp, $ucode, $fmc)
            = $f =~ m{/([0-9a-f]+)_bl(\d+)_tee(\d+)_snp(\d+)_ucode(\d+)(?:_fmc(\d+))?\.der$}
            or next;
        add(origin => 'amd', path => "/vcek/v1/$p/$hwid", ext => '.der',
            src => $f,
            query => (defined $fmc ? "fmcSPL=$fmc&" : '')
                     . "blSPL=$bl&teeSPL=$tee&snpSPL=$snp&ucodeSPL=$ucode");
    }
}

my $index = {
    format => 'ngx_thim-bundle',
    version => 1,
    created => $fetched,
    generator => 'ngx_thim scripts/make-bundle.pl from t/data',
    entries => \@entries,
};

open my $fh, '>', "$out/index.json" or die "$out/index.json: $!\n";
print $fh JSON::PP->new->canonical->pretty->encode($index);
close $fh;

print scalar(@entries), " entries in $out\n";
