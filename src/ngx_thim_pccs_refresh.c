
/*
 * ngx_thim: PCCS's admin refresh, GET|POST /sgx/certification/v3|v4/refresh
 * (admin-token), with the parameters Intel's PCCS admin tool sends:
 *
 *   (none)                      the quote verification collateral: TCB
 *                               infos, QE/QVE/TD identities, CRLs
 *   type=certs&fmspc=           every cached PCK certificate set and PCK
 *                               certificate
 *   type=certs&fmspc=A,B        those of the FMSPCs named (also "[A,B]",
 *                               PCCS's list form), and the FMSPCs' TCB infos
 *
 * The entries named are made due now (ngx_http_thim_cache_due()); the
 * refresh sweep (ngx_thim_refresh.c) fetches them again at its next turn,
 * each verified as any origin answer, the cached copy kept when the origin
 * fails, and a client's request for one refreshes it at once.  A PCK set
 * is marked only when its platform is registered (the sweep refetches it
 * with the registration's PPID or manifest; other sets refresh on a
 * client's request).  The answer is PCCS's 200 "Operation successful."
 * as soon as they are marked.
 */


#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_key.h"
#include "ngx_thim_record.h"
#include "ngx_thim_response.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_REFRESH_FMSPC_LEN  12
#define NGX_HTTP_THIM_REFRESH_FMSPC_MAX  256


typedef struct {
    ngx_pool_t                *pool;
    ngx_array_t                keys;           /* ngx_str_t */
    ngx_array_t                values;         /* ngx_str_t, the records */
    ngx_array_t                fmspcs;         /* ngx_str_t, lower case */
    ngx_uint_t                 certs;
    ngx_uint_t                 failed;
    time_t                     now;
} ngx_http_thim_pccs_due_t;


static ngx_int_t ngx_http_thim_pccs_refresh_args(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pccs_due_t *due, char **parameter);
static ngx_int_t ngx_http_thim_pccs_refresh_fmspcs(ngx_pool_t *pool,
    ngx_str_t *arg, ngx_array_t *fmspcs);
static ngx_int_t ngx_http_thim_pccs_refresh_pick(ngx_http_thim_entry_t *e,
    void *data);
static ngx_uint_t ngx_http_thim_pccs_refresh_is_cert(ngx_str_t *key,
    ngx_uint_t family);
static ngx_uint_t ngx_http_thim_pccs_refresh_names(
    ngx_http_thim_pccs_due_t *due, ngx_str_t *key, ngx_str_t *value);
static ngx_int_t ngx_http_thim_pccs_refresh_need(ngx_pool_t *pool,
    ngx_str_t *key, ngx_str_t *need);
static ngx_uint_t ngx_http_thim_pccs_refresh_named(
    ngx_http_thim_pccs_due_t *due, u_char *fmspc);


ngx_int_t
ngx_http_thim_pccs_refresh(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    char                      *parameter;
    ngx_int_t                  rc;
    ngx_str_t                 *key, *value, need;
    ngx_uint_t                 i, marked;
    ngx_http_thim_pccs_due_t   due;

    if (ctx->zone == NULL) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "no zone here to refresh", NULL);
    }

    ngx_memzero(&due, sizeof(ngx_http_thim_pccs_due_t));

    due.pool = r->pool;
    due.now = ngx_time();

    if (ngx_array_init(&due.keys, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&due.values, r->pool, 16, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&due.fmspcs, r->pool, 4, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_thim_pccs_refresh_args(ctx, &due, &parameter);

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID, parameter);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_thim_cache_walk(ctx->zone,
                                    ngx_http_thim_pccs_refresh_pick, &due);

    if (due.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* outside the lock: which of the certificates are of the FMSPCs named */
    key = due.keys.elts;
    value = due.values.elts;
    marked = 0;

    for (i = 0; i < due.keys.nelts; i++) {
        if (!ngx_http_thim_pccs_refresh_names(&due, &key[i], &value[i])) {
            continue;
        }

        rc = ngx_http_thim_pccs_refresh_need(r->pool, &key[i], &need);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_thim_cache_due(ctx->zone, &key[i],
                                    (rc == NGX_OK) ? &need : NULL, due.now)
            == NGX_OK)
        {
            marked++;
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "thim: PCCS refresh%s: %ui entries due now",
                  due.certs ? " of PCK certificates" : "", marked);

    return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_OK,
                                   NGX_HTTP_THIM_PCCS_OK, NULL);
}


/* NGX_DECLINED with *parameter: PCCS's "Invalid request parameters." */

static ngx_int_t
ngx_http_thim_pccs_refresh_args(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pccs_due_t *due, char **parameter)
{
    ngx_int_t  rc;
    ngx_str_t  type, fmspc;

    rc = ngx_http_thim_pccs_arg(ctx, "type", &type);

    if (rc == NGX_OK) {
        if (type.len != sizeof("certs") - 1
            || ngx_strncmp(type.data, "certs", type.len) != 0)
        {
            *parameter = "type";
            return NGX_DECLINED;
        }

        due->certs = 1;
    }

    rc = ngx_http_thim_pccs_arg(ctx, "fmspc", &fmspc);

    if (rc != NGX_OK) {
        return NGX_OK;
    }

    /* an FMSPC list means certificates, as the admin tool sends it */
    if (!due->certs) {
        *parameter = "type";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_pccs_refresh_fmspcs(due->pool, &fmspc, &due->fmspcs);

    if (rc == NGX_DECLINED) {
        *parameter = "fmspc";
    }

    return rc;
}


/* "A,B", "[A,B]", "" (every FMSPC), percent-encoded; A, B 12 hex digits */

static ngx_int_t
ngx_http_thim_pccs_refresh_fmspcs(ngx_pool_t *pool, ngx_str_t *arg,
    ngx_array_t *fmspcs)
{
    u_char     *dst, *src, *p, *last, *comma;
    ngx_str_t   list, *f;

    list.data = ngx_pnalloc(pool, arg->len + 1);
    if (list.data == NULL) {
        return NGX_ERROR;
    }

    dst = list.data;
    src = arg->data;
    ngx_unescape_uri(&dst, &src, arg->len, 0);
    list.len = dst - list.data;

    p = list.data;
    last = list.data + list.len;

    if (p < last && *p == '[') {
        if (last[-1] != ']') {
            return NGX_DECLINED;
        }

        p++;
        last--;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    if (p == last) {
        return NGX_OK;
    }

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        src = (comma == NULL) ? last : comma;

        while (p < src && *p == ' ') {
            p++;
        }

        while (src > p && src[-1] == ' ') {
            src--;
        }

        if (src - p != NGX_HTTP_THIM_REFRESH_FMSPC_LEN
            || !ngx_http_thim_is_hex(p, NGX_HTTP_THIM_REFRESH_FMSPC_LEN)
            || fmspcs->nelts == NGX_HTTP_THIM_REFRESH_FMSPC_MAX)
        {
            return NGX_DECLINED;
        }

        f = ngx_array_push(fmspcs);
        if (f == NULL) {
            return NGX_ERROR;
        }

        f->data = p;
        f->len = NGX_HTTP_THIM_REFRESH_FMSPC_LEN;
        ngx_strlow(p, p, f->len);

        if (comma == NULL) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


/*
 * Under the zone's lock: the keys the request names, copied (with the
 * record of a certificate when FMSPCs are named: its SGX-FMSPC header is
 * read after the lock).
 */

static ngx_int_t
ngx_http_thim_pccs_refresh_pick(ngx_http_thim_entry_t *e, void *data)
{
    ngx_http_thim_pccs_due_t *due = data;

    ngx_str_t   *key, *value;
    ngx_uint_t   family, cert;

    family = ngx_http_thim_key_family(&e->key);

    if (e->negative || e->derived || e->expires <= due->now
        || (family != NGX_HTTP_THIM_KEY_INTEL
            && family != NGX_HTTP_THIM_KEY_INTEL_ROOT
            && family != NGX_HTTP_THIM_KEY_PCK_SET))
    {
        return NGX_OK;
    }

    cert = ngx_http_thim_pccs_refresh_is_cert(&e->key, family);

    /* without FMSPCs, one kind; with them, certificates and TCB infos */
    if (due->fmspcs.nelts == 0 && cert != due->certs) {
        return NGX_OK;
    }

    key = ngx_array_push(&due->keys);
    value = ngx_array_push(&due->values);

    if (key == NULL || value == NULL) {
        due->failed = 1;
        return NGX_DONE;
    }

    key->len = e->key.len;
    key->data = ngx_pstrdup(due->pool, &e->key);

    value->len = 0;
    value->data = NULL;

    if (due->fmspcs.nelts && cert) {
        value->len = e->len;
        value->data = ngx_pnalloc(due->pool, e->len);

        if (value->data) {
            ngx_memcpy(value->data, e->value, e->len);
        }
    }

    if (key->data == NULL || (value->len && value->data == NULL)) {
        due->failed = 1;
        return NGX_DONE;
    }

    return NGX_OK;
}


/* a PCK certificate set, or one PCK certificate as a client asked it */

static ngx_uint_t
ngx_http_thim_pccs_refresh_is_cert(ngx_str_t *key, ngx_uint_t family)
{
    static u_char  pckcert[] = "/pckcert";

    if (family == NGX_HTTP_THIM_KEY_PCK_SET) {
        return 1;
    }

    return ngx_strlcasestrn(key->data, key->data + key->len, pckcert,
                            sizeof(pckcert) - 2)
           != NULL;
}


/*
 * A PCK set is fetched again only with its platform's registration (the
 * sweep's refresh location reads the PPID or manifest there): NGX_OK
 * and its key in *need; NGX_DECLINED: the key needs nothing.
 */

static ngx_int_t
ngx_http_thim_pccs_refresh_need(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *need)
{
    ngx_str_t  digest;

    if (ngx_http_thim_key_family(key) != NGX_HTTP_THIM_KEY_PCK_SET) {
        return NGX_DECLINED;
    }

    digest.data = key->data + sizeof(NGX_HTTP_THIM_PCK_SET_TAG) - 1;
    digest.len = key->len - (sizeof(NGX_HTTP_THIM_PCK_SET_TAG) - 1);

    return ngx_http_thim_key(pool, NGX_HTTP_THIM_KEY_PCCS_REG, &digest, NULL,
                             need);
}


/* whether a picked key is one the request names */

static ngx_uint_t
ngx_http_thim_pccs_refresh_names(ngx_http_thim_pccs_due_t *due,
    ngx_str_t *key, ngx_str_t *value)
{
    u_char                  *p, *last, fmspc[NGX_HTTP_THIM_REFRESH_FMSPC_LEN];
    ngx_str_t               *h;
    ngx_http_thim_record_t   rec;

    static u_char  name[] = "fmspc=";

    if (due->fmspcs.nelts == 0) {
        return 1;
    }

    if (value->len) {
        h = NULL;

        if (ngx_http_thim_record_read(value->data, value->len, &rec)
            == NGX_OK)
        {
            h = ngx_http_thim_record_header(&rec, (u_char *) "SGX-FMSPC",
                                            sizeof("SGX-FMSPC") - 1);
        }

        if (h == NULL || h->len != NGX_HTTP_THIM_REFRESH_FMSPC_LEN) {
            return 0;
        }

        ngx_strlow(fmspc, h->data, NGX_HTTP_THIM_REFRESH_FMSPC_LEN);

        return ngx_http_thim_pccs_refresh_named(due, fmspc);
    }

    /* a TCB info of one of the FMSPCs: "...?fmspc=<12 hex>" in its key */
    last = key->data + key->len;
    p = ngx_strlcasestrn(key->data, last, name, sizeof(name) - 2);

    if (p == NULL || last - p < (ssize_t) (sizeof(name) - 1)
                                 + NGX_HTTP_THIM_REFRESH_FMSPC_LEN)
    {
        return 0;
    }

    p += sizeof(name) - 1;

    if (p + NGX_HTTP_THIM_REFRESH_FMSPC_LEN < last
        && *(p + NGX_HTTP_THIM_REFRESH_FMSPC_LEN) != '&')
    {
        return 0;
    }

    ngx_strlow(fmspc, p, NGX_HTTP_THIM_REFRESH_FMSPC_LEN);

    return ngx_http_thim_pccs_refresh_named(due, fmspc);
}


static ngx_uint_t
ngx_http_thim_pccs_refresh_named(ngx_http_thim_pccs_due_t *due,
    u_char *fmspc)
{
    ngx_str_t   *f;
    ngx_uint_t   i;

    f = due->fmspcs.elts;

    for (i = 0; i < due->fmspcs.nelts; i++) {
        if (ngx_memcmp(f[i].data, fmspc, NGX_HTTP_THIM_REFRESH_FMSPC_LEN)
            == 0)
        {
            return 1;
        }
    }

    return 0;
}
