
/*
 * make bench: what verifying one origin answer costs, per kind of
 * collateral, on the real fixtures.  Verification runs once per origin
 * answer, never on a cache hit.
 */


#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>

#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"


#define ROUNDS  300


static size_t
slurp(const char *dir, const char *name, u_char **buf)
{
    char    path[1024];
    FILE   *f;
    long    n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "verify bench: %s: cannot open\n", path);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    *buf = malloc(n + 1);
    if (*buf == NULL || fread(*buf, 1, n, f) != (size_t) n) {
        exit(1);
    }

    fclose(f);

    return (size_t) n;
}


static X509 *
pem_cert(const char *dir, const char *name, int index)
{
    u_char          *pem;
    size_t           len;
    X509            *cert;
    STACK_OF(X509)  *certs;

    len = slurp(dir, name, &pem);
    certs = ngx_http_thim_pem_certs(pem, len);
    cert = X509_dup(sk_X509_value(certs, index));
    sk_X509_pop_free(certs, X509_free);
    free(pem);

    return cert;
}


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


int
main(int argc, char **argv)
{
    int                   i;
    char                 *reason, *d;
    u_char               *tcb, *tcb_chain, *crl, *crl_chain, *vcek, *chain;
    size_t                tcb_len, tcb_chain_len, crl_len, crl_chain_len,
                          vcek_len, chain_len;
    X509                 *root, *ask, *ark;
    double                t0;
    u_char                hwid[64];
    ngx_http_thim_spl_t   spl = { 3, 0, 8, 115, 0 };
    char                  dir[1024];

    d = argc > 1 ? argv[1] : "t/data";

    snprintf(dir, sizeof(dir), "%s/intel/root", d);
    root = pem_cert(dir, "Intel_SGX_Root_CA.pem", 0);

    snprintf(dir, sizeof(dir), "%s/intel/pcs/sgx", d);
    tcb_len = slurp(dir, "tcb_00906ea10000_eval16_2024-06-28.json", &tcb);
    tcb_chain_len = slurp(dir,
                          "tcb_00906ea10000_eval16_2024-06-28.issuer_chain.pem",
                          &tcb_chain);

    snprintf(dir, sizeof(dir), "%s/intel/pcs/pckcrl", d);
    crl_len = slurp(dir, "pckcrl_platform_2025-05-06.der", &crl);
    crl_chain_len = slurp(dir, "pckcrl_platform_2025-05-06.issuer_chain.pem",
                          &crl_chain);

    snprintf(dir, sizeof(dir), "%s/amd/milan", d);
    ask = pem_cert(dir, "cert_chain.pem", 0);
    ark = pem_cert(dir, "cert_chain.pem", 1);
    chain_len = slurp(dir, "cert_chain.pem", &chain);

    snprintf(dir, sizeof(dir), "%s/amd/milan/vcek", d);
    vcek_len = slurp(dir, "b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714"
                          "ce0fc23d2fb3f3e65631710244a4edfad191616be3366e48a6"
                          "352b35128d748458bc9c282d0f5a_bl3_tee0_snp8_"
                          "ucode115.der", &vcek);
    for (i = 0; i < 64; i++) {
        sscanf("b12164b45a2a27426e04ab52c5781d404fe2eab35ef5c4f714ce0fc23d2fb3"
               "f3e65631710244a4edfad191616be3366e48a6352b35128d748458bc9c282d"
               "0f5a" + 2 * i, "%2hhx", &hwid[i]);
    }

    printf("verification cost per origin answer (%d rounds each):\n", ROUNDS);

    t0 = now_us();
    for (i = 0; i < ROUNDS; i++) {
        if (ngx_http_thim_verify_intel_json(tcb, tcb_len, "tcbInfo",
                                            tcb_chain, tcb_chain_len, root,
                                            NULL, 1719594067, &reason)
            != NGX_OK)
        {
            fprintf(stderr, "tcbInfo: %s\n", reason);
            return 1;
        }
    }
    printf("  Intel tcbInfo 11 KB (ECDSA P-256 + chain):   %7.1f us\n",
           (now_us() - t0) / ROUNDS);

    t0 = now_us();
    for (i = 0; i < ROUNDS; i++) {
        if (ngx_http_thim_verify_crl(crl, crl_len, crl_chain, crl_chain_len,
                                     root, NGX_HTTP_THIM_SIGNER_PCK_PLATFORM,
                                     NULL, &reason)
            != NGX_OK)
        {
            fprintf(stderr, "PCK CRL: %s\n", reason);
            return 1;
        }
    }
    printf("  Intel PCK CRL (ECDSA P-256 + chain):         %7.1f us\n",
           (now_us() - t0) / ROUNDS);

    t0 = now_us();
    for (i = 0; i < ROUNDS; i++) {
        if (ngx_http_thim_verify_vcek(vcek, vcek_len, ask, hwid, 64, &spl, 0,
                                      &reason)
            != NGX_OK)
        {
            fprintf(stderr, "VCEK: %s\n", reason);
            return 1;
        }
    }
    printf("  AMD VCEK (RSA-4096-PSS + extensions):        %7.1f us\n",
           (now_us() - t0) / ROUNDS);

    t0 = now_us();
    for (i = 0; i < ROUNDS; i++) {
        if (ngx_http_thim_verify_amd_chain(chain, chain_len, ask, ark,
                                           "Milan", 0, &reason)
            != NGX_OK)
        {
            fprintf(stderr, "AMD chain: %s\n", reason);
            return 1;
        }
    }
    printf("  AMD cert_chain (PEM parse + RSA-4096-PSS):   %7.1f us\n",
           (now_us() - t0) / ROUNDS);

    return 0;
}
