
/*
 * Unit tests: PCK certificate selection (src/ngx_thim_pck.c) on the real
 * PCK certificate lists and TCB infos of the fixtures, with Intel PCS's
 * own answer as the oracle.
 */


#include <stdlib.h>

#include <jansson.h>

#include "tap.h"
#include "ngx_thim_pck.c"


#define MAX  64


static char  *data_dir = "t/data";


typedef struct {
    ngx_uint_t           n;
    ngx_uint_t           bad;              /* entries the parser refused */
    ngx_http_thim_tcb_t  tcb[MAX];
    char                 tcbm[MAX][40];
} list_t;


static json_t *
load(const char *name)
{
    char          path[512];
    json_error_t  err;

    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    return json_load_file(path, 0, &err);
}


/* the certificates of a set, through the module's own entry parser */

static void
certs_of(const char *name, list_t *l)
{
    size_t                     i;
    json_t                    *root, *item;
    ngx_http_thim_pck_entry_t  e;

    l->n = 0;
    root = load(name);

    json_array_foreach(json_object_get(root, "pck_data"), i, item) {
        if (ngx_http_thim_pck_entry(item, &e) != NGX_OK) {
            l->bad++;
            continue;
        }

        if (e.cert == NULL || l->n == MAX) {
            continue;
        }

        l->tcb[l->n] = e.tcb;
        snprintf(l->tcbm[l->n], sizeof(l->tcbm[0]), "%.36s", e.tcbm);
        l->n++;
    }

    json_decref(root);
}


static void
levels_of(const char *name, list_t *l)
{
    json_t  *root;

    root = load(name);
    l->n = 0;

    if (ngx_http_thim_pck_levels(root, l->tcb, MAX, &l->n) != NGX_OK) {
        l->bad++;
    }

    json_decref(root);
}


static void
raw_of(char *cpusvn, ngx_uint_t pcesvn, ngx_http_thim_tcb_t *raw)
{
    size_t  i;

    for (i = 0; i < NGX_HTTP_THIM_TCB_COMPONENTS; i++) {
        sscanf(cpusvn + 2 * i, "%2hhx", &raw->comp[i]);
    }

    raw->pcesvn = pcesvn;
}


int
main(int argc, char **argv)
{
    list_t               certs, levels;
    ngx_uint_t           i, k, bad;
    ngx_http_thim_tcb_t  raw, tcb;
    u_char               cpusvn[16];

    if (argc > 1) {
        data_dir = argv[1];
    }

    memset(&certs, 0, sizeof(list_t));
    memset(&levels, 0, sizeof(list_t));

    certs_of("intel/pckcerts/pckcerts_00906ea10000_processor_2020-05-18_"
             "qeid-16a5b41ebb076d263a1e39e64e7175e7.json", &certs);
    levels_of("intel/pcs/v3/tcb_00906ea10000_eval8_2020-05-18.json", &levels);

    ok(certs.n == 12 && levels.n > 0 && certs.bad == 0 && levels.bad == 0,
       "12 certificates (v3 flat TCBs), %u TCB levels", (unsigned) levels.n);

    /* each tcbm says the same TCB as its entry's tcb */
    bad = 0;
    for (i = 0; i < certs.n; i++) {
        if (ngx_http_thim_tcbm_of((u_char *) certs.tcbm[i], &tcb, cpusvn)
            != NGX_OK
            || memcmp(&tcb.comp, &certs.tcb[i].comp, 16) != 0
            || memcmp(cpusvn, &certs.tcb[i].comp, 16) != 0
            || tcb.pcesvn != certs.tcb[i].pcesvn)
        {
            bad++;
        }
    }
    ok(bad == 0, "tcbm = CPUSVN || PCESVN little-endian, for all (%u wrong)",
       (unsigned) bad);

    ok(ngx_http_thim_tcbm_of((u_char *) "0D0D020401800300000000000000000009G0",
                             &tcb, NULL) == NGX_DECLINED,
       "a tcbm with a non-hex digit is refused");

    /* PCS's own answer (fixture pckcert_...): raw 0f0f0205ff80..., PCESVN 9 */
    raw_of("0f0f0205ff8007000000000000000000", 9, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, levels.tcb,
                                levels.n, &k) == NGX_OK,
       "a certificate is chosen for PCS's request");
    ok(strcasecmp(certs.tcbm[k], "0D0D02040180030000000000000000000900") == 0,
       "the one Intel PCS chose: SGX-TCBm %s", certs.tcbm[k]);

    /* a raw TCB equal to a certificate's TCB chooses that certificate */
    bad = 0;
    for (i = 0; i < certs.n; i++) {
        if (ngx_http_thim_pck_select(&certs.tcb[i], certs.tcb, certs.n,
                                     levels.tcb, levels.n, &k) != NGX_OK
            || !ngx_http_thim_tcb_le(&certs.tcb[k], &certs.tcb[i])
            || !ngx_http_thim_tcb_le(&certs.tcb[i], &certs.tcb[k]))
        {
            bad++;
        }
    }
    ok(bad == 0, "each certificate's own TCB chooses it (%u wrong)",
       (unsigned) bad);

    /* the chosen certificate never exceeds the raw TCB */
    raw_of("0e0e0205ff8007000000000000000000", 9, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, levels.tcb,
                                levels.n, &k) == NGX_OK
       && ngx_http_thim_tcb_le(&certs.tcb[k], &raw),
       "between levels: a certificate below the raw TCB (%s)", certs.tcbm[k]);

    /* below every certificate: none */
    raw_of("00000000000000000000000000000000", 0, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, levels.tcb,
                                levels.n, &k) == NGX_DECLINED,
       "below every certificate: none qualifies");

    /* PCESVN alone can disqualify */
    raw_of("ffffffffffffffffffffffffffffffff", 0, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, levels.tcb,
                                levels.n, &k) == NGX_DECLINED,
       "PCESVN 0: none qualifies");

    /* the 2024 set under the eval-16 TCB info: every row of the CSV works */
    certs_of("intel/pckcerts/pckcerts_00906ea10000_processor_2024-06-28_"
             "qeid-d68bdbd719d925b5d122a7c4522628f7.json", &certs);
    levels_of("intel/pcs/sgx/tcb_00906ea10000_eval16_2024-06-28.json",
              &levels);
    ok(certs.n == 22 && certs.bad == 0 && levels.bad == 0,
       "2024 set: 22 certificates (v4 component lists), v4 levels");
    raw_of("0f0f0205ff8007000000000000000000", 7, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, levels.tcb,
                                levels.n, &k) == NGX_OK
       && ngx_http_thim_tcb_le(&certs.tcb[k], &raw),
       "2024 set, raw PCESVN 7: %s", certs.tcbm[k]);

    /* no TCB info: the highest certificate below the raw TCB still wins */
    raw_of("0f0f0205ff8007000000000000000000", 9, &raw);
    ok(ngx_http_thim_pck_select(&raw, certs.tcb, certs.n, NULL, 0, &k)
       == NGX_OK && ngx_http_thim_tcb_le(&certs.tcb[k], &raw),
       "without levels: %s", certs.tcbm[k]);

    return done_testing();
}
