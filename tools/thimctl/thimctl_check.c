
/*
 * thimctl: is an answer what was asked for, and signed by whom it must
 * be?  Every check is the module's own pure code, called as the module
 * calls it when an origin answers (ngx_thim_intel.c, ngx_thim_amd.c), so
 * that thimctl never bundles what ngx_thim would refuse, and "thimctl
 * verify" says what the cache would say.  Only pckcerts, which the
 * module does not serve yet, has a check of its own, built from the same
 * functions.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ngx_thim_args.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_verify.h"
#include "ngx_thim_intel_json.h"
#include "ngx_thim_pck_set.h"
#include "thimctl.h"




static int thimctl_check_json(thimctl_trust_t *trust, thimctl_expect_t *e,
    u_char *body, size_t len, ngx_str_t *chain, thimctl_verdict_t *v);
static int thimctl_check_pck_crl(thimctl_trust_t *trust, thimctl_expect_t *e,
    u_char *body, size_t len, ngx_str_t *chain, thimctl_verdict_t *v);
static int thimctl_check_pckcerts(thimctl_trust_t *trust, u_char *body,
    size_t len, ngx_str_t *chain, thimctl_verdict_t *v);
static int thimctl_check_amd(thimctl_trust_t *trust, thimctl_expect_t *e,
    u_char *body, size_t len, thimctl_verdict_t *v);
static int thimctl_chain_decode(char *header, ngx_str_t *chain);
static X509 *thimctl_pem_cert(char *file);
static char *thimctl_amd_load(thimctl_trust_t *trust, unsigned i,
    char *file);


/* ---- trust anchors ---------------------------------------------------- */

/*
 * The Intel SGX Root CA, and each product's KDS cert_chain (ASK then
 * ARK; the ARK self-signed, the ASK signed by it, as thim_amd_trust
 * demands).  A product without a readable file is noted: only its
 * collateral fails.
 */

int
thimctl_trust_load(thimctl_trust_t *trust, char *intel_root, char *amd_dir,
    char **error)
{
    char      file[4096];
    unsigned  i;

    trust->intel_root = thimctl_pem_cert(intel_root);

    if (trust->intel_root == NULL) {
        *error = "cannot read the Intel SGX Root CA (--intel-root-ca)";
        return -1;
    }

    for (i = 0; i < THIMCTL_PRODUCTS; i++) {
        snprintf(file, sizeof(file), "%s/%c%s.pem", amd_dir,
                 ngx_tolower(thimctl_product_names[i][0]),
                 thimctl_product_names[i] + 1);

        trust->amd_error[i] = thimctl_amd_load(trust, i, file);
    }

    return 0;
}


void
thimctl_trust_free(thimctl_trust_t *trust)
{
    unsigned  i;

    X509_free(trust->intel_root);

    for (i = 0; i < THIMCTL_PRODUCTS; i++) {
        X509_free(trust->ask[i]);
        X509_free(trust->ark[i]);
    }
}


static char *
thimctl_amd_load(thimctl_trust_t *trust, unsigned i, char *file)
{
    switch (ngx_http_thim_amd_trust_read(file, thimctl_product_names[i],
                                         &trust->ask[i], &trust->ark[i]))
    {
    case NGX_OK:
        return NULL;

    case NGX_ERROR:
        return "no AMD trust file for this product (--amd-trust)";

    default:
        return "the AMD trust file is not the product's ASK signed by its "
               "self-signed ARK";
    }
}


static X509 *
thimctl_pem_cert(char *file)
{
    BIO   *bio;
    X509  *cert;

    bio = BIO_new_file(file, "r");
    cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();

    return cert;
}


/* ---- answers ---------------------------------------------------------- */

/*
 * 0 when the answer passes, with its nextUpdate (or notAfter); -1 with
 * a reason.  chain is the issuer-chain header as sent (percent-encoded).
 */

int
thimctl_check(thimctl_trust_t *trust, thimctl_expect_t *e,
    unsigned char *body, size_t len, char *chain, thimctl_verdict_t *v)
{
    int        rc;
    ngx_str_t  pem;

    v->is_cert = 0;
    v->next_update = 0;
    v->reason = "verified";

    ngx_str_null(&pem);

    if (e->chain_header && chain == NULL) {
        v->reason = "the issuer chain header is missing";
        return -1;
    }

    if (chain && thimctl_chain_decode(chain, &pem) != 0) {
        v->reason = "the issuer chain header is not percent-encoded PEM";
        return -1;
    }

    switch (e->kind) {

    case THIMCTL_KIND_TCB:
    case THIMCTL_KIND_IDENTITY:
    case THIMCTL_KIND_EVAL_NUMBERS:
        rc = thimctl_check_json(trust, e, body, len, &pem, v);
        break;

    case THIMCTL_KIND_PCK_CRL:
    case THIMCTL_KIND_ROOT_CRL:
        rc = thimctl_check_pck_crl(trust, e, body, len, &pem, v);
        break;

    case THIMCTL_KIND_PCKCERTS:
        rc = thimctl_check_pckcerts(trust, body, len, &pem, v);
        break;

    default:
        rc = thimctl_check_amd(trust, e, body, len, v);
        break;
    }

    free(pem.data);

    return rc;
}


/* as ngx_http_thim_intel_check_json: fields, then signature and chain */

static int
thimctl_check_json(thimctl_trust_t *trust, thimctl_expect_t *e, u_char *body,
    size_t len, ngx_str_t *chain, thimctl_verdict_t *v)
{
    ngx_http_thim_intel_doc_t     doc;
    ngx_http_thim_intel_expect_t  expect;

    expect.key = e->json_key;
    expect.id = e->id;
    expect.version = e->version;
    expect.fmspc = e->fmspc[0] ? (u_char *) e->fmspc : NULL;
    expect.eval = (ngx_int_t) e->eval_asked - 1;
    expect.eval_min = -1;

    if (ngx_http_thim_intel_json_check(body, len, &expect, &doc, &v->reason)
        != NGX_OK)
    {
        if (v->reason == doc.text) {
            /* the verdict outlives the document */
            snprintf(v->text, sizeof(v->text), "%s", doc.text);
            v->reason = v->text;
        }

        return -1;
    }

    v->next_update = doc.next_update;

    /*
     * By the TCB Signing certificate, at the collateral's own issue time;
     * thimctl has no cache, so no root CA CRL to consult.
     */
    return ngx_http_thim_verify_intel_json(body, len, e->json_key,
                                           chain->data, chain->len,
                                           trust->intel_root, NULL,
                                           doc.issued,
                                           &v->reason)
           == NGX_OK ? 0 : -1;
}


/*
 * as ngx_http_thim_intel_check_crl: a whole DER CRL with a nextUpdate,
 * signed by the PCK CA asked for (any PCK CA for a uri= form), issued by
 * the root, or by the root itself when there is no chain
 */

static int
thimctl_check_pck_crl(thimctl_trust_t *trust, thimctl_expect_t *e,
    u_char *body, size_t len, ngx_str_t *chain, thimctl_verdict_t *v)
{
    ngx_http_thim_signer_e  role;

    if (ngx_http_thim_crl_next_update(body, len, &v->next_update) != NGX_OK) {
        v->reason = "body is not a DER CRL with a nextUpdate";
        return -1;
    }

    if (e->ca) {
        role = (strcmp(e->ca, "Intel SGX PCK Processor CA") == 0)
               ? NGX_HTTP_THIM_SIGNER_PCK_PROCESSOR
               : NGX_HTTP_THIM_SIGNER_PCK_PLATFORM;

    } else {
        role = chain->len ? NGX_HTTP_THIM_SIGNER_PCK_ANY
                          : NGX_HTTP_THIM_SIGNER_ROOT;
    }

    return ngx_http_thim_verify_crl(body, len, chain->data, chain->len,
                                    trust->intel_root, role, NULL,
                                    &v->reason)
           == NGX_OK ? 0 : -1;
}


/*
 * PCS's pckcerts: the module's own whole-set check (ngx_thim_pck_set.c):
 * the chain to the pinned root, every certificate signed by its PCK CA,
 * valid today, of one platform, FMSPC and PCE ID, and of exactly the TCB
 * its entry lists.  "nextUpdate" is the earliest notAfter.
 */

static int
thimctl_check_pckcerts(thimctl_trust_t *trust, u_char *body, size_t len,
    ngx_str_t *chain, thimctl_verdict_t *v)
{
    ngx_http_thim_pck_set_t  set;

    ngx_memzero(&set, sizeof(ngx_http_thim_pck_set_t));

    set.body = body;
    set.len = len;
    set.chain = chain->data;
    set.chain_len = chain->len;
    set.root = trust->intel_root;
    set.at = time(NULL);

    v->is_cert = 1;

    return ngx_http_thim_verify_pck_set(&set, &v->next_update, &v->reason)
           == NGX_OK ? 0 : -1;
}


/* as ngx_http_thim_amd_check_vcek, _check_chain and _check_crl */

static int
thimctl_check_amd(thimctl_trust_t *trust, thimctl_expect_t *e, u_char *body,
    size_t len, thimctl_verdict_t *v)
{
    u_char               hwid[64];
    ngx_int_t            rc;
    ngx_http_thim_spl_t  spl;

    if (trust->ark[e->product] == NULL) {
        v->reason = trust->amd_error[e->product];
        return -1;
    }

    switch (e->kind) {

    case THIMCTL_KIND_VCEK:
        v->is_cert = 1;

        if (ngx_http_thim_cert_not_after(body, len, &v->next_update)
            != NGX_OK)
        {
            v->reason = "body is not a DER certificate";
            return -1;
        }

        if (ngx_http_thim_hex_decode(hwid, (u_char *) e->vcek.hwid,
                                     strlen(e->vcek.hwid))
            != NGX_OK)
        {
            v->reason = "bad hwid";
            return -1;
        }

        spl.bl = e->vcek.spl[0];
        spl.tee = e->vcek.spl[1];
        spl.snp = e->vcek.spl[2];
        spl.ucode = e->vcek.spl[3];
        spl.fmc = e->vcek.spl[4];

        rc = ngx_http_thim_verify_vcek(body, len, trust->ask[e->product],
                                       hwid, strlen(e->vcek.hwid) / 2, &spl,
                                       e->vcek.turin, &v->reason);
        break;

    case THIMCTL_KIND_AMD_CHAIN:
        v->is_cert = 1;

        if (ngx_http_thim_pem_certs_not_after(body, len, 2, &v->next_update)
            != NGX_OK)
        {
            v->reason = "body is not two PEM certificates";
            return -1;
        }

        rc = ngx_http_thim_verify_amd_chain(body, len, trust->ask[e->product],
                                            trust->ark[e->product],
                                            thimctl_product_names[e->product],
                                            e->vlek, &v->reason);
        break;

    default: /* THIMCTL_KIND_AMD_CRL */

        if (ngx_http_thim_crl_next_update(body, len, &v->next_update)
            != NGX_OK)
        {
            v->reason = "body is not a DER CRL with a nextUpdate";
            return -1;
        }

        rc = ngx_http_thim_verify_amd_crl(body, len, trust->ark[e->product],
                                          &v->reason);
        break;
    }

    return rc == NGX_OK ? 0 : -1;
}


/* the origin's chain header, percent-decoded ("+" stays "+") */

static int
thimctl_chain_decode(char *header, ngx_str_t *chain)
{
    size_t  len;

    len = strlen(header);
    chain->data = malloc(len + 1);

    if (chain->data == NULL
        || ngx_http_thim_pct_decode(chain->data, (u_char *) header, len,
                                    &chain->len)
           != NGX_OK)
    {
        return -1;
    }

    return 0;
}


/*
 * A CRL as clients are served it (DER, PEM, or PCCS's lower-case hex of
 * the DER) brought to DER, the form the module verifies and bundles.
 * *changed tells whether the bytes are no longer the origin's.
 */

int
thimctl_crl_to_der(unsigned char **body, size_t *len, int *changed)
{
    int        n;
    BIO       *bio;
    u_char    *der;
    X509_CRL  *crl;

    *changed = 0;

    if (*len >= 11 && ngx_strncmp(*body, "-----BEGIN", 10) == 0) {
        bio = BIO_new_mem_buf(*body, (int) *len);
        crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);

        der = NULL;
        n = crl ? i2d_X509_CRL(crl, &der) : -1;
        X509_CRL_free(crl);
        ERR_clear_error();

        if (n <= 0) {
            return -1;
        }

        free(*body);
        *body = malloc(n);

        if (*body == NULL) {
            OPENSSL_free(der);
            return -1;
        }

        ngx_memcpy(*body, der, n);
        OPENSSL_free(der);
        *len = n;
        *changed = 1;
        return 0;
    }

    if (*len && *len % 2 == 0 && ngx_http_thim_is_hex(*body, *len)) {
        if (ngx_http_thim_hex_decode(*body, *body, *len) != NGX_OK) {
            return -1;
        }

        *len /= 2;
        *changed = 1;
    }

    return 0;
}
