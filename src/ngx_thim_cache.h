
/*
 * ngx_thim: the shared-memory collateral cache.
 *
 * One zone holds an rbtree of entries keyed by the canonical cache key,
 * an LRU queue, and per-entry fetch state.  The fetch state is a lease
 * (owner pid + deadline) that makes a cache miss, in any worker, cause a
 * single origin fetch: the request that takes the lease fetches, every
 * other request waits for the fetch generation (seq) to move on.
 */


#ifndef _NGX_THIM_CACHE_H_INCLUDED_
#define _NGX_THIM_CACHE_H_INCLUDED_


#include "ngx_thim.h"


/* what ngx_http_thim_cache_lookup() and _poll() found */
typedef enum {
    NGX_HTTP_THIM_FOUND_FRESH = 0,   /* fresh record copied */
    NGX_HTTP_THIM_FOUND_STALE,       /* stale record copied; fetch elsewhere */
    NGX_HTTP_THIM_FOUND_REFRESH,     /* stale record copied; we own a fetch */
    NGX_HTTP_THIM_FOUND_MISS,        /* no record; we own a fetch */
    NGX_HTTP_THIM_FOUND_WAIT,        /* no record; a fetch runs elsewhere */
    NGX_HTTP_THIM_FOUND_FAILED       /* no record; the awaited fetch failed */
} ngx_http_thim_found_e;


typedef struct {
    ngx_http_thim_found_e      found;
    u_char                    *value;          /* copy in the request pool */
    size_t                     value_len;
    time_t                     expires;
    ngx_uint_t                 seq;            /* fetch generation seen */
    ngx_uint_t                 fail_status;    /* with FAILED */
} ngx_http_thim_lookup_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                lru;

    ngx_uint_t                 entries;
    size_t                     value_bytes;

    /* updated without the lock, as stub_status does */
    ngx_atomic_t               hits;
    ngx_atomic_t               misses;
    ngx_atomic_t               stale;
    ngx_atomic_t               waits;
    ngx_atomic_t               fetches;
    ngx_atomic_t               fetch_errors;
    ngx_atomic_t               evictions;
} ngx_http_thim_shctx_t;


typedef struct {
    ngx_http_thim_shctx_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_str_t                  name;
} ngx_http_thim_zone_t;


ngx_int_t ngx_http_thim_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data);

ngx_int_t ngx_http_thim_cache_lookup(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_pool_t *pool, ngx_http_thim_lookup_t *lk);
ngx_int_t ngx_http_thim_cache_poll(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_pool_t *pool, ngx_http_thim_lookup_t *lk);
ngx_int_t ngx_http_thim_cache_store(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    u_char *value, size_t len, time_t expires, ngx_log_t *log);
void ngx_http_thim_cache_fail(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t status);
void ngx_http_thim_cache_release(ngx_shm_zone_t *shm_zone, ngx_str_t *key);


#endif /* _NGX_THIM_CACHE_H_INCLUDED_ */
