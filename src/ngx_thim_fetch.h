
/*
 * ngx_thim: answering a validated request from the cache, fetching from
 * the origin through an in-memory subrequest when needed.
 */


#ifndef _NGX_THIM_FETCH_H_INCLUDED_
#define _NGX_THIM_FETCH_H_INCLUDED_


#include "ngx_thim.h"
#include "ngx_thim_cache.h"


/* how often a request waiting on another request's fetch looks again */
#define NGX_HTTP_THIM_POLL_INTERVAL    20


/* what an answer made of several records keeps of them */
typedef struct {
    time_t                     expires;        /* the earliest */
    ngx_uint_t                 cache_status;   /* the worst */
} ngx_http_thim_parts_t;


ngx_http_thim_ctx_t *ngx_http_thim_ctx_create(ngx_http_request_t *r);
ngx_int_t ngx_http_thim_begin(ngx_http_request_t *r,
    ngx_http_thim_ctx_t **ctx);
ngx_int_t ngx_http_thim_serve(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
void ngx_http_thim_ctx_next_key(ngx_http_thim_ctx_t *ctx);
void ngx_http_thim_parts_add(ngx_http_thim_parts_t *parts,
    ngx_http_thim_ctx_t *ctx);
ngx_int_t ngx_http_thim_derived_lookup(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *key);
ngx_int_t ngx_http_thim_fetch_init_filter(ngx_conf_t *cf);
ngx_int_t ngx_http_thim_fetch_detached(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t lease);

/* ngx_thim_detach.c */
ngx_int_t ngx_http_thim_detach_refresh(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t lease);
void ngx_http_thim_make_record(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    ngx_http_thim_record_t *rec);
char *ngx_http_thim_past_grace(ngx_http_thim_ctx_t *ctx, time_t next_update);
void ngx_http_thim_lifetime(ngx_http_thim_ctx_t *ctx, time_t fetched,
    time_t ttl, ngx_uint_t negative, ngx_http_thim_store_t *st);
ngx_table_elt_t *ngx_http_thim_origin_header(ngx_http_request_t *sr,
    ngx_str_t *name);
void ngx_http_thim_derived_keep(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *key, ngx_http_thim_record_t *rec,
    time_t expires);


#endif /* _NGX_THIM_FETCH_H_INCLUDED_ */
