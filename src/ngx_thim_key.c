
/*
 * ngx_thim: the cache key and the origin URI of a route's request.
 *
 * Every route table (ngx_thim_intel.c, ngx_thim_amd.c, ngx_thim_pckcert.c)
 * names, through its route's origin, a row of the table below: the tag
 * its keys start with and the location its fetches go to.  The canonical
 * key is "<tag><origin path>[?<canonical query>]" and the origin URI
 * "<origin location prefix><origin path>", built here only: snapshots,
 * bundles and thim_refresh read keys back with ngx_http_thim_key_split(),
 * so a new route is a row of its table and nothing else.
 */


#include "ngx_thim_key.h"


typedef struct {
    ngx_str_t                  tag;
    ngx_uint_t                 origin;          /* NGX_HTTP_THIM_ORIGIN_* */
    size_t                     location;        /* its prefix in the loc
                                                   conf */
    ngx_uint_t                 derived;         /* made from other records,
                                                   never fetched nor read
                                                   back */
} ngx_http_thim_key_family_t;


/* indexed by NGX_HTTP_THIM_KEY_* */
static ngx_http_thim_key_family_t  ngx_http_thim_key_families[] = {
    { ngx_string("intel:"), NGX_HTTP_THIM_ORIGIN_INTEL,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin), 0 },
    { ngx_string("intel-root:"), NGX_HTTP_THIM_ORIGIN_INTEL_ROOT,
      offsetof(ngx_http_thim_loc_conf_t, intel_root_origin), 0 },
    { ngx_string("amd:"), NGX_HTTP_THIM_ORIGIN_AMD,
      offsetof(ngx_http_thim_loc_conf_t, amd_origin), 0 },

    /* a PCK certificate set: its "path" is a digest of its platform */
    { ngx_string(NGX_HTTP_THIM_PCK_SET_TAG), NGX_HTTP_THIM_ORIGIN_INTEL,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin), 0 },

    /*
     * a PCK certificate chosen for a raw TCB: its "path" is
     * "<platform digest>:<TCB info policy>:<cpusvn><pcesvn>"
     */
    { ngx_string(NGX_HTTP_THIM_PCK_TCB_TAG), NGX_HTTP_THIM_ORIGIN_INTEL,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin), 1 },

    /*
     * a platform registered as PCCS registers it (ngx_thim_pccs_reg.c):
     * its "path" is the digest of its PCK set's key; never fetched, read
     * back through its own check
     */
    { ngx_string(NGX_HTTP_THIM_PCCS_REG_TAG), NGX_HTTP_THIM_ORIGIN_INTEL,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin), 0 },

    /* an appraisal policy uploaded by the admin (ngx_thim_policy.c):
       "<FMSPC>:<type>", never fetched */
    { ngx_string(NGX_HTTP_THIM_POLICY_TAG), NGX_HTTP_THIM_ORIGIN_INTEL,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin), 0 },

    { ngx_null_string, 0, 0, 0 }
};


/* "<tag><path>[?<query>]", in the pool: the canonical cache key */

ngx_int_t
ngx_http_thim_key(ngx_pool_t *pool, ngx_uint_t family, ngx_str_t *path,
    ngx_str_t *query, ngx_str_t *key)
{
    u_char     *p;
    size_t      qlen;
    ngx_str_t  *tag;

    tag = &ngx_http_thim_key_families[family].tag;
    qlen = (query && query->len) ? 1 + query->len : 0;

    key->len = tag->len + path->len + qlen;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, tag->data, tag->len);
    p = ngx_cpymem(p, path->data, path->len);

    if (qlen) {
        *p++ = '?';
        ngx_memcpy(p, query->data, query->len);
    }

    return NGX_OK;
}


/* "<the family's origin location prefix><path>", in the pool */

ngx_int_t
ngx_http_thim_origin_uri(ngx_pool_t *pool, ngx_http_thim_loc_conf_t *conf,
    ngx_uint_t family, ngx_str_t *path, ngx_str_t *uri)
{
    u_char     *p;
    ngx_str_t  *prefix;

    prefix = (ngx_str_t *) ((u_char *) conf
                            + ngx_http_thim_key_families[family].location);

    uri->len = prefix->len + path->len;
    uri->data = ngx_pnalloc(pool, uri->len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri->data, prefix->data, prefix->len);
    ngx_memcpy(p, path->data, path->len);

    return NGX_OK;
}


/*
 * ctx as a fetch of the route's path and canonical query needs it: the
 * route, the key of the route's origin family, the origin URI with the
 * configuration ctx carries, and the query the origin is asked with.
 */

ngx_int_t
ngx_http_thim_set_fetch(ngx_http_thim_ctx_t *ctx,
    const ngx_http_thim_route_t *route, ngx_str_t *path, ngx_str_t *query)
{
    ctx->route = route;

    if (ngx_http_thim_key(ctx->pool, route->origin, path, query, &ctx->key)
        != NGX_OK
        || ngx_http_thim_origin_uri(ctx->pool, ctx->conf, route->origin,
                                    path, &ctx->origin_uri)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->origin_args = *query;

    return NGX_OK;
}


/*
 * The way back: "intel:/sgx/...?q" -> its origin, path and query (of a
 * PCK set's key, the path is the digest).  NGX_DECLINED: no family's, or
 * a derived answer's, which is made again from its sources, never read
 * back or refreshed.
 */

ngx_uint_t
ngx_http_thim_key_family(ngx_str_t *key)
{
    ngx_uint_t                   i;
    ngx_http_thim_key_family_t  *f;

    for (i = 0; ngx_http_thim_key_families[i].tag.len; i++) {
        f = &ngx_http_thim_key_families[i];

        if (key->len > f->tag.len
            && ngx_strncmp(key->data, f->tag.data, f->tag.len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_THIM_KEY_NONE;
}


ngx_int_t
ngx_http_thim_key_split(ngx_str_t *key, ngx_uint_t *origin, ngx_str_t *path,
    ngx_str_t *query)
{
    u_char                      *q, *last;
    ngx_http_thim_key_family_t  *f;

    for (f = ngx_http_thim_key_families; f->tag.len; f++) {
        if (!f->derived
            && key->len > f->tag.len
            && ngx_strncmp(key->data, f->tag.data, f->tag.len) == 0)
        {
            break;
        }
    }

    if (f->tag.len == 0) {
        return NGX_DECLINED;
    }

    *origin = f->origin;

    path->data = key->data + f->tag.len;
    last = key->data + key->len;

    q = ngx_strlchr(path->data, last, '?');

    if (q == NULL) {
        path->len = last - path->data;
        ngx_str_null(query);

    } else {
        path->len = q - path->data;
        query->data = q + 1;
        query->len = last - query->data;
    }

    return NGX_OK;
}
