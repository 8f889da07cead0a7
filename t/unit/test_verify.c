
/*
 * Unit tests: verification of Intel's signed JSON (src/ngx_thim_verify.c)
 * on every signed fixture, and refusal of the negative ones.
 */


#include <dirent.h>
#include <stdlib.h>

#include <openssl/pem.h>

#include "tap.h"
#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"


static char  *data_dir = "t/data";
static X509  *anchor;



static char *
signed_key(char *name)
{
    if (strstr(name, "tcbevaluationdatanumbers")) {
        return "tcbEvaluationDataNumbers";
    }

    if (strstr(name, "tcb_")) {
        return "tcbInfo";
    }

    if (strstr(name, "qe_identity") || strstr(name, "qve_identity")) {
        return "enclaveIdentity";
    }

    return NULL;
}


/* the issueDate inside the signed object */
static time_t
issue_date(u_char *body, size_t len)
{
    u_char  *p;
    time_t   t;

    p = (u_char *) strstr((char *) body, "\"issueDate\":\"");

    if (p == NULL
        || ngx_http_thim_parse_iso8601(p + 13, 20, &t) != NGX_OK)
    {
        return 0;
    }

    return t;
}


static ngx_int_t
verify_file(char *dir, char *name, time_t at_override, char **reason)
{
    char       path[1024], *key, *dot;
    u_char    *body, *chain;
    size_t     blen, clen;
    time_t     at;
    ngx_int_t  rc;

    key = signed_key(name);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    blen = tap_slurp(path, &body);

    dot = strrchr(path, '.');
    snprintf(dot, sizeof(path) - (dot - path), ".issuer_chain.pem");
    clen = tap_slurp(path, &chain);

    at = at_override ? at_override : issue_date(body, blen);

    *reason = "";
    rc = ngx_http_thim_verify_intel_json(body, blen, key, chain, clen, anchor,
                                         NULL, at, reason);

    free(body);
    free(chain);

    return rc;
}


static void
every_fixture(char *sub)
{
    DIR            *d;
    char            dir[512], *reason;
    struct dirent  *e;

    snprintf(dir, sizeof(dir), "%s/intel/pcs/%s", data_dir, sub);
    d = opendir(dir);
    ok(d != NULL, "open %s", dir);

    while (d && (e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".issuer_chain.pem")
            || !strstr(e->d_name, ".json")
            || signed_key(e->d_name) == NULL)
        {
            continue;
        }

        ok(verify_file(dir, e->d_name, 0, &reason) == NGX_OK,
           "%s/%s verifies at its issueDate (%s)", sub, e->d_name, reason);
    }

    if (d) {
        closedir(d);
    }
}


static void
test_member(void)
{
    u_char   *v;
    size_t    n;
    char     *doc = "{ \"a\" : {\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]} ,"
                    "\"signature\":\"ab\", \"z\": 12 }";

    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "a", &v, &n)
       == NGX_OK
       && n == strlen("{\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]}")
       && memcmp(v, "{\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]}", n) == 0,
       "the exact bytes of an object with braces and quotes in strings");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "signature",
                                 &v, &n) == NGX_OK
       && n == 4 && memcmp(v, "\"ab\"", 4) == 0, "a string member");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "z", &v, &n)
       == NGX_OK && n == 2, "a number member");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "x", &v, &n)
       == NGX_DECLINED, "nested keys are not top-level members");
    ok(ngx_http_thim_json_member((u_char *) "[1]", 3, "a", &v, &n)
       == NGX_DECLINED, "not an object");
    ok(ngx_http_thim_json_member((u_char *) "{\"a\":{\"b\":1", 11, "a", &v,
                                 &n) == NGX_DECLINED, "a truncated member");
    ok(ngx_http_thim_json_member((u_char *) "{\"a\":\"x}", 9, "a", &v, &n)
       == NGX_DECLINED, "an unterminated string");
}


/* each signer in its role only: real fixtures, real roles */

static void
test_roles(void)
{
    char            path[1024], *reason;
    u_char         *crl, *pchain, *tchain, *body, *root_crl;
    size_t          crl_len, pchain_len, tchain_len, body_len, root_crl_len;
    ngx_str_t       rc;
    STACK_OF(X509) *certs;

    snprintf(path, sizeof(path),
             "%s/intel/pcs/pckcrl/pckcrl_platform_2025-05-06.der", data_dir);
    crl_len = tap_slurp(path, &crl);
    snprintf(path, sizeof(path), "%s/intel/pcs/pckcrl/"
             "pckcrl_platform_2025-05-06.issuer_chain.pem", data_dir);
    pchain_len = tap_slurp(path, &pchain);
    snprintf(path, sizeof(path), "%s/intel/pcs/sgx/"
             "tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem", data_dir);
    tchain_len = tap_slurp(path, &tchain);
    snprintf(path, sizeof(path), "%s/intel/pcs/sgx/"
             "tcb_00906ed50000_eval19_2025-06-04.json", data_dir);
    body_len = tap_slurp(path, &body);
    snprintf(path, sizeof(path),
             "%s/intel/root/IntelSGXRootCA_crl_2026-02-26.der", data_dir);
    root_crl_len = tap_slurp(path, &root_crl);

    ok(ngx_http_thim_verify_crl(crl, crl_len, pchain, pchain_len, anchor,
                                NGX_HTTP_THIM_SIGNER_PCK_PLATFORM, NULL,
                                &reason) == NGX_OK,
       "the platform CRL by the Platform CA (%s)", reason);
    ok(ngx_http_thim_verify_crl(crl, crl_len, pchain, pchain_len, anchor,
                                NGX_HTTP_THIM_SIGNER_PCK_PROCESSOR, NULL,
                                &reason) == NGX_DECLINED
       && strstr(reason, "not the Intel SGX PCK Processor CA"),
       "asked as the Processor CA's: refused (%s)", reason);
    ok(ngx_http_thim_verify_crl(crl, crl_len, pchain, pchain_len, anchor,
                                NGX_HTTP_THIM_SIGNER_ROOT, NULL, &reason)
       == NGX_DECLINED,
       "as the root's own CRL: refused (%s)", reason);
    ok(ngx_http_thim_verify_crl(crl, crl_len, tchain, tchain_len, anchor,
                                NGX_HTTP_THIM_SIGNER_PCK_PLATFORM, NULL,
                                &reason) == NGX_DECLINED,
       "with the TCB Signing chain: refused (%s)", reason);
    ok(ngx_http_thim_verify_crl(root_crl, root_crl_len, NULL, 0, anchor,
                                NGX_HTTP_THIM_SIGNER_ROOT, NULL, &reason)
       == NGX_OK, "the root CA CRL by the root (%s)", reason);

    /* the root's other encoding: one key, one name */
    snprintf(path, sizeof(path),
             "%s/intel/root/Intel_SGX_Root_CA_old-encoding.der", data_dir);
    {
        X509          *old;
        u_char        *der;
        size_t         der_len;
        const u_char  *q;

        der_len = tap_slurp(path, &der);
        q = der;
        old = d2i_X509(NULL, &q, (long) der_len);

        ok(old && ngx_http_thim_verify_crl(root_crl, root_crl_len, NULL, 0,
                                           old, NGX_HTTP_THIM_SIGNER_ROOT,
                                           NULL, &reason) == NGX_OK,
           "... and by the root in its old encoding (%s)", reason);

        X509_free(old);
        free(der);
    }

    ok(ngx_http_thim_verify_intel_json(body, body_len, "tcbInfo", pchain,
                                       pchain_len, anchor, NULL, 1749000000,
                                       &reason) == NGX_DECLINED
       && strstr(reason, "not the Intel SGX TCB Signing"),
       "tcbInfo with a PCK CA chain: refused (%s)", reason);

    rc.data = root_crl;
    rc.len = root_crl_len;
    ok(ngx_http_thim_verify_intel_json(body, body_len, "tcbInfo", tchain,
                                       tchain_len, anchor, &rc, 1749000000,
                                       &reason) == NGX_OK,
       "tcbInfo with Intel's root CA CRL, which lists nothing (%s)", reason);

    rc.data = crl;
    rc.len = crl_len;
    ok(ngx_http_thim_verify_intel_json(body, body_len, "tcbInfo", tchain,
                                       tchain_len, anchor, &rc, 1749000000,
                                       &reason) == NGX_DECLINED,
       "a 'root CRL' the root did not sign: refused (%s)", reason);

    certs = ngx_http_thim_pem_certs(tchain, tchain_len);
    ok(certs && ngx_http_thim_verify_signer(certs, anchor,
                                            NGX_HTTP_THIM_SIGNER_PCK_ANY,
                                            NULL, 1749000000, &reason)
                == NGX_DECLINED,
       "the TCB Signing certificate is no PCK CA (%s)", reason);
    sk_X509_pop_free(certs, X509_free);

    certs = ngx_http_thim_pem_certs(pchain, pchain_len);
    ok(certs && ngx_http_thim_verify_signer(certs, anchor,
                                            NGX_HTTP_THIM_SIGNER_PCK_ANY,
                                            NULL, 1749000000, &reason)
                == NGX_OK,
       "the Platform CA is a PCK CA (%s)", reason);
    sk_X509_pop_free(certs, X509_free);

    free(crl);
    free(pchain);
    free(tchain);
    free(body);
    free(root_crl);
}


/*
 * The load's memo (ngx_http_thim_verify_memo()): a chain verified once is
 * taken again only for the same chain, role and root CRL, at a time all
 * its certificates are valid; a refusal is never kept.
 */

static void
test_memo(void)
{
    char            path[1024], *reason;
    u_char         *pchain, *tchain;
    size_t          pchain_len, tchain_len;
    STACK_OF(X509) *pcerts, *tcerts;

    snprintf(path, sizeof(path), "%s/intel/pcs/pckcrl/"
             "pckcrl_platform_2025-05-06.issuer_chain.pem", data_dir);
    pchain_len = tap_slurp(path, &pchain);
    snprintf(path, sizeof(path), "%s/intel/pcs/sgx/"
             "tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem", data_dir);
    tchain_len = tap_slurp(path, &tchain);

    pcerts = ngx_http_thim_pem_certs(pchain, pchain_len);
    tcerts = ngx_http_thim_pem_certs(tchain, tchain_len);

    ngx_http_thim_verify_memo(1, 1);

    ok(ngx_http_thim_verify_signer(tcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 1749000000, &reason) == NGX_OK,
       "memo: the TCB Signing chain verified (%s)", reason);
    ok(ngx_http_thim_verify_signer(tcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 1750000000, &reason) == NGX_OK,
       "memo: ... and again at another time in its validity (%s)", reason);
    ok(ngx_http_thim_verify_signer(tcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 4000000000, &reason) == NGX_DECLINED,
       "memo: not taken past the certificates' expiry (%s)", reason);
    ok(ngx_http_thim_verify_signer(tcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 1000000000, &reason) == NGX_DECLINED,
       "memo: nor before they were issued (%s)", reason);
    ok(ngx_http_thim_verify_signer(tcerts, anchor,
                                   NGX_HTTP_THIM_SIGNER_PCK_ANY, NULL,
                                   1749000000, &reason) == NGX_DECLINED,
       "memo: not for another role (%s)", reason);
    ok(ngx_http_thim_verify_signer(pcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 1749000000, &reason) == NGX_DECLINED,
       "memo: not for another chain (%s)", reason);
    ok(ngx_http_thim_verify_signer(pcerts, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                   NULL, 1749000000, &reason) == NGX_DECLINED,
       "memo: a refusal is not kept (%s)", reason);

    ngx_http_thim_verify_memo(0, 1);

    sk_X509_pop_free(pcerts, X509_free);
    sk_X509_pop_free(tcerts, X509_free);
    free(pchain);
    free(tchain);
}


/* AMD: each chain of its family and product */

static void
test_amd_roles(void)
{
    X509      *ask, *ark, *gask, *gark;
    char       path[1024], *reason;
    u_char    *vcek_chain, *vlek_chain, *gvlek_chain, *vlek;
    size_t     vcek_len, vlek_len, gvlek_len, vlek_cert_len;

    snprintf(path, sizeof(path), "%s/amd/milan/cert_chain.pem", data_dir);
    ok(ngx_http_thim_amd_trust_read(path, "Milan", &ask, &ark) == NGX_OK,
       "Milan's trust file is Milan's");
    ok(ngx_http_thim_amd_trust_read(path, "Genoa", &gask, &gark)
       == NGX_DECLINED, "... and not Genoa's");
    vcek_len = tap_slurp(path, &vcek_chain);

    snprintf(path, sizeof(path), "%s/amd/milan/vlek_cert_chain.pem",
             data_dir);
    ok(ngx_http_thim_amd_trust_read(path, "Milan", &gask, &gark)
       == NGX_DECLINED, "the VLEK chain (ASVK) is no trust file");
    vlek_len = tap_slurp(path, &vlek_chain);

    snprintf(path, sizeof(path), "%s/amd/genoa/vlek_cert_chain.pem",
             data_dir);
    gvlek_len = tap_slurp(path, &gvlek_chain);

    ok(ngx_http_thim_verify_amd_chain(vcek_chain, vcek_len, ask, ark,
                                      "Milan", 0, &reason) == NGX_OK,
       "the VCEK chain as the VCEK chain (%s)", reason);
    ok(ngx_http_thim_verify_amd_chain(vlek_chain, vlek_len, ask, ark,
                                      "Milan", 1, &reason) == NGX_OK,
       "the VLEK chain as the VLEK chain (%s)", reason);
    ok(ngx_http_thim_verify_amd_chain(vlek_chain, vlek_len, ask, ark,
                                      "Milan", 0, &reason) == NGX_DECLINED,
       "the VLEK chain as the VCEK chain: refused (%s)", reason);
    ok(ngx_http_thim_verify_amd_chain(vcek_chain, vcek_len, ask, ark,
                                      "Milan", 1, &reason) == NGX_DECLINED,
       "the VCEK chain as the VLEK chain: refused (%s)", reason);
    ok(ngx_http_thim_verify_amd_chain(vlek_chain, vlek_len, ask, ark,
                                      "Genoa", 1, &reason) == NGX_DECLINED,
       "Milan's ASVK as Genoa's: refused (%s)", reason);
    ok(ngx_http_thim_verify_amd_chain(gvlek_chain, gvlek_len, ask, ark,
                                      "Milan", 1, &reason) == NGX_DECLINED,
       "Genoa's VLEK chain as Milan's: refused (%s)", reason);

    snprintf(path, sizeof(path), "%s/amd/milan/vlek/"
             "vlek_cc-us-east-2.amazonaws.com_bl4_tee0_snp24_ucode217.der",
             data_dir);
    vlek_cert_len = tap_slurp(path, &vlek);
    {
        u_char               hwid[64];
        ngx_http_thim_spl_t  spl;

        ngx_memzero(hwid, sizeof(hwid));
        ngx_memzero(&spl, sizeof(spl));

        ok(ngx_http_thim_verify_vcek(vlek, vlek_cert_len, ask, hwid, 64,
                                     &spl, 0, &reason) == NGX_DECLINED
           && strstr(reason, "not signed by the product's ASK"),
           "a genuine VLEK as a VCEK: refused (%s)", reason);
    }

    X509_free(ask);
    X509_free(ark);
    free(vcek_chain);
    free(vlek_chain);
    free(gvlek_chain);
    free(vlek);
}


/* the roles under a look-alike of Intel's PKI (t/lib/ThimIntelPKI.pm) */

static ngx_int_t
pki_signer(char *pki, char *role, ngx_http_thim_signer_e as,
    ngx_str_t *root_crl, X509 *root, char **reason)
{
    char             path[1024];
    u_char          *pem;
    size_t           len;
    ngx_int_t        rc;
    STACK_OF(X509)  *certs;

    snprintf(path, sizeof(path), "%s/chain-%s.pem", pki, role);
    len = tap_slurp(path, &pem);

    certs = len ? ngx_http_thim_pem_certs(pem, len) : NULL;
    rc = certs ? ngx_http_thim_verify_signer(certs, root, as, root_crl,
                                             time(NULL), reason)
               : NGX_ERROR;

    sk_X509_pop_free(certs, X509_free);
    free(pem);

    return rc;
}


static ngx_int_t
pki_crl(char *pki, char *role, ngx_http_thim_signer_e as, X509 *root,
    char **reason)
{
    char        path[1024];
    u_char     *der, *pem;
    size_t      len, plen;
    ngx_int_t   rc;

    snprintf(path, sizeof(path), "%s/crl-%s.der", pki, role);
    len = tap_slurp(path, &der);
    snprintf(path, sizeof(path), "%s/chain-%s.pem", pki, role);
    plen = tap_slurp(path, &pem);

    rc = ngx_http_thim_verify_crl(der, len, pem, plen, root, as, NULL, reason);

    free(der);
    free(pem);

    return rc;
}


static void
test_pki_roles(char *pki)
{
    BIO        *bio;
    X509       *root;
    char        path[1024], *reason;
    ngx_str_t   crl;

    snprintf(path, sizeof(path), "%s/root.pem", pki);
    bio = BIO_new_file(path, "r");
    root = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    snprintf(path, sizeof(path), "%s/root_crl.der", pki);
    crl.len = tap_slurp(path, &crl.data);

    ok(root && crl.len, "the look-alike PKI loads");

    ok(pki_signer(pki, "tcb", NGX_HTTP_THIM_SIGNER_TCB, &crl, root, &reason)
       == NGX_OK, "the TCB signer under the root (%s)", reason);
    ok(pki_signer(pki, "tcb_deep", NGX_HTTP_THIM_SIGNER_TCB, NULL, root,
                  &reason) == NGX_DECLINED
       && strstr(reason, "not issued directly"),
       "a TCB signer under an intermediate: refused (%s)", reason);
    ok(pki_signer(pki, "tcb_ca", NGX_HTTP_THIM_SIGNER_TCB, NULL, root,
                  &reason) == NGX_DECLINED && strstr(reason, "is a CA"),
       "a TCB signer that is a CA: refused (%s)", reason);
    ok(pki_signer(pki, "platform", NGX_HTTP_THIM_SIGNER_TCB, NULL, root,
                  &reason) == NGX_DECLINED,
       "a PCK CA as the TCB signer: refused (%s)", reason);
    ok(pki_signer(pki, "tcb_revoked", NGX_HTTP_THIM_SIGNER_TCB, NULL, root,
                  &reason) == NGX_OK,
       "the revoked TCB signer, no root CRL known (%s)", reason);
    ok(pki_signer(pki, "tcb_revoked", NGX_HTTP_THIM_SIGNER_TCB, &crl, root,
                  &reason) == NGX_DECLINED && strstr(reason, "revoked"),
       "the revoked TCB signer, the root CRL known: refused (%s)", reason);

    ok(pki_crl(pki, "platform", NGX_HTTP_THIM_SIGNER_PCK_PLATFORM, root,
               &reason) == NGX_OK, "the platform CRL (%s)", reason);
    ok(pki_crl(pki, "platform_leaf", NGX_HTTP_THIM_SIGNER_PCK_PLATFORM, root,
               &reason) == NGX_DECLINED && strstr(reason, "not a CA"),
       "a platform CRL by a non-CA: refused (%s)", reason);
    ok(pki_crl(pki, "processor", NGX_HTTP_THIM_SIGNER_PCK_PLATFORM, root,
               &reason) == NGX_DECLINED,
       "the processor CA's CRL as the platform's: refused (%s)", reason);

    X509_free(root);
    free(crl.data);
}


int
main(int argc, char **argv)
{
    char      path[1024], dir[512], *reason;
    u_char   *buf, *p;
    size_t    len;
    BIO      *bio;
    time_t    now;

    if (argc > 1) {
        data_dir = argv[1];
    }

    test_member();

    snprintf(path, sizeof(path), "%s/intel/root/Intel_SGX_Root_CA.pem",
             data_dir);
    bio = BIO_new_file(path, "r");
    anchor = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ok(anchor != NULL, "the Intel SGX Root CA loads");

    test_roles();
    test_memo();
    test_amd_roles();

    if (argc > 2) {
        test_pki_roles(argv[2]);
    }

    every_fixture("sgx");
    every_fixture("tdx");
    every_fixture("v3");
    every_fixture("eval-series");

    /* a byte changed inside the signed object */
    snprintf(dir, sizeof(dir), "%s/intel/pcs/sgx", data_dir);
    snprintf(path, sizeof(path), "%s/tcb_00906ed50000_eval19_2025-06-04.json",
             dir);
    len = tap_slurp(path, &buf);
    p = (u_char *) strstr((char *) buf, "\"tcbEvaluationDataNumber\":19");
    ok(p != NULL, "find a signed field");
    if (p) {
        u_char  *chain;
        size_t   clen;

        snprintf(path, sizeof(path),
                 "%s/tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem", dir);
        clen = tap_slurp(path, &chain);

        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo", chain, clen,
                                           anchor, NULL, 1749000000, &reason)
           == NGX_OK, "the untouched body verifies");

        p[26] = '8';
        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo", chain, clen,
                                           anchor, NULL, 1749000000, &reason)
           == NGX_DECLINED, "one byte changed in the signed object: refused "
           "(%s)", reason);

        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo",
                                           (u_char *) "", 0, anchor, NULL,
                                           1749000000, &reason)
           == NGX_DECLINED, "no chain: refused (%s)", reason);
        free(chain);
    }
    free(buf);

    /* Intel's own corrupted samples */
    snprintf(dir, sizeof(dir), "%s/intel/negative", data_dir);
    ok(verify_file(dir, "corrupted_tcb_00906ea10000_eval8_3000-05-18.json",
                   1589800000, &reason) == NGX_DECLINED,
       "corrupted tcbInfo refused (%s)", reason);
    ok(verify_file(dir, "corrupted_qe_identity_eval8_3000-05-18.json",
                   1589800000, &reason) == NGX_DECLINED,
       "corrupted QE identity refused (%s)", reason);

    /* Intel's QVL sample, signed under a look-alike "Intel SGX Root CA" */
    snprintf(dir, sizeof(dir), "%s/intel/negative/qvl-sample-fake-root",
             data_dir);
    {
        u_char  *body, *chain;
        size_t   blen, clen;

        snprintf(path, sizeof(path), "%s/tcbInfo.json", dir);
        blen = tap_slurp(path, &body);
        snprintf(path, sizeof(path), "%s/tcbSignChain.pem", dir);
        clen = tap_slurp(path, &chain);

        ok(blen && clen
           && ngx_http_thim_verify_intel_json(body, blen, "tcbInfo", chain,
                                              clen, anchor, NULL,
                                              issue_date(body, blen), &reason)
              == NGX_DECLINED,
           "a chain to a fake root is refused (%s)", reason);
        free(body);
        free(chain);
    }

    /* Intel's 2018-2025 signer: fine at issue time, expired today */
    now = time(NULL);
    snprintf(dir, sizeof(dir), "%s/intel/pcs/sgx", data_dir);
    ok(verify_file(dir, "tcb_00906ea10000_eval16_2024-06-28.json", now,
                   &reason) == NGX_DECLINED,
       "at today's date the 2018-2025 TCB Signing certificate has expired "
       "(%s): verify at issue time", reason);

    return done_testing();
}
