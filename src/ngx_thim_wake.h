
/*
 * ngx_thim: waking the requests that wait on a fetch when it lands.
 *
 * Every worker has a datagram socket of its own (Linux's abstract
 * namespace, named by its pid and a random nonce) and a row in each
 * zone's table of workers.  A request that waits on a fetch owned
 * elsewhere sets its worker's bit on the entry (under the zone's lock,
 * in ngx_http_thim_cache_lookup() and _poll()) and joins its worker's
 * table of waiters by key.  Whoever ends the fetch (stored, refused,
 * failed, lease given back) takes the entry's bits under the same lock;
 * once the lock is released, each worker named is told the key's hash,
 * once, in one datagram per worker and event-loop pass, and its own
 * worker's waiters are woken directly.  A woken worker wakes the waiters
 * of that key only.  The per-request poll stays, slow, for what nothing
 * signals: an owner that died (its lease runs out).
 */


#ifndef _NGX_THIM_WAKE_H_INCLUDED_
#define _NGX_THIM_WAKE_H_INCLUDED_


#include "ngx_thim.h"


/* rows of a zone's table of workers: one bit of an entry's mask each */
#define NGX_HTTP_THIM_WAKE_ROWS        64

/* how often a woken-on-landing waiter still looks (a dead owner) */
#define NGX_HTTP_THIM_WAKE_FALLBACK    1000


typedef struct {
    ngx_atomic_t               pid;            /* 0: free */
    ngx_atomic_t               nonce;          /* of its socket's name */
    ngx_atomic_t               overflow;       /* a datagram to it was
                                                  lost: wake them all */
} ngx_http_thim_wake_row_t;


typedef struct {
    ngx_http_thim_wake_row_t   rows[NGX_HTTP_THIM_WAKE_ROWS];
} ngx_http_thim_wake_table_t;


ngx_int_t ngx_http_thim_wake_init_process(ngx_cycle_t *cycle);
void ngx_http_thim_wake_exit_process(ngx_cycle_t *cycle);

/* under the zone's lock: the fetch of the entry "hash" ended */
void ngx_http_thim_wake_landed(ngx_slab_pool_t *shpool,
    ngx_http_thim_wake_table_t *table, uint64_t own, uint32_t hash,
    uint64_t mask);

/* outside the lock: the landings noted so far are told now */
void ngx_http_thim_wake_now(void);

/* the request joins (NGX_OK) or leaves its worker's waiters of a hash */
ngx_int_t ngx_http_thim_wake_wait(ngx_http_thim_ctx_t *ctx, uint32_t hash);
void ngx_http_thim_wake_cancel(ngx_http_thim_ctx_t *ctx);


#endif /* _NGX_THIM_WAKE_H_INCLUDED_ */
