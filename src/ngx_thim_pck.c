
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


#include <stdio.h>

#include "ngx_thim_pck.h"


static ngx_int_t ngx_http_thim_pck_tcb(json_t *t, ngx_http_thim_tcb_t *tcb);
static ngx_int_t ngx_http_thim_pck_svn(json_t *v, json_int_t max,
    ngx_uint_t *svn);
static ngx_int_t ngx_http_thim_hex_value(u_char c);
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


/*
 * {"tcb": {...}, "tcbm": "<36 hex>", "cert": "<pct-encoded PEM>" or
 * "Not available"}.  The strings point into the JSON: valid while it is.
 */

ngx_int_t
ngx_http_thim_pck_entry(json_t *item, ngx_http_thim_pck_entry_t *entry)
{
    const char  *tcbm, *cert;

    tcbm = json_string_value(json_object_get(item, "tcbm"));
    cert = json_string_value(json_object_get(item, "cert"));

    if (tcbm == NULL || cert == NULL
        || ngx_strlen(tcbm) != NGX_HTTP_THIM_TCBM_LEN
        || ngx_http_thim_pck_tcb(json_object_get(item, "tcb"), &entry->tcb)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    entry->tcbm = (u_char *) tcbm;
    entry->cert = (ngx_strcmp(cert, "Not available") == 0) ? NULL : cert;

    return NGX_OK;
}


/* the TCB levels of a tcbInfo document, in its order (highest first) */

ngx_int_t
ngx_http_thim_pck_levels(json_t *root, ngx_http_thim_tcb_t *levels,
    ngx_uint_t max, ngx_uint_t *n)
{
    size_t   i;
    json_t  *list, *level;

    list = json_object_get(json_object_get(root, "tcbInfo"), "tcbLevels");

    if (!json_is_array(list) || json_array_size(list) > max) {
        return NGX_DECLINED;
    }

    json_array_foreach(list, i, level) {
        if (ngx_http_thim_pck_tcb(json_object_get(level, "tcb"), &levels[i])
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    *n = json_array_size(list);

    return NGX_OK;
}


/*
 * SGX-TCBm: CPUSVN then PCESVN in little-endian byte order, as hex of
 * either case.  The CPUSVN bytes are the component SVNs.
 */

ngx_int_t
ngx_http_thim_tcbm_of(u_char *tcbm, ngx_http_thim_tcb_t *tcb, u_char *cpusvn)
{
    ngx_int_t   hi, lo;
    ngx_uint_t  i;
    u_char      b[NGX_HTTP_THIM_TCBM_LEN / 2];

    for (i = 0; i < NGX_HTTP_THIM_TCBM_LEN / 2; i++) {
        hi = ngx_http_thim_hex_value(tcbm[2 * i]);
        lo = ngx_http_thim_hex_value(tcbm[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return NGX_DECLINED;
        }

        b[i] = (u_char) (hi << 4 | lo);
    }

    for (i = 0; i < NGX_HTTP_THIM_TCB_COMPONENTS; i++) {
        tcb->comp[i] = b[i];

        if (cpusvn) {
            cpusvn[i] = b[i];
        }
    }

    tcb->pcesvn = b[16] | b[17] << 8;

    return NGX_OK;
}


/* v4 lists "sgxtcbcomponents": [{"svn": N}, ...]; v3 "sgxtcbcompNNsvn" */

static ngx_int_t
ngx_http_thim_pck_tcb(json_t *t, ngx_http_thim_tcb_t *tcb)
{
    char        name[sizeof("sgxtcbcomp16svn")];
    json_t     *comps, *v;
    ngx_uint_t  i, svn;

    if (!json_is_object(t)) {
        return NGX_DECLINED;
    }

    comps = json_object_get(t, "sgxtcbcomponents");

    if (comps && json_array_size(comps) != NGX_HTTP_THIM_TCB_COMPONENTS) {
        return NGX_DECLINED;
    }

    for (i = 0; i < NGX_HTTP_THIM_TCB_COMPONENTS; i++) {

        if (comps) {
            v = json_object_get(json_array_get(comps, i), "svn");

        } else {
            /* libc: pure files do without the nginx runtime */
            snprintf(name, sizeof(name), "sgxtcbcomp%02usvn",
                     (unsigned) (i + 1));
            v = json_object_get(t, name);
        }

        if (ngx_http_thim_pck_svn(v, 255, &svn) != NGX_OK) {
            return NGX_DECLINED;
        }

        tcb->comp[i] = (u_char) svn;
    }

    return ngx_http_thim_pck_svn(json_object_get(t, "pcesvn"), 65535,
                                 &tcb->pcesvn);
}


static ngx_int_t
ngx_http_thim_pck_svn(json_t *v, json_int_t max, ngx_uint_t *svn)
{
    if (!json_is_integer(v)
        || json_integer_value(v) < 0
        || json_integer_value(v) > max)
    {
        return NGX_DECLINED;
    }

    *svn = (ngx_uint_t) json_integer_value(v);

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
