
/*
 * ngx_thim: the cache key and origin URI of a route's request, one
 * builder for every route table (ngx_thim_key.c).
 */


#ifndef _NGX_THIM_KEY_H_INCLUDED_
#define _NGX_THIM_KEY_H_INCLUDED_


#include "ngx_thim.h"


/* key families: the first NGX_HTTP_THIM_ORIGINS are the origins' own */
#define NGX_HTTP_THIM_KEY_INTEL        NGX_HTTP_THIM_ORIGIN_INTEL
#define NGX_HTTP_THIM_KEY_INTEL_ROOT   NGX_HTTP_THIM_ORIGIN_INTEL_ROOT
#define NGX_HTTP_THIM_KEY_AMD          NGX_HTTP_THIM_ORIGIN_AMD
#define NGX_HTTP_THIM_KEY_PCK_SET      NGX_HTTP_THIM_ORIGINS
#define NGX_HTTP_THIM_KEY_PCK_TCB      (NGX_HTTP_THIM_ORIGINS + 1)
#define NGX_HTTP_THIM_KEY_PCCS_REG     (NGX_HTTP_THIM_ORIGINS + 2)
#define NGX_HTTP_THIM_KEY_POLICY       (NGX_HTTP_THIM_ORIGINS + 3)
#define NGX_HTTP_THIM_KEY_NONE         ((ngx_uint_t) -1)

#define NGX_HTTP_THIM_PCCS_REG_TAG     "intel-reg:"
#define NGX_HTTP_THIM_POLICY_TAG       "intel-policy:"


ngx_int_t ngx_http_thim_key(ngx_pool_t *pool, ngx_uint_t family,
    ngx_str_t *path, ngx_str_t *query, ngx_str_t *key);
ngx_int_t ngx_http_thim_origin_uri(ngx_pool_t *pool,
    ngx_http_thim_loc_conf_t *conf, ngx_uint_t family, ngx_str_t *path,
    ngx_str_t *uri);
ngx_int_t ngx_http_thim_set_fetch(ngx_http_thim_ctx_t *ctx,
    const ngx_http_thim_route_t *route, ngx_str_t *path, ngx_str_t *query);
ngx_uint_t ngx_http_thim_key_family(ngx_str_t *key);
ngx_int_t ngx_http_thim_key_split(ngx_str_t *key, ngx_uint_t *origin,
    ngx_str_t *path, ngx_str_t *query);


#endif /* _NGX_THIM_KEY_H_INCLUDED_ */
