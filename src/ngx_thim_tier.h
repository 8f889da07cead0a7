
/*
 * ngx_thim: tiers (ngx_thim_tier.c): an edge ngx_thim whose origin is a
 * regional ngx_thim, a mirror or a PCCS, and the $thim_key variable that
 * spreads keys over a pool of them.
 */


#ifndef _NGX_THIM_TIER_H_INCLUDED_
#define _NGX_THIM_TIER_H_INCLUDED_


#include "ngx_thim.h"
#include "ngx_thim_cache.h"


ngx_int_t ngx_http_thim_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
void ngx_http_thim_tier_read(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx);
ngx_int_t ngx_http_thim_tier_held(ngx_http_thim_ctx_t *ctx, ngx_str_t *body);
void ngx_http_thim_tier_bound(ngx_http_thim_ctx_t *ctx, time_t fetched,
    ngx_http_thim_store_t *st);
ngx_int_t ngx_http_thim_tier_unhex(ngx_pool_t *pool, ngx_str_t *body);


#endif /* _NGX_THIM_TIER_H_INCLUDED_ */
