
/*
 * ngx_thim: PCK certificate selection (pure; see ngx_thim_pck.h).
 *
 * A platform has one PCK certificate per TCB level Intel issued it for.
 * For a raw TCB (the CPUSVN and PCESVN the platform reports), the
 * certificate to use is, among those whose TCB the raw TCB reaches (every
 * component and the PCESVN less than or equal), the one at the highest
 * TCB level, in the order of the FMSPC's TCB info (highest first).  A
 * certificate's level is the first TCB info level its own TCB reaches;
 * between certificates of one level, the higher TCB wins (more
 * components, then PCESVN, ahead).
 */


#include "ngx_thim_pck.h"


static ngx_uint_t ngx_http_thim_pck_level(ngx_http_thim_tcb_t *cert,
    ngx_http_thim_tcb_t *levels, ngx_uint_t nlevels);
static ngx_int_t ngx_http_thim_tcb_higher(ngx_http_thim_tcb_t *a,
    ngx_http_thim_tcb_t *b);


/* a <= b: every component and the PCESVN */

ngx_int_t
ngx_http_thim_tcb_le(ngx_http_thim_tcb_t *a, ngx_http_thim_tcb_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_THIM_TCB_COMPONENTS; i++) {
        if (a->comp[i] > b->comp[i]) {
            return 0;
        }
    }

    return a->pcesvn <= b->pcesvn;
}


/*
 * NGX_OK with *chosen the index of the certificate; NGX_DECLINED when no
 * certificate qualifies (the raw TCB is below all of them).
 */

ngx_int_t
ngx_http_thim_pck_select(ngx_http_thim_tcb_t *raw, ngx_http_thim_tcb_t *certs,
    ngx_uint_t ncerts, ngx_http_thim_tcb_t *levels, ngx_uint_t nlevels,
    ngx_uint_t *chosen)
{
    ngx_uint_t  i, level, best, best_level;

    best = ncerts;
    best_level = 0;

    for (i = 0; i < ncerts; i++) {

        if (!ngx_http_thim_tcb_le(&certs[i], raw)) {
            continue;
        }

        level = ngx_http_thim_pck_level(&certs[i], levels, nlevels);

        if (best == ncerts
            || level < best_level
            || (level == best_level
                && ngx_http_thim_tcb_higher(&certs[i], &certs[best])))
        {
            best = i;
            best_level = level;
        }
    }

    if (best == ncerts) {
        return NGX_DECLINED;
    }

    *chosen = best;

    return NGX_OK;
}


/* the index of the first level the certificate reaches; nlevels: none */

static ngx_uint_t
ngx_http_thim_pck_level(ngx_http_thim_tcb_t *cert,
    ngx_http_thim_tcb_t *levels, ngx_uint_t nlevels)
{
    ngx_uint_t  i;

    for (i = 0; i < nlevels; i++) {
        if (ngx_http_thim_tcb_le(&levels[i], cert)) {
            return i;
        }
    }

    return nlevels;
}


/* the tie-break: components first, then PCESVN, compared in order */

static ngx_int_t
ngx_http_thim_tcb_higher(ngx_http_thim_tcb_t *a, ngx_http_thim_tcb_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_THIM_TCB_COMPONENTS; i++) {
        if (a->comp[i] != b->comp[i]) {
            return a->comp[i] > b->comp[i];
        }
    }

    return a->pcesvn > b->pcesvn;
}
