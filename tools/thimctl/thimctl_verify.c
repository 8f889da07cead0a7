
/*
 * thimctl verify: fetch collateral as a DCAP client does (a plain GET,
 * "Accept: * / *", no key) from ngx_thim, PCCS, PCS, KDS or THIM, tell
 * what it is from its path, and verify it with the module's code.  One
 * line per URL, and an exit code for monitoring:
 *
 *   0  everything verified and current
 *   1  something failed verification, or is past its nextUpdate
 *   2  usage: a URL thimctl cannot tell the kind of, bad options
 *   3  a server unreachable, a TLS failure, or a status other than 200
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "thimctl.h"


#define THIMCTL_VERIFY_OK       0
#define THIMCTL_VERIFY_EXPIRED  1
#define THIMCTL_VERIFY_FAIL     2
#define THIMCTL_VERIFY_ERROR    3


typedef struct {
    char                      *url;
    char                      *path;           /* copies, cut up */
    char                      *query;
    char                      *kind_name;
    char                      *alt_chain;      /* tcb: the other name */
    int                        hex_or_pem;     /* CRLs come in any form */
    int                        root;           /* the root CA CRL */
    thimctl_expect_t           expect;
} thimctl_target_t;


/* Intel paths by their ends; identities with the module's id, version */
typedef struct {
    char                      *suffix;
    thimctl_kind_e             kind;
    char                      *name;
    char                      *id;
    int                        version;
} thimctl_suffix_t;


static thimctl_suffix_t  thimctl_suffixes[] = {
    { "/tcbevaluationdatanumbers", THIMCTL_KIND_EVAL_NUMBERS,
      "tcbevaluationdatanumbers", NULL, 1 },
    { "/tcb", THIMCTL_KIND_TCB, "tcb", NULL, 0 },
    { "/qe/identity", THIMCTL_KIND_IDENTITY, "qe-identity", "QE", 2 },
    { "/qve/identity", THIMCTL_KIND_IDENTITY, "qve-identity", "QVE", 2 },
    { "/qae/identity", THIMCTL_KIND_IDENTITY, "qae-identity", "QAE", 0 },
    { "/pckcrl", THIMCTL_KIND_PCK_CRL, "pckcrl", NULL, 0 },
    { "/pckcerts", THIMCTL_KIND_PCKCERTS, "pckcerts", NULL, 0 },
    { "/rootcacrl", THIMCTL_KIND_ROOT_CRL, "rootcacrl", NULL, 0 },
    { "/crl", THIMCTL_KIND_PCK_CRL, "crl", NULL, 0 },
    { "/IntelSGXRootCA.der", THIMCTL_KIND_ROOT_CRL, "root-ca-crl", NULL, 0 },
    { "/IntelSGXRootCA.crl", THIMCTL_KIND_ROOT_CRL, "root-ca-crl", NULL, 0 },
    { NULL, 0, NULL, NULL, 0 }
};


static int thimctl_classify(thimctl_target_t *t, char **reason);
static int thimctl_classify_intel(thimctl_target_t *t, thimctl_suffix_t *s,
    char **reason);
static int thimctl_classify_amd(thimctl_target_t *t, char **reason);
static int thimctl_verify_one(thimctl_common_t *c, thimctl_trust_t *trust,
    thimctl_target_t *t);
static int thimctl_ends_with(char *s, char *suffix);


int
thimctl_verify(thimctl_common_t *c, char **urls, size_t n)
{
    int                rc, worst;
    char              *reason, *error;
    size_t             i;
    thimctl_trust_t    trust;
    thimctl_target_t  *targets;

    targets = calloc(n, sizeof(thimctl_target_t));
    if (targets == NULL) {
        return THIMCTL_EXIT_FAILED;
    }

    memset(&trust, 0, sizeof(trust));
    worst = -1;

    /* every URL is understood before any is fetched */
    for (i = 0; i < n; i++) {
        targets[i].url = urls[i];

        if (thimctl_classify(&targets[i], &reason) != 0) {
            fprintf(stderr, "thimctl verify: %s: %s\n", urls[i], reason);
            goto done;
        }
    }

    if (thimctl_trust_load(&trust, c->intel_root_ca, c->amd_trust, &error)
        != 0)
    {
        fprintf(stderr, "thimctl verify: %s: %s\n", c->intel_root_ca, error);
        goto done;
    }

    worst = THIMCTL_VERIFY_OK;

    for (i = 0; i < n; i++) {
        rc = thimctl_verify_one(c, &trust, &targets[i]);

        if (rc > worst) {
            worst = rc;
        }
    }

done:

    for (i = 0; i < n; i++) {
        free(targets[i].path);
    }

    free(targets);
    thimctl_trust_free(&trust);

    switch (worst) {
    case THIMCTL_VERIFY_OK:
        return THIMCTL_EXIT_OK;
    case THIMCTL_VERIFY_ERROR:
        return THIMCTL_EXIT_UNREACHED;
    case -1:
        return THIMCTL_EXIT_USAGE;
    default:
        return THIMCTL_EXIT_FAILED;
    }
}


static int
thimctl_verify_one(thimctl_common_t *c, thimctl_trust_t *trust,
    thimctl_target_t *t)
{
    int                 rc, changed;
    char               *chain, date[32];
    time_t              now;
    thimctl_verdict_t   v;
    thimctl_response_t  res;

    memset(&res, 0, sizeof(res));

    if (thimctl_http_get(&c->http, t->url, NULL, NULL, &res) != 0) {
        printf("ERROR %s %s\n", t->url, res.error);
        rc = THIMCTL_VERIFY_ERROR;
        goto done;
    }

    if (res.status != 200) {
        printf("ERROR %s HTTP %ld\n", t->url, res.status);
        rc = THIMCTL_VERIFY_ERROR;
        goto done;
    }

    if (t->hex_or_pem
        && thimctl_crl_to_der(&res.body, &res.len, &changed) != 0)
    {
        printf("FAIL %s %s: the body is not a CRL in DER, PEM or hex\n",
               t->url, t->kind_name);
        rc = THIMCTL_VERIFY_FAIL;
        goto done;
    }

    /* the root CRL is checked against the pinned root, as in the module */
    chain = NULL;

    if (!t->root) {
        chain = thimctl_response_header(&res, t->expect.chain_header
                                              ? t->expect.chain_header
                                              : "SGX-PCK-CRL-Issuer-Chain");
    }

    if (chain == NULL && t->alt_chain) {
        chain = thimctl_response_header(&res, t->alt_chain);
    }

    if (thimctl_check(trust, &t->expect, res.body, res.len, chain, &v) != 0) {
        printf("FAIL %s %s: %s\n", t->url, t->kind_name, v.reason);
        rc = THIMCTL_VERIFY_FAIL;
        goto done;
    }

    now = c->at ? c->at : time(NULL);
    thimctl_iso8601(v.next_update, date, sizeof(date));

    if (now > v.next_update) {
        printf("EXPIRED %s %s %s=%s\n", t->url, t->kind_name,
               v.is_cert ? "notAfter" : "nextUpdate", date);
        rc = THIMCTL_VERIFY_EXPIRED;

    } else {
        printf("OK   %s %s %s=%s\n", t->url, t->kind_name,
               v.is_cert ? "notAfter" : "nextUpdate", date);
        rc = THIMCTL_VERIFY_OK;
    }

done:

    fflush(stdout);
    thimctl_response_free(&res);

    return rc;
}


/* what a URL names, from its path (and query: fmspc, ca, SPLs) */

static int
thimctl_classify(thimctl_target_t *t, char **reason)
{
    char              *p, *q;
    thimctl_suffix_t  *s;

    p = strstr(t->url, "://");

    if (p == NULL || (p = strchr(p + 3, '/')) == NULL) {
        *reason = "not an http:// or https:// URL with a path";
        return -1;
    }

    t->path = strdup(p);
    if (t->path == NULL) {
        *reason = "out of memory";
        return -1;
    }

    q = strchr(t->path, '?');

    if (q) {
        *q++ = '\0';
        t->query = q;
    }

    if (strncmp(t->path, "/vcek/v1/", 9) == 0
        || strncmp(t->path, "/vlek/v1/", 9) == 0)
    {
        return thimctl_classify_amd(t, reason);
    }

    for (s = thimctl_suffixes; s->suffix; s++) {
        if (thimctl_ends_with(t->path, s->suffix)) {
            return thimctl_classify_intel(t, s, reason);
        }
    }

    *reason = "not a collateral path thimctl knows (tcb, qe/qve/qae "
              "identity, tcbevaluationdatanumbers, pckcrl, pckcerts, "
              "rootcacrl, crl, "
              "IntelSGXRootCA.der, /vcek/v1/..., /vlek/v1/...)";

    return -1;
}


static int
thimctl_classify_intel(thimctl_target_t *t, thimctl_suffix_t *s,
    char **reason)
{
    int                tdx, v3;
    char               ca[16];
    thimctl_expect_t  *e;

    e = &t->expect;
    e->kind = s->kind;
    t->kind_name = s->name;

    tdx = (strstr(t->path, "/tdx/") != NULL);
    v3 = (strstr(t->path, "/v3/") != NULL);

    /* an asked evaluation number binds the answer (as in the module) */
    if (thimctl_query_get(t->query, "tcbEvaluationDataNumber", ca,
                          sizeof(ca))
        == 0)
    {
        e->eval_asked = strtol(ca, NULL, 10) + 1;
    }

    switch (s->kind) {

    case THIMCTL_KIND_TCB:
        e->json_key = "tcbInfo";
        e->id = v3 ? NULL : (tdx ? "TDX" : "SGX");
        e->version = v3 ? 2 : 3;
        e->chain_header = v3 ? "SGX-TCB-Info-Issuer-Chain"
                             : "TCB-Info-Issuer-Chain";

        /* THIM and ngx_thim send both names, Azure's forms maybe one */
        t->alt_chain = v3 ? "TCB-Info-Issuer-Chain"
                          : "SGX-TCB-Info-Issuer-Chain";

        if (thimctl_query_get(t->query, "fmspc", ca, sizeof(ca)) != 0
            || thimctl_fmspc(ca, e->fmspc, reason) != 0)
        {
            *reason = "a tcb URL names its fmspc (12 hexadecimal digits)";
            return -1;
        }

        return 0;

    case THIMCTL_KIND_IDENTITY:
        e->json_key = "enclaveIdentity";
        e->chain_header = "SGX-Enclave-Identity-Issuer-Chain";
        e->id = tdx ? "TD_QE" : s->id;
        e->version = tdx ? 0 : s->version;
        return 0;

    case THIMCTL_KIND_EVAL_NUMBERS:
        e->json_key = "tcbEvaluationDataNumbers";
        e->id = tdx ? "TDX" : "SGX";
        e->version = s->version;
        e->chain_header = "TCB-Evaluation-Data-Numbers-Issuer-Chain";
        return 0;

    case THIMCTL_KIND_ROOT_CRL:
        t->root = 1;
        t->hex_or_pem = 1;
        return 0;

    case THIMCTL_KIND_PCKCERTS:
        e->chain_header = "SGX-PCK-Certificate-Issuer-Chain";
        return 0;

    default: /* PCK CRL: ca= names the CA; a uri= form may be the root's */
        t->hex_or_pem = 1;

        if (thimctl_query_get(t->query, "ca", ca, sizeof(ca)) == 0) {
            e->chain_header = "SGX-PCK-CRL-Issuer-Chain";

            if (strcasecmp(ca, "processor") == 0) {
                e->ca = "Intel SGX PCK Processor CA";

            } else if (strcasecmp(ca, "platform") == 0) {
                e->ca = "Intel SGX PCK Platform CA";

            } else {
                *reason = "ca is processor or platform";
                return -1;
            }

        } else if (t->query && strcasestr(t->query, "IntelSGXRootCA")) {
            t->root = 1;
        }

        return 0;
    }
}


/* /vcek/v1/P/cert_chain, /vcek/v1/P/crl, /vcek/v1/P/HWID?SPLs (and vlek) */

static int
thimctl_classify_amd(thimctl_target_t *t, char **reason)
{
    char              *product, *leaf;
    unsigned           turin;
    thimctl_expect_t  *e;

    e = &t->expect;
    product = t->path + 9;
    leaf = strchr(product, '/');

    if (leaf == NULL || strchr(leaf + 1, '/')) {
        *reason = "a KDS path is /vcek/v1/PRODUCT/(cert_chain|crl|HWID)";
        return -1;
    }

    *leaf++ = '\0';

    if (strcmp(leaf, "cert_chain") == 0 || strcmp(leaf, "crl") == 0) {
        if (thimctl_product(product, e->vcek.product, &e->product, &turin)
            != 0)
        {
            *reason = "the product is Milan, Genoa or Turin";
            return -1;
        }

        if (strcmp(leaf, "crl") == 0) {
            e->kind = THIMCTL_KIND_AMD_CRL;
            t->kind_name = "kds-crl";

        } else {
            e->kind = THIMCTL_KIND_AMD_CHAIN;
            e->vlek = (t->path[2] == 'l');
            t->kind_name = "kds-cert_chain";
        }

        return 0;
    }

    if (t->path[2] != 'c') {
        *reason = "VLEKs are not public collateral";
        return -1;
    }

    if (thimctl_vcek_url(product, leaf, t->query, &e->vcek, reason) != 0) {
        return -1;
    }

    e->kind = THIMCTL_KIND_VCEK;
    e->product = e->vcek.product_index;
    t->kind_name = "vcek";

    return 0;
}


static int
thimctl_ends_with(char *s, char *suffix)
{
    size_t  n, m;

    n = strlen(s);
    m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}
