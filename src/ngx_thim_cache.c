
/*
 * ngx_thim: the shared-memory collateral cache (see ngx_thim_cache.h).
 *
 * Locking: one ngx_shmtx_lock() per operation, held only for tree work.
 * A request sends its record straight from the zone and pins it for as
 * long as it does (a count taken under the lookup's lock and given back
 * with an atomic add, without it): a record replaced or evicted meanwhile
 * is only detached, and freed by its last unpin.  So the lock is never
 * held for a copy, a hit takes it once, and hits in different workers
 * barely meet on it.  A worker killed while sending leaves its pins
 * behind: the records they hold stay allocated (bounded by the requests
 * it had in flight) until the zone is next created.
 *
 * Eviction: stale collateral is still valuable (it is served while the
 * origin is down), so nothing real is dropped because it is old; entries
 * are evicted only when an allocation fails, by class (see
 * NGX_HTTP_THIM_CLASS_*: empty, negative and derived entries before real
 * collateral, a stale real record last), least recently used first within
 * a class.  Each class is a queue, so an eviction looks at the tail of
 * the first non-empty one, not at the whole zone: a flood of cold keys
 * (each a new entry, then a negative one) churns its own classes and
 * never reaches the collateral that was there before it.  An expired
 * negative record is freed when a new entry is made, so they do not pile
 * up.  An entry whose fetch is under way is never evicted.
 *
 * Derived answers are grouped under the records they come from (a PCK
 * certificate under its platform's set, Azure's AMD answers under their
 * VCEK and chain): at most so many per group, the oldest dropped
 * (ngx_http_thim_cache_group(), _depend()), and dropped with their
 * source when it is replaced or goes (ngx_http_thim_cache_invalidate()).
 *
 * Lookups go through a hash table (buckets sized by the zone), and a hit
 * only marks its entry used: eviction is CLOCK over each class's queue
 * (ngx_http_thim_cache_use()).
 *
 * Back-off: a failed fetch (5xx, refused, timed out, a refused answer)
 * makes its key wait before the next one, from thim_fetch_backoff's
 * minimum doubling up to its maximum, with jitter so that keys that
 * failed together do not come back together.  Meanwhile an expired copy
 * is served STALE and a key with none gets the last failure at once:
 * however many clients ask, the origin sees one attempt per key per
 * step.  The bounds are the ones of the request that took the lease.
 */


#include "ngx_thim_cache.h"


typedef struct ngx_http_thim_node_s  ngx_http_thim_node_t;

struct ngx_http_thim_node_s {
    ngx_http_thim_node_t      *next;           /* in its hash bucket */
    uint32_t                   hash;           /* of the key */
    u_char                     used;           /* hit since it was queued */
    u_char                     lru;            /* the class it is queued in */
    u_char                     negative;       /* the record is a 404 */
    u_char                     derived;        /* see ngx_http_thim_store_t */
    u_short                    key_len;
    u_char                     origin;         /* of the fetch slot */
    u_char                     slot;           /* its index + 1, 0: none */
    u_char                     backoff_step;   /* failures in a row */
    u_char                     cold;           /* the lease's fetch is of
                                                  a cold key (budget) */
    u_char                     dirty;          /* in the dirty queue */
    u_char                     written;        /* in a snapshot file */
    u_char                     unswept;        /* the refresh location
                                                  declined the key: left
                                                  to clients' requests
                                                  until a new record */
    ngx_queue_t                queue;          /* in its class's LRU */
    ngx_queue_t                group;          /* a derived entry: in its
                                                  source's group; any
                                                  other: the group's head */
    ngx_queue_t                group2;         /* the same, for a derived
                                                  entry's second source */
    ngx_http_thim_value_t     *value;          /* NULL until a fetch works */
    time_t                     fetched;
    time_t                     refresh_at;
    time_t                     expires;
    time_t                     next_update;    /* the collateral's, or 0 */
    ngx_uint_t                 seq;            /* bumped by every fetch end */
    ngx_uint_t                 fail_status;    /* of the last failed fetch */
    ngx_uint_t                 fail_why;       /* and its refusal, or 0 */
    size_t                     fail_size;
    ngx_pid_t                  fetch_owner;
    ngx_uint_t                 fetch_lease;    /* the fetch's token */
    ngx_msec_t                 fetch_deadline; /* ngx_current_msec */
    ngx_msec_t                 backoff_min;    /* of the last lease */
    ngx_msec_t                 backoff_max;
    ngx_msec_t                 backoff_until;  /* ngx_current_msec, 0: none */
    uint64_t                   waiters;        /* workers whose requests
                                                  wait on its fetch */
    ngx_queue_t                dirty_link;     /* changed, not yet written */
    ngx_uint_t                 changed;        /* sh->gen of the change */
    u_char                     key[1];
};


/* buckets of the hash table: about one per KB of zone */
#define NGX_HTTP_THIM_BUCKET_BYTES     1024
#define NGX_HTTP_THIM_MIN_BUCKETS      256


static void ngx_http_thim_cache_huge_pages(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_thim_cache_buckets(ngx_http_thim_zone_t *ctx,
    size_t size);
static void ngx_http_thim_cache_use(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static ngx_http_thim_node_t *ngx_http_thim_cache_lock_find(
    ngx_shm_zone_t *shm_zone, ngx_str_t *key, uint32_t *hash);
static ngx_http_thim_node_t *ngx_http_thim_cache_find(
    ngx_http_thim_zone_t *ctx, ngx_str_t *key, uint32_t hash);
static ngx_http_thim_node_t *ngx_http_thim_cache_create(
    ngx_http_thim_zone_t *ctx, ngx_str_t *key, uint32_t hash);
static void *ngx_http_thim_cache_alloc(ngx_http_thim_zone_t *ctx, size_t size,
    ngx_http_thim_node_t *keep);
static ngx_int_t ngx_http_thim_cache_evict_one(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *keep);
static ngx_int_t ngx_http_thim_cache_evict_class(ngx_http_thim_zone_t *ctx,
    ngx_uint_t class, ngx_http_thim_node_t *keep, ngx_msec_t now);
static void ngx_http_thim_cache_age_out(ngx_http_thim_zone_t *ctx);
static void ngx_http_thim_cache_touch(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static ngx_uint_t ngx_http_thim_cache_class(ngx_http_thim_node_t *tn);
static ngx_uint_t ngx_http_thim_cache_leased(ngx_http_thim_node_t *tn,
    ngx_msec_t now);
static void ngx_http_thim_cache_free_node(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static void ngx_http_thim_cache_pin(ngx_http_thim_node_t *tn,
    ngx_http_thim_lookup_t *lk);
static void ngx_http_thim_cache_detach(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static ngx_int_t ngx_http_thim_cache_try_lease(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_msec_t lease, ngx_http_thim_lookup_t *lk);
static time_t ngx_http_thim_cache_holdoff_left(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_lookup_t *lk);
static time_t ngx_http_thim_cache_budget(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_lookup_t *lk, ngx_uint_t cold, ngx_msec_t now);
static ngx_http_thim_found_e ngx_http_thim_cache_declined(
    ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk);
static void ngx_http_thim_cache_back_off(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static void ngx_http_thim_cache_recovered(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static time_t ngx_http_thim_cache_backoff_left(ngx_http_thim_node_t *tn,
    ngx_msec_t now);
static ngx_int_t ngx_http_thim_cache_take_slot(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk, ngx_msec_t now,
    ngx_msec_t lease);
static ngx_int_t ngx_http_thim_cache_end_lease(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_uint_t lease);
static void ngx_http_thim_cache_slot_freed(ngx_http_thim_zone_t *ctx,
    ngx_uint_t origin);
static ngx_http_thim_value_t *ngx_http_thim_cache_usable(
    ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk);
static void ngx_http_thim_cache_trim(ngx_http_thim_zone_t *ctx,
    ngx_queue_t *head, ngx_uint_t max);
static ngx_int_t ngx_http_thim_cache_source(ngx_http_thim_zone_t *ctx,
    ngx_str_t *key, ngx_str_t *body, ngx_http_thim_node_t **source);
static void ngx_http_thim_cache_invalidate(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static void ngx_http_thim_cache_forget(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *dn);
static void ngx_http_thim_cache_waits(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk);
static void ngx_http_thim_cache_landed(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn);
static void ngx_http_thim_cache_view(ngx_http_thim_node_t *tn,
    ngx_http_thim_entry_t *e);
static ngx_http_thim_node_t *ngx_http_thim_cache_after(
    ngx_http_thim_zone_t *ctx, ngx_uint_t *b, ngx_str_t *key, uint32_t hash);
static ngx_int_t ngx_http_thim_cache_order(ngx_http_thim_node_t *tn,
    ngx_str_t *key, uint32_t hash);
static void ngx_http_thim_cache_changed(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_http_thim_store_t *st);
static void ngx_http_thim_cache_entry(ngx_http_thim_node_t *tn,
    ngx_http_thim_entry_t *e, u_char *key, ngx_http_thim_value_t **pin);


ngx_int_t
ngx_http_thim_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_thim_zone_t  *octx = data;

    size_t                 len;
    ngx_uint_t             i;
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* reload with an unchanged zone: keep everything */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ngx_http_thim_cache_huge_pages(shm_zone);

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_thim_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ctx->sh, sizeof(ngx_http_thim_shctx_t));

    ctx->shpool->data = ctx->sh;

    if (ngx_http_thim_cache_buckets(ctx, shm_zone->shm.size) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_THIM_CLASSES; i++) {
        ngx_queue_init(&ctx->sh->lru[i]);
    }

    ngx_queue_init(&ctx->sh->dirty);

    len = sizeof(" in thim zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in thim zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled by eviction, not reported as a crit */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * A zone of 100,000 records maps gigabytes, and with 4 KB pages each
 * worker's page tables for it run to megabytes: every lookup walks them
 * (TLB misses along the hash chain), and under a hypervisor that shadows
 * page tables a worker woken after another process ran pays for them
 * again (a waiter answered milliseconds late; docs/performance.md).
 * Transparent huge pages for the zone cut both by 512.  The mapping is
 * the master's, inherited by every worker, so advising it once here is
 * enough; whether the kernel then uses huge pages for shared memory is
 * its policy (/sys/kernel/mm/transparent_hugepage/shmem_enabled:
 * "advise" or "within_size"), which the operator sets
 * (docs/directives.md).  A kernel without it changes nothing.
 */

static void
ngx_http_thim_cache_huge_pages(ngx_shm_zone_t *shm_zone)
{
#if (NGX_LINUX && defined MADV_HUGEPAGE)

    if (madvise(shm_zone->shm.addr, shm_zone->shm.size, MADV_HUGEPAGE) != 0) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, ngx_errno,
                      "thim zone \"%V\": madvise(MADV_HUGEPAGE) failed, "
                      "the zone uses the kernel's default pages",
                      &shm_zone->shm.name);
    }

#endif
}


/*
 * The request path's entry point.  Pins the record when there is one,
 * and takes the fetch lease when the entry needs fetching and nobody
 * holds a live lease.  A zone too full even for the entry's key yields
 * MISS without a lease, and the caller then fetches uncached.
 */

void
ngx_http_thim_cache_lookup(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_http_thim_lookup_t *lk)
{
    time_t                 now;
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    lk->refresh = 0;
    lk->updating = 0;
    lk->slot_wait = 0;
    lk->backoff = 0;
    lk->budget = 0;
    lk->seq = 0;
    lk->lease = 0;
    lk->pin = NULL;

    if (tn == NULL) {
        tn = ngx_http_thim_cache_create(ctx, key, hash);

        if (tn == NULL) {
            /* no room even for the key: fetch for this client, uncached */
            lk->retry_after = ngx_http_thim_cache_holdoff_left(ctx, lk);

            if (lk->retry_after == 0) {
                lk->retry_after = ngx_http_thim_cache_budget(ctx, lk, 1,
                                                      ngx_current_msec);
            }

            lk->found = lk->retry_after ? NGX_HTTP_THIM_FOUND_HELD_OFF
                                        : NGX_HTTP_THIM_FOUND_MISS;

            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return;
        }
    }

    ngx_http_thim_cache_use(ctx, tn);

    lk->seq = tn->seq;

    if (ngx_http_thim_cache_usable(tn, lk)) {
        ngx_http_thim_cache_pin(tn, lk);

        now = ngx_time();

        if (tn->expires > now) {
            lk->found = NGX_HTTP_THIM_FOUND_FRESH;

            /* refresh ahead of expiry: still a hit for this client */
            if (tn->refresh_at <= now
                && ngx_http_thim_cache_try_lease(ctx, tn, lease, lk) == NGX_OK)
            {
                lk->refresh = 1;
            }

        } else if (ngx_http_thim_cache_try_lease(ctx, tn, lease, lk) == NGX_OK)
        {
            lk->found = NGX_HTTP_THIM_FOUND_REFRESH;

        } else {
            lk->found = NGX_HTTP_THIM_FOUND_STALE;
        }

    } else if (ngx_http_thim_cache_try_lease(ctx, tn, lease, lk) == NGX_OK) {
        lk->found = NGX_HTTP_THIM_FOUND_MISS;

    } else {
        lk->found = ngx_http_thim_cache_declined(tn, lk);
        ngx_http_thim_cache_waits(ctx, tn, lk);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * For a request waiting on a fetch that another request owns.  lk->seq
 * is the generation the waiter saw; once it moved on, the fetch ended and
 * its outcome (the record, or the failure status) is the waiter's answer.
 * A lease that ran out without the fetch ending (its worker died) is
 * taken over.
 */

void
ngx_http_thim_cache_poll(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_http_thim_lookup_t *lk)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    lk->refresh = 0;
    lk->updating = 0;
    lk->slot_wait = 0;
    lk->backoff = 0;
    lk->budget = 0;
    lk->retry_after = 0;
    lk->lease = 0;
    lk->pin = NULL;

    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    if (tn == NULL) {
        /* evicted meanwhile: start over as a plain lookup */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        ngx_http_thim_cache_lookup(shm_zone, key, lease, lk);
        return;
    }

    if (tn->seq != lk->seq) {

        if (ngx_http_thim_cache_usable(tn, lk)) {
            ngx_http_thim_cache_pin(tn, lk);
            lk->found = (tn->expires > ngx_time())
                        ? NGX_HTTP_THIM_FOUND_FRESH
                        : NGX_HTTP_THIM_FOUND_STALE;

        } else {
            lk->found = NGX_HTTP_THIM_FOUND_FAILED;
            lk->fail_status = tn->fail_status;
            lk->fail_why = tn->fail_why;
            lk->fail_size = tn->fail_size;
            lk->retry_after = ngx_max(
                ngx_http_thim_cache_holdoff_left(ctx, lk),
                ngx_http_thim_cache_backoff_left(tn, ngx_current_msec));
        }

    } else if (ngx_http_thim_cache_try_lease(ctx, tn, lease, lk) == NGX_OK) {

        if (ngx_http_thim_cache_usable(tn, lk)) {
            lk->found = NGX_HTTP_THIM_FOUND_REFRESH;
            ngx_http_thim_cache_pin(tn, lk);

        } else {
            lk->found = NGX_HTTP_THIM_FOUND_MISS;
        }

    } else {
        lk->found = ngx_http_thim_cache_declined(tn, lk);
        ngx_http_thim_cache_waits(ctx, tn, lk);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* the request that sent the record ended */

void
ngx_http_thim_cache_unpin(ngx_shm_zone_t *shm_zone,
    ngx_http_thim_value_t *pin)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;

    /* a hit takes the lock once, for its lookup */
    if (ngx_atomic_fetch_add(&pin->state,
                             -(ngx_atomic_int_t) NGX_HTTP_THIM_VALUE_PIN)
        != NGX_HTTP_THIM_VALUE_PIN + NGX_HTTP_THIM_VALUE_RETIRED)
    {
        return;
    }

    /* the last pin of a record that was retired meanwhile */
    ngx_shmtx_lock(&ctx->shpool->mutex);
    ngx_slab_free_locked(ctx->shpool, pin);
    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * A fetch worked: replace the record, end the lease, wake the waiters
 * (they see seq move).  The old record is freed only after the new one
 * is in place, so a failed allocation leaves the old copy served.  A
 * negative record (the origin's 404) never replaces a real one: an
 * origin that forgets collateral for a while (KDS has done so for a day)
 * must not take it from the clients; NGX_DECLINED says so.
 */

ngx_int_t
ngx_http_thim_cache_store(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_store_t *st, ngx_log_t *log)
{
    uint32_t               hash;
    ngx_http_thim_value_t *v;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    if (tn == NULL) {
        tn = ngx_http_thim_cache_create(ctx, key, hash);
    }

    if (tn && st->import && tn->value && !tn->negative
        && tn->fetched > st->fetched)
    {
        /* fetched later (meanwhile, during a background load): kept */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    if (tn && st->negative && tn->value && !tn->negative) {
        if (ngx_http_thim_cache_end_lease(ctx, tn, st->lease) == NGX_OK) {
            tn->fail_status = NGX_HTTP_NOT_FOUND;
            tn->fail_why = 0;
            tn->seq++;
            ngx_http_thim_cache_landed(ctx, tn);
        }

        /* the copy kept is served: ask again only after a pause */
        ngx_http_thim_cache_back_off(ctx, tn);

        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    v = (tn == NULL)
        ? NULL
        : ngx_http_thim_cache_alloc(ctx,
                                    offsetof(ngx_http_thim_value_t, data)
                                    + st->len, tn);

    if (v == NULL) {
        if (tn && ngx_http_thim_cache_end_lease(ctx, tn, st->lease) == NGX_OK)
        {
            tn->seq++;
            tn->fail_status = NGX_HTTP_SERVICE_UNAVAILABLE;
            tn->fail_why = 0;
            ngx_http_thim_cache_landed(ctx, tn);
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "thim zone \"%V\" cannot hold %uz bytes for \"%V\" "
                      "even after eviction; answer not cached",
                      &ctx->name, st->len, key);
        return NGX_ERROR;
    }

    v->state = 0;
    v->len = st->len;
    ngx_memcpy(v->data, st->value, st->len);

    ngx_http_thim_cache_detach(ctx, tn);

    if (!tn->derived) {
        /* answers made of the old record are made again */
        ngx_http_thim_cache_invalidate(ctx, tn);
    }

    tn->value = v;
    tn->negative = st->negative;
    tn->derived = st->derived;
    tn->fetched = st->import ? st->fetched : ngx_time();
    tn->refresh_at = st->refresh_at;
    tn->unswept = 0;
    tn->expires = st->expires;
    tn->next_update = st->next_update;
    tn->fail_status = 0;
    tn->fail_why = 0;

    if (ngx_http_thim_cache_end_lease(ctx, tn, st->lease) == NGX_OK
        && tn->cold)
    {
        /* what a cold key brought: a random-ID flood is all 404s */
        ngx_http_thim_budget_answer(&ctx->sh->budget[tn->origin],
                                    st->negative, ngx_current_msec);
    }
    ngx_http_thim_cache_recovered(ctx, tn);
    tn->seq++;
    ngx_http_thim_cache_landed(ctx, tn);

    ngx_http_thim_cache_changed(ctx, tn, st);

    /* its class may have changed: an empty entry now has a record */
    ngx_http_thim_cache_touch(ctx, tn);

    ctx->sh->value_bytes += st->len;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* a fetch failed: end the lease, keep any record, tell the waiters why */

void
ngx_http_thim_cache_fail(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_uint_t status)
{
    ngx_http_thim_cache_fail_why(shm_zone, key, lease, status, 0, 0);
}


/*
 * The same, with the refusal the fetcher tells its client (why, an
 * NGX_HTTP_THIM_REFUSED_* of ngx_thim_fetch.c, and a size it names), so
 * that the waiters tell theirs the same.  The key then backs off, but
 * for a 404 or 410 of a key with no record: that answer is the origin's
 * last word on it (thim_cache_negative_valid decides how long it holds).
 */

void
ngx_http_thim_cache_fail_why(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_uint_t status, ngx_uint_t why, size_t size)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    /* a lease that is no longer ours: the key's state is another fetch's */
    if (tn && ngx_http_thim_cache_end_lease(ctx, tn, lease) == NGX_OK) {
        tn->fail_status = status;
        tn->fail_why = why;
        tn->fail_size = size;
        tn->seq++;
        ngx_http_thim_cache_landed(ctx, tn);

        if (tn->value
            || (status != NGX_HTTP_NOT_FOUND && status != 410))
        {
            ngx_http_thim_cache_back_off(ctx, tn);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * The fetcher went away without an outcome: free the lease if it is
 * still this fetch's, leaving seq alone, so a waiter takes the fetch over.
 */

void
ngx_http_thim_cache_release(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    /* a waiter takes the fetch over at once */
    if (tn && ngx_http_thim_cache_end_lease(ctx, tn, lease) == NGX_OK) {
        ngx_http_thim_cache_landed(ctx, tn);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * A fetch still under way keeps its lease (and its origin slot) for
 * another "lease" ms: one key never has two origin fetches at once, and
 * a bounded origin's slots are never given to a second fetch while the
 * first one runs.  NGX_DECLINED: the lease is no longer this fetch's.
 */

ngx_int_t
ngx_http_thim_cache_renew(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_msec_t ms)
{
    uint32_t               hash;
    ngx_int_t              rc;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    rc = NGX_DECLINED;

    if (tn && lease && tn->fetch_owner && tn->fetch_lease == lease) {
        tn->fetch_deadline = ngx_current_msec + ms;

        if (tn->slot
            && ctx->sh->slot_lease[tn->origin][tn->slot - 1] == lease)
        {
            ctx->sh->slots[tn->origin][tn->slot - 1] = tn->fetch_deadline;
        }

        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * An operator asked for the entry's refresh (PCCS's admin refresh,
 * ngx_thim_pccs_refresh.c): it is due now, and the refresh sweep or the
 * next request refreshes it as any entry past its refresh time.  "need",
 * if not NULL, is the record its refetch needs (a PCK set's
 * registration).  NGX_DECLINED: no such entry, one that is never fetched
 * again here, or one that cannot be.
 */

ngx_int_t
ngx_http_thim_cache_due(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *need, time_t now)
{
    uint32_t               hash;
    ngx_int_t              rc;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn, *nn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    nn = (need == NULL) ? tn
         : ngx_http_thim_cache_find(ctx, need,
                                    ngx_crc32_short(need->data, need->len));

    rc = NGX_DECLINED;

    if (tn && tn->value && !tn->negative && !tn->derived
        && tn->expires > now && nn && nn->value)
    {
        if (tn->refresh_at > now) {
            tn->refresh_at = now;
        }

        tn->unswept = 0;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * The refresh location could not serve the key (a PCK certificate set
 * whose platform nobody registered: only a client's request carries its
 * PPID).  The refresh sweep then leaves it to clients' requests until a
 * new record is stored or an operator asks for its refresh; otherwise a
 * set past its expiry would be picked by every sweep.
 */

void
ngx_http_thim_cache_unswept(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    if (tn) {
        tn->unswept = 1;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * The origin answered 429: nobody, in any worker, asks it again before
 * "until" (the later of two hold-offs wins).  "holdoff" is the origin,
 * or NGX_HTTP_THIM_HOLDOFF_INTEL_KEY for the routes that Intel limits by
 * API key.
 */

void
ngx_http_thim_cache_hold_off(ngx_shm_zone_t *shm_zone, ngx_uint_t holdoff,
    time_t until)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (ctx->sh->holdoff[holdoff] < until) {
        ctx->sh->holdoff[holdoff] = until;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * The derived entry "key" joins the group of the entry "group" it was
 * made from, as its newest member; the oldest members beyond "max" go.
 * So a client that knows one platform cannot fill the zone with answers
 * derived from its set (one per raw TCB it makes up).  Nothing happens
 * when either entry is gone: the answer is derived again next time.
 */

void
ngx_http_thim_cache_group(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *group, ngx_uint_t max)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn, *gn;

    ctx = shm_zone->data;

    gn = ngx_http_thim_cache_lock_find(shm_zone, group, &hash);

    hash = ngx_crc32_short(key->data, key->len);
    tn = ngx_http_thim_cache_find(ctx, key, hash);

    if (gn == NULL || tn == NULL || gn->derived || !tn->derived) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    ngx_queue_remove(&tn->group);
    ngx_queue_insert_head(&gn->group, &tn->group);

    ngx_http_thim_cache_trim(ctx, &gn->group, max);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * The derived entry "key", just stored, was made of the bodies body[0]
 * and body[1] of the entries src[0] and src[1]: it joins their groups
 * (at most "max" in the first, the oldest dropped), and goes with them
 * when either is replaced or goes (ngx_http_thim_cache_invalidate()).
 * A source whose record is no longer the one the answer was made of (it
 * was replaced meanwhile) or is gone: the answer is dropped at once,
 * NGX_DECLINED.
 */

ngx_int_t
ngx_http_thim_cache_depend(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *src, ngx_str_t *body, ngx_uint_t max)
{
    uint32_t               hash;
    ngx_int_t              rc;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn, *s0, *s1;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    rc = NGX_DECLINED;

    if (tn && tn->derived) {
        rc = ngx_http_thim_cache_source(ctx, &src[0], &body[0], &s0);

        if (rc == NGX_OK) {
            rc = ngx_http_thim_cache_source(ctx, &src[1], &body[1], &s1);
        }

        if (rc == NGX_OK) {
            ngx_queue_remove(&tn->group);
            ngx_queue_insert_head(&s0->group, &tn->group);
            ngx_queue_remove(&tn->group2);
            ngx_queue_insert_head(&s1->group2, &tn->group2);

            ngx_http_thim_cache_trim(ctx, &s0->group, max);

        } else {
            ngx_http_thim_cache_free_node(ctx, tn);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/* the oldest members of a group beyond "max" go */

static void
ngx_http_thim_cache_trim(ngx_http_thim_zone_t *ctx, ngx_queue_t *head,
    ngx_uint_t max)
{
    ngx_uint_t    n;
    ngx_queue_t  *q;

    n = 0;

    for (q = ngx_queue_head(head);
         q != ngx_queue_sentinel(head);
         q = ngx_queue_next(q))
    {
        n++;
    }

    while (n-- > max) {
        q = ngx_queue_last(head);
        ngx_http_thim_cache_free_node(ctx,
                              ngx_queue_data(q, ngx_http_thim_node_t, group));
        (void) ngx_atomic_fetch_add(&ctx->sh->evictions, 1);
    }
}


/* the entry "key" whose record's body is still exactly "body" */

static ngx_int_t
ngx_http_thim_cache_source(ngx_http_thim_zone_t *ctx, ngx_str_t *key,
    ngx_str_t *body, ngx_http_thim_node_t **source)
{
    ngx_http_thim_node_t    *tn;
    ngx_http_thim_record_t   rec;

    tn = ngx_http_thim_cache_find(ctx, key,
                                  ngx_crc32_short(key->data, key->len));

    if (tn == NULL || tn->value == NULL || tn->negative || tn->derived
        || ngx_http_thim_record_read(tn->value->data, tn->value->len, &rec)
           != NGX_OK
        || rec.body.len != body->len
        || ngx_memcmp(rec.body.data, body->data, body->len) != 0)
    {
        return NGX_DECLINED;
    }

    *source = tn;

    return NGX_OK;
}


/*
 * The record of tn changed, or tn goes: what was derived from it is
 * dropped (its record, now or when its last request ends) and leaves
 * the groups; the entries themselves are left for eviction, first in
 * line.  Not freed here: the caller may be storing into one of them.
 */

static void
ngx_http_thim_cache_invalidate(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&tn->group)) {
        q = ngx_queue_head(&tn->group);
        ngx_http_thim_cache_forget(ctx,
                              ngx_queue_data(q, ngx_http_thim_node_t, group));
    }

    while (!ngx_queue_empty(&tn->group2)) {
        q = ngx_queue_head(&tn->group2);
        ngx_http_thim_cache_forget(ctx,
                              ngx_queue_data(q, ngx_http_thim_node_t, group2));
    }
}


/* a derived answer no longer true: out of its groups, its record gone */

static void
ngx_http_thim_cache_forget(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *dn)
{
    ngx_queue_remove(&dn->group);
    ngx_queue_init(&dn->group);
    ngx_queue_remove(&dn->group2);
    ngx_queue_init(&dn->group2);

    ngx_http_thim_cache_detach(ctx, dn);
    dn->expires = 0;
}


/* every operation starts here: the key's hash, the lock, the entry */

static ngx_http_thim_node_t *
ngx_http_thim_cache_lock_find(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t *hash)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;
    *hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    return ngx_http_thim_cache_find(ctx, key, *hash);
}


/*
 * A hash table, not a tree: a lookup reads its bucket and the nodes of
 * that bucket (one, mostly), whatever the number of entries; a tree of
 * 100,000 entries is 17 levels of nodes scattered over the zone, each a
 * cache miss.  The hash is compared before the key.
 */

static ngx_int_t
ngx_http_thim_cache_buckets(ngx_http_thim_zone_t *ctx, size_t size)
{
    size_t  n;

    for (n = NGX_HTTP_THIM_MIN_BUCKETS;
         n < size / NGX_HTTP_THIM_BUCKET_BYTES;
         n *= 2)
    {
        /* void */
    }

    ctx->sh->buckets = ngx_slab_alloc(ctx->shpool,
                                      n * sizeof(ngx_http_thim_node_t *));
    if (ctx->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ctx->sh->buckets, n * sizeof(ngx_http_thim_node_t *));
    ctx->sh->bucket_mask = n - 1;

    return NGX_OK;
}


static ngx_http_thim_node_t *
ngx_http_thim_cache_find(ngx_http_thim_zone_t *ctx, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_thim_node_t  *tn;

    tn = ((ngx_http_thim_node_t **) ctx->sh->buckets)
             [hash & ctx->sh->bucket_mask];

    while (tn) {
        if (tn->hash == hash
            && tn->key_len == key->len
            && ngx_memcmp(tn->key, key->data, key->len) == 0)
        {
            return tn;
        }

        tn = tn->next;
    }

    return NULL;
}


static ngx_http_thim_node_t *
ngx_http_thim_cache_create(ngx_http_thim_zone_t *ctx, ngx_str_t *key,
    uint32_t hash)
{
    size_t                  size;
    ngx_http_thim_node_t   *tn, **bucket;

    size = offsetof(ngx_http_thim_node_t, key) + key->len;

    ngx_http_thim_cache_age_out(ctx);

    tn = ngx_http_thim_cache_alloc(ctx, size, NULL);
    if (tn == NULL) {
        return NULL;
    }

    ngx_memzero(tn, offsetof(ngx_http_thim_node_t, key));

    tn->hash = hash;
    tn->lru = NGX_HTTP_THIM_CLASS_EMPTY;
    tn->key_len = (u_short) key->len;
    ngx_memcpy(tn->key, key->data, key->len);

    bucket = (ngx_http_thim_node_t **) ctx->sh->buckets
             + (hash & ctx->sh->bucket_mask);
    tn->next = *bucket;
    *bucket = tn;

    ngx_queue_insert_head(&ctx->sh->lru[NGX_HTTP_THIM_CLASS_EMPTY],
                          &tn->queue);
    ngx_queue_init(&tn->group);
    ngx_queue_init(&tn->group2);
    ctx->sh->entries++;

    return tn;
}


/* slab allocation that evicts entries, by class, until it fits */

static void *
ngx_http_thim_cache_alloc(ngx_http_thim_zone_t *ctx, size_t size,
    ngx_http_thim_node_t *keep)
{
    void  *p;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(ctx->shpool, size);

        if (p != NULL) {
            return p;
        }

        if (ngx_http_thim_cache_evict_one(ctx, keep) != NGX_OK) {
            return NULL;
        }
    }
}


static ngx_int_t
ngx_http_thim_cache_evict_one(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *keep)
{
    ngx_uint_t  class;
    ngx_msec_t  now;

    now = ngx_current_msec;

    for (class = 0; class < NGX_HTTP_THIM_CLASSES; class++) {
        if (ngx_http_thim_cache_evict_class(ctx, class, keep, now) == NGX_OK) {
            (void) ngx_atomic_fetch_add(&ctx->sh->evictions, 1);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The least recently used entry of the class that may go.  Skipped are
 * only the entries being fetched (as many as fetches under way) and
 * "keep"; a fresh record found expired moves to the stale class instead
 * (once per expiry), so the walk stays short.
 */

static ngx_int_t
ngx_http_thim_cache_evict_class(ngx_http_thim_zone_t *ctx, ngx_uint_t class,
    ngx_http_thim_node_t *keep, ngx_msec_t now)
{
    ngx_queue_t           *q, *prev, *lru;
    ngx_http_thim_node_t  *tn;

    lru = &ctx->sh->lru[class];

    for (q = ngx_queue_last(lru); q != ngx_queue_sentinel(lru); q = prev) {
        prev = ngx_queue_prev(q);
        tn = ngx_queue_data(q, ngx_http_thim_node_t, queue);

        if (tn == keep || ngx_http_thim_cache_leased(tn, now)) {
            continue;
        }

        if (tn->used) {
            /* hit since it was queued: a second chance */
            tn->used = 0;
            ngx_queue_remove(q);
            ngx_queue_insert_head(lru, q);
            continue;
        }

        if (class == NGX_HTTP_THIM_CLASS_FRESH
            && ngx_http_thim_cache_class(tn) == NGX_HTTP_THIM_CLASS_STALE)
        {
            ngx_queue_remove(q);
            ngx_queue_insert_tail(&ctx->sh->lru[NGX_HTTP_THIM_CLASS_STALE],
                                  q);
            tn->lru = NGX_HTTP_THIM_CLASS_STALE;
            continue;
        }

        ngx_http_thim_cache_free_node(ctx, tn);

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * A new entry is about to be made: the oldest negative record goes if it
 * has expired, so that the 404s of a stream of unknown keys age out
 * instead of filling the zone until every allocation has to evict.
 */

static void
ngx_http_thim_cache_age_out(ngx_http_thim_zone_t *ctx)
{
    ngx_queue_t           *lru;
    ngx_http_thim_node_t  *tn;

    lru = &ctx->sh->lru[NGX_HTTP_THIM_CLASS_NEGATIVE];

    if (ngx_queue_empty(lru)) {
        return;
    }

    tn = ngx_queue_data(ngx_queue_last(lru), ngx_http_thim_node_t, queue);

    if (tn->expires <= ngx_time()
        && !ngx_http_thim_cache_leased(tn, ngx_current_msec))
    {
        ngx_http_thim_cache_free_node(ctx, tn);
    }
}


/* to the head of its class's queue, its class as it is now */

static void
ngx_http_thim_cache_touch(ngx_http_thim_zone_t *ctx, ngx_http_thim_node_t *tn)
{
    tn->lru = (u_char) ngx_http_thim_cache_class(tn);
    tn->used = 0;

    ngx_queue_remove(&tn->queue);
    ngx_queue_insert_head(&ctx->sh->lru[tn->lru], &tn->queue);
}


/*
 * A hit.  Moving the entry to the head of its queue would write to its
 * two neighbours and the queue's head, cold lines shared by every worker,
 * on every hit: the hit only marks the entry used (once), and eviction
 * gives a used entry at the tail a second chance instead (CLOCK), which
 * evicts about as LRU does.  An entry whose class changed is requeued.
 */

static void
ngx_http_thim_cache_use(ngx_http_thim_zone_t *ctx, ngx_http_thim_node_t *tn)
{
    if (tn->lru != ngx_http_thim_cache_class(tn)) {
        ngx_http_thim_cache_touch(ctx, tn);
        return;
    }

    if (!tn->used) {
        tn->used = 1;
    }
}


static ngx_uint_t
ngx_http_thim_cache_class(ngx_http_thim_node_t *tn)
{
    if (tn->value == NULL) {
        return NGX_HTTP_THIM_CLASS_EMPTY;
    }

    if (tn->negative) {
        return NGX_HTTP_THIM_CLASS_NEGATIVE;
    }

    if (tn->derived) {
        return NGX_HTTP_THIM_CLASS_DERIVED;
    }

    return (tn->expires > ngx_time()) ? NGX_HTTP_THIM_CLASS_FRESH
                                      : NGX_HTTP_THIM_CLASS_STALE;
}


/* a fetch of the entry is under way */

static ngx_uint_t
ngx_http_thim_cache_leased(ngx_http_thim_node_t *tn, ngx_msec_t now)
{
    return tn->fetch_owner
           && (ngx_msec_int_t) (tn->fetch_deadline - now) > 0;
}


static void
ngx_http_thim_cache_free_node(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn)
{
    ngx_http_thim_node_t  **bucket;

    ngx_http_thim_cache_recovered(ctx, tn);
    ngx_http_thim_cache_landed(ctx, tn);

    ngx_http_thim_cache_detach(ctx, tn);

    if (tn->derived) {
        ngx_queue_remove(&tn->group);
        ngx_queue_remove(&tn->group2);

    } else {
        /* what was derived from it may not outlive it */
        ngx_http_thim_cache_invalidate(ctx, tn);
    }

    if (tn->dirty) {
        ngx_queue_remove(&tn->dirty_link);
    }

    if (tn->written) {
        /* a record the files hold is gone: the next write compacts */
        ctx->sh->removed++;
    }

    ngx_queue_remove(&tn->queue);

    for (bucket = (ngx_http_thim_node_t **) ctx->sh->buckets
                  + (tn->hash & ctx->sh->bucket_mask);
         *bucket != tn;
         bucket = &(*bucket)->next)
    {
        /* void */
    }

    *bucket = tn->next;

    ngx_slab_free_locked(ctx->shpool, tn);

    ctx->sh->entries--;
}


/*
 * The record, if it may be served: by default always (a nextUpdate in
 * the past does not stop THIM either); with thim_next_update_grace, not
 * once the collateral's nextUpdate plus the grace has passed.
 */

static ngx_http_thim_value_t *
ngx_http_thim_cache_usable(ngx_http_thim_node_t *tn,
    ngx_http_thim_lookup_t *lk)
{
    if (tn->value == NULL
        || lk->grace < 0
        || tn->next_update == 0
        || tn->next_update + lk->grace > ngx_time())
    {
        return tn->value;
    }

    return NULL;
}


/*
 * The request will wait on the key's fetch, owned elsewhere: its worker
 * is told when the fetch lands (ngx_thim_wake.c).  A request that waits
 * for an origin's slot (no lease on its key) polls instead.
 */

static void
ngx_http_thim_cache_waits(ngx_http_thim_zone_t *ctx, ngx_http_thim_node_t *tn,
    ngx_http_thim_lookup_t *lk)
{
    if (lk->found != NGX_HTTP_THIM_FOUND_WAIT) {
        return;
    }

    if (lk->updating) {
        tn->waiters |= ctx->wake_mask;

    } else if (lk->slot_wait) {
        ctx->sh->slot_waiters[lk->origin] |= ctx->wake_mask;
    }
}


/* the key's fetch ended, or the entry goes: its waiting workers are told */

static void
ngx_http_thim_cache_landed(ngx_http_thim_zone_t *ctx, ngx_http_thim_node_t *tn)
{
    if (tn->waiters) {
        ngx_http_thim_wake_landed(ctx->shpool, &ctx->sh->wake, ctx->wake_mask,
                                  tn->hash, tn->waiters);
        tn->waiters = 0;
    }
}


static void
ngx_http_thim_cache_pin(ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk)
{
    (void) ngx_atomic_fetch_add(&tn->value->state, NGX_HTTP_THIM_VALUE_PIN);

    lk->pin = tn->value;
    lk->value = tn->value->data;
    lk->value_len = tn->value->len;
    lk->expires = tn->expires;
}


/* the node's record goes: now, or when its last request ends */

static void
ngx_http_thim_cache_detach(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn)
{
    ngx_http_thim_value_t  *v;

    v = tn->value;

    if (v == NULL) {
        return;
    }

    ctx->sh->value_bytes -= v->len;
    tn->value = NULL;

    if (ngx_atomic_fetch_add(&v->state, NGX_HTTP_THIM_VALUE_RETIRED) != 0) {
        /* pinned: its last unpin frees it */
        return;
    }

    ngx_slab_free_locked(ctx->shpool, v);
}


/*
 * Lease deadlines are on ngx_current_msec, as nginx's file cache keeps
 * its locks: nginx builds it from clock_gettime(CLOCK_MONOTONIC) where
 * there is one (NGX_HAVE_CLOCK_MONOTONIC, so on Linux), which counts
 * from boot for the whole host, so every worker sharing the zone reads
 * the same clock, and a wall clock stepped back or forward by NTP does
 * not make a lease last for ever or end at once.  A zone never outlives
 * a boot, so nothing compares these times across one.
 *
 * The lease makes one request, in one worker, the fetcher for the key.
 * A lease whose deadline passed belonged to a fetch that never ended (its
 * worker crashed, or the origin hung past every timeout) and is taken
 * over, as proxy_cache_lock does.
 */

static ngx_int_t
ngx_http_thim_cache_try_lease(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_msec_t lease, ngx_http_thim_lookup_t *lk)
{
    ngx_uint_t  cold;
    ngx_msec_t  now;

    lk->retry_after = ngx_http_thim_cache_holdoff_left(ctx, lk);

    if (lk->retry_after) {
        (void) ngx_atomic_fetch_add(&ctx->sh->held_off, 1);
        return NGX_DECLINED;
    }

    now = ngx_current_msec;

    if (ngx_http_thim_cache_leased(tn, now)) {
        lk->updating = 1;
        return NGX_DECLINED;
    }

    lk->backoff = ngx_http_thim_cache_backoff_left(tn, now);

    if (lk->backoff) {
        return NGX_DECLINED;
    }

    /* a key with no record, or only a 404, is cold: it comes last */
    cold = (tn->value == NULL || tn->negative);

    lk->retry_after = ngx_http_thim_cache_budget(ctx, lk, cold, now);

    if (lk->retry_after) {
        return NGX_DECLINED;
    }

    if (ngx_http_thim_cache_take_slot(ctx, tn, lk, now, lease) != NGX_OK) {
        /* the origin's bound is reached: wait for a slot to free */
        lk->slot_wait = 1;

        if (lk->rate) {
            ngx_http_thim_budget_give_back(&ctx->sh->budget[lk->origin],
                                           lk->rate, cold);
        }

        return NGX_DECLINED;
    }

    tn->cold = (u_char) cold;

    tn->fetch_owner = ngx_pid;
    tn->fetch_deadline = now + lease;
    tn->origin = (u_char) lk->origin;
    tn->backoff_min = lk->backoff_min;
    tn->backoff_max = lk->backoff_max;

    /* never 0: 0 is "no lease" to the fetch that holds lk->lease */
    if (++ctx->sh->lease_gen == 0) {
        ctx->sh->lease_gen = 1;
    }

    tn->fetch_lease = ctx->sh->lease_gen;
    lk->lease = tn->fetch_lease;

    if (tn->slot) {
        ctx->sh->slot_lease[tn->origin][tn->slot - 1] = tn->fetch_lease;
    }

    return NGX_OK;
}


/*
 * The origin's request budget (thim_origin_rate): a token for a fetch.
 * Returns 0, or the seconds, rounded up, before the fetch could be made
 * (lk->budget is set): a cold miss is then answered 503, a refresh put
 * off (its copy is served meanwhile).
 */

static time_t
ngx_http_thim_cache_budget(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_lookup_t *lk, ngx_uint_t cold, ngx_msec_t now)
{
    ngx_msec_t  wait;

    if (lk->rate == NULL) {
        return 0;
    }

    wait = ngx_http_thim_budget_take(&ctx->sh->budget[lk->origin], lk->rate,
                                     cold, now);
    if (wait == 0) {
        return 0;
    }

    lk->budget = 1;

    return (time_t) ((wait + 999) / 1000);
}


/* no lease for the key: why, as ngx_http_thim_cache_lookup() tells it */

static ngx_http_thim_found_e
ngx_http_thim_cache_declined(ngx_http_thim_node_t *tn,
    ngx_http_thim_lookup_t *lk)
{
    if (lk->retry_after) {
        return NGX_HTTP_THIM_FOUND_HELD_OFF;
    }

    if (lk->backoff == 0) {
        return NGX_HTTP_THIM_FOUND_WAIT;
    }

    /* the last failure is the answer until the next attempt */
    lk->fail_status = tn->fail_status ? tn->fail_status
                                      : NGX_HTTP_BAD_GATEWAY;
    lk->fail_why = tn->fail_why;
    lk->fail_size = tn->fail_size;
    lk->retry_after = lk->backoff;

    return NGX_HTTP_THIM_FOUND_FAILED;
}


/*
 * A fetch of the key failed: no new one before the next step, which is
 * twice as long as the last (thim_fetch_backoff), less up to a half of
 * it at random.  A record fresh but due for refresh is not due again
 * before then, so the refresh sweeper moves on to other keys.
 */

static void
ngx_http_thim_cache_back_off(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn)
{
    time_t      until;
    ngx_uint_t  i;
    ngx_msec_t  delay;

    if (tn->backoff_min == 0) {
        return;
    }

    if (tn->backoff_step == 0) {
        ctx->sh->backoff[tn->origin]++;
    }

    if (tn->backoff_step < 255) {
        tn->backoff_step++;
    }

    delay = tn->backoff_min;

    for (i = 1; i < tn->backoff_step && delay < tn->backoff_max; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, tn->backoff_max);
    delay -= (ngx_msec_t) ngx_random() % (delay / 2 + 1);

    /* on the leases' clock (see ngx_http_thim_cache_try_lease()) */
    tn->backoff_until = ngx_current_msec + delay;

    until = ngx_time() + (time_t) ((delay + 999) / 1000);

    if (tn->value && tn->refresh_at < until) {
        tn->refresh_at = until;
    }
}


/* a fetch of the key worked, or the key goes: it no longer backs off */

static void
ngx_http_thim_cache_recovered(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn)
{
    if (tn->backoff_step) {
        ctx->sh->backoff[tn->origin]--;
    }

    tn->backoff_step = 0;
    tn->backoff_until = 0;
}


/* seconds, rounded up, before the key may be fetched again; 0: now */

static time_t
ngx_http_thim_cache_backoff_left(ngx_http_thim_node_t *tn, ngx_msec_t now)
{
    ngx_msec_int_t  left;

    if (tn->backoff_until == 0) {
        return 0;
    }

    left = (ngx_msec_int_t) (tn->backoff_until - now);

    return (left > 0) ? (time_t) ((left + 999) / 1000) : 0;
}


/*
 * An origin bounded to N concurrent fetches (KDS rate-limits hard) has N
 * slots in the zone, each holding the deadline of the lease that uses
 * it; one whose deadline passed is free again, so a fetch whose worker
 * died cannot keep a slot.
 */

static ngx_int_t
ngx_http_thim_cache_take_slot(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_http_thim_lookup_t *lk, ngx_msec_t now,
    ngx_msec_t lease)
{
    ngx_uint_t   i, n;
    ngx_msec_t  *slots;

    tn->slot = 0;

    if (lk->max_fetches == 0) {
        return NGX_OK;
    }

    n = ngx_min(lk->max_fetches, NGX_HTTP_THIM_MAX_FETCH_SLOTS);
    slots = ctx->sh->slots[lk->origin];

    for (i = 0; i < n; i++) {
        if (slots[i] == 0 || (ngx_msec_int_t) (slots[i] - now) <= 0) {
            slots[i] = now + lease;
            tn->origin = (u_char) lk->origin;
            tn->slot = (u_char) (i + 1);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The fetch holding token "lease" ended: free its lease and its slot.
 * NGX_DECLINED: the key's lease (or the slot) is another fetch's now,
 * or nobody's, and is left alone; lease 0 (a record read back, a derived
 * answer) ends nothing.
 */

static ngx_int_t
ngx_http_thim_cache_end_lease(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_uint_t lease)
{
    if (lease == 0 || tn->fetch_owner == 0 || tn->fetch_lease != lease) {
        return NGX_DECLINED;
    }

    if (tn->slot) {
        if (ctx->sh->slot_lease[tn->origin][tn->slot - 1] == lease) {
            ctx->sh->slots[tn->origin][tn->slot - 1] = 0;
            ctx->sh->slot_lease[tn->origin][tn->slot - 1] = 0;
            ngx_http_thim_cache_slot_freed(ctx, tn->origin);
        }

        tn->slot = 0;
    }

    tn->fetch_owner = 0;
    tn->fetch_lease = 0;

    return NGX_OK;
}


/*
 * A slot of a bounded origin is free: the requests waiting for one look
 * at the zone now (one of them takes it, the others wait on), instead of
 * at their next poll.  Under the lock; the datagrams go after it.
 */

static void
ngx_http_thim_cache_slot_freed(ngx_http_thim_zone_t *ctx, ngx_uint_t origin)
{
    if (ctx->sh->slot_waiters[origin]) {
        ngx_http_thim_wake_landed(ctx->shpool, &ctx->sh->wake, ctx->wake_mask,
                                  NGX_HTTP_THIM_SLOT_HASH(origin),
                                  ctx->sh->slot_waiters[origin]);
        ctx->sh->slot_waiters[origin] = 0;
    }
}


/*
 * Seconds, rounded up, until the lookup's origin may be asked again: after
 * its 429 (or 503 with Retry-After), or its own back-off once it failed
 * NGX_HTTP_THIM_ORIGIN_FAILS fetches in a row; 0: now.
 */

static time_t
ngx_http_thim_cache_holdoff_left(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_lookup_t *lk)
{
    time_t          left, failing;
    ngx_msec_int_t  ms;

    left = ctx->sh->holdoff[lk->holdoff] - ngx_time();

    ms = ctx->sh->origin_backoff[lk->holdoff]
         ? (ngx_msec_int_t) (ctx->sh->origin_backoff[lk->holdoff]
                             - ngx_current_msec)
         : 0;

    failing = (ms > 0) ? (time_t) ((ms + 999) / 1000) : 0;

    lk->origin_failing = (failing > left);

    return ngx_max(ngx_max(left, failing), 0);
}


/*
 * Back-off per key keeps one key from being asked for again and again;
 * an origin that is down fails every key, so once it has failed
 * NGX_HTTP_THIM_ORIGIN_FAILS fetches in a row, whatever their keys, it is
 * not asked at all for a step (thim_fetch_backoff's, doubling with each
 * further failure, less up to a half at random), as after a 429: misses
 * are answered at once, expired copies are served STALE.  The fetch that
 * follows the step is the probe; any answer from the origin (a checked
 * 200, a 404, even a refused body: it was reached) ends the back-off.
 */

void
ngx_http_thim_cache_origin_result(ngx_shm_zone_t *shm_zone,
    ngx_uint_t holdoff, ngx_uint_t failed, ngx_msec_t min, ngx_msec_t max,
    ngx_log_t *log)
{
    ngx_uint_t             i, fails;
    ngx_msec_t             step;
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;
    step = 0;
    fails = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (!failed) {
        ctx->sh->origin_fails[holdoff] = 0;
        ctx->sh->origin_backoff[holdoff] = 0;

    } else {
        fails = ++ctx->sh->origin_fails[holdoff];

        if (fails >= NGX_HTTP_THIM_ORIGIN_FAILS && min) {
            step = min;

            for (i = NGX_HTTP_THIM_ORIGIN_FAILS; i < fails && step < max; i++)
            {
                step *= 2;
            }

            step = ngx_min(step, max);
            step -= (ngx_msec_t) ngx_random() % (step / 2 + 1);

            /* never 0: 0 is "none" */
            ctx->sh->origin_backoff[holdoff] = (ngx_current_msec + step)
                                               | 1;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (step) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "thim: origin failed %ui fetches in a row: not asked "
                      "for %M ms", fails, step);
    }
}


/*
 * A fresh record of the key, pinned, or nothing: no entry is made and no
 * lease taken.  For answers the module derives from other records (a PCK
 * certificate chosen from a platform's set), which are never fetched.
 */

void
ngx_http_thim_cache_peek(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_lookup_t *lk)
{
    uint32_t               hash;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    lk->refresh = 0;
    lk->pin = NULL;
    lk->found = NGX_HTTP_THIM_FOUND_MISS;

    if (tn && tn->value && !tn->negative && tn->expires > ngx_time()) {
        ngx_http_thim_cache_use(ctx, tn);

        ngx_http_thim_cache_pin(tn, lk);
        lk->found = NGX_HTTP_THIM_FOUND_FRESH;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * The body of the key's record, fresh or stale, copied into the pool:
 * what one check consults of another collateral (the Intel root CA CRL,
 * whose revocations hold past its nextUpdate).  The record is pinned
 * for the copy, so the lock is held for the lookup only.  NGX_DECLINED:
 * no record.
 */

ngx_int_t
ngx_http_thim_cache_body(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *body)
{
    u_char                  *copy;
    size_t                   len;
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_http_thim_zone_t    *ctx;
    ngx_http_thim_node_t    *tn;
    ngx_http_thim_value_t   *pin;
    ngx_http_thim_record_t   rec;

    ctx = shm_zone->data;
    tn = ngx_http_thim_cache_lock_find(shm_zone, key, &hash);

    pin = NULL;

    if (tn && tn->value && !tn->negative) {
        pin = tn->value;
        (void) ngx_atomic_fetch_add(&pin->state, NGX_HTTP_THIM_VALUE_PIN);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (pin == NULL) {
        return NGX_DECLINED;
    }

    len = pin->len;
    copy = ngx_pnalloc(pool, len);

    if (copy) {
        ngx_memcpy(copy, pin->data, len);
    }

    ngx_http_thim_cache_unpin(shm_zone, pin);

    if (copy == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_record_read(copy, len, &rec);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    *body = rec.body;

    return NGX_OK;
}


/*
 * Every entry that has a record, class by class in eviction order and
 * least recently used first within a class (so that a snapshot loaded in
 * that order rebuilds the queues), under one lock: the
 * handler only copies.  A handler's rc other than NGX_OK stops the walk
 * and is returned.
 */

ngx_int_t
ngx_http_thim_cache_walk(ngx_shm_zone_t *shm_zone,
    ngx_http_thim_walk_pt handler, void *data)
{
    ngx_int_t               rc;
    ngx_uint_t              class;
    ngx_queue_t            *q, *lru;
    ngx_http_thim_zone_t   *ctx;
    ngx_http_thim_node_t   *tn;
    ngx_http_thim_entry_t   e;

    ctx = shm_zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (class = 0; class < NGX_HTTP_THIM_CLASSES && rc == NGX_OK; class++) {
        lru = &ctx->sh->lru[class];

        for (q = ngx_queue_last(lru);
             q != ngx_queue_sentinel(lru) && rc == NGX_OK;
             q = ngx_queue_prev(q))
        {
            tn = ngx_queue_data(q, ngx_http_thim_node_t, queue);

            if (tn->value == NULL) {
                continue;
            }

            ngx_http_thim_cache_view(tn, &e);

            rc = handler(&e, data);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * One slice of a walk of the whole table, for a walk that runs beside
 * the requests it would otherwise hold up (one lock for all of them holds
 * every other worker's lookups for as long as the zone is large): every
 * entry with a record in buckets *bucket .. *bucket + n - 1, under one
 * lock; *bucket moves past them.  NGX_AGAIN: buckets remain; NGX_DONE: the table is
 * walked; the handler's rc other than NGX_OK stops the walk and is
 * returned.  An entry never changes bucket, so slices pass each entry
 * that stays in the zone once; one created meanwhile behind the slice is
 * left to the next walk.
 */

ngx_int_t
ngx_http_thim_cache_walk_slice(ngx_shm_zone_t *shm_zone, ngx_uint_t *bucket,
    ngx_uint_t n, ngx_http_thim_walk_pt handler, void *data)
{
    ngx_int_t               rc;
    ngx_uint_t              b, end;
    ngx_http_thim_zone_t   *ctx;
    ngx_http_thim_node_t   *tn, **buckets;
    ngx_http_thim_entry_t   e;

    ctx = shm_zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    buckets = (ngx_http_thim_node_t **) ctx->sh->buckets;
    end = ngx_min(*bucket + n, ctx->sh->bucket_mask + 1);

    for (b = *bucket; b < end && rc == NGX_OK; b++) {
        for (tn = buckets[b]; tn && rc == NGX_OK; tn = tn->next) {
            if (tn->value == NULL) {
                continue;
            }

            ngx_http_thim_cache_view(tn, &e);

            rc = handler(&e, data);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    *bucket = b;

    if (rc != NGX_OK) {
        return rc;
    }

    return (b > ctx->sh->bucket_mask) ? NGX_DONE : NGX_AGAIN;
}


/* under the lock: an entry with a record, as a walk's handler sees it */

static void
ngx_http_thim_cache_view(ngx_http_thim_node_t *tn, ngx_http_thim_entry_t *e)
{
    e->key.data = tn->key;
    e->key.len = tn->key_len;
    e->value = tn->value->data;
    e->len = tn->value->len;
    e->fetched = tn->fetched;
    e->refresh_at = tn->refresh_at;
    e->expires = tn->expires;
    e->next_update = tn->next_update;
    e->negative = tn->negative;
    e->derived = tn->derived;
    e->unswept = tn->unswept;
}


/*
 * A record from a snapshot or a bundle, already checked: stored as a
 * fetch would store it, with its own fetch time, unless the entry has a
 * record fetched later (NGX_DECLINED).  One of the same fetch time is
 * replaced: a bundle entry that a snapshot holds again (seeded at the
 * last start) gets the bundle's lifetime, not the one recomputed from
 * the bundle's fetch time.  The test and the store are one step under
 * the lock: the load runs while requests fetch (ngx_thim_snapshot_load.c).
 */

ngx_int_t
ngx_http_thim_cache_import(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_store_t *st, time_t fetched, ngx_log_t *log)
{
    st->import = 1;
    st->fetched = fetched;

    return ngx_http_thim_cache_store(shm_zone, key, st, log);
}


/*
 * Change tracking for the snapshot journal (ngx_thim_snapshot.c): a
 * record whose content changed (a fetch, a refresh, a seed) joins the
 * dirty queue with the zone's next generation; a hit changes nothing.
 * A record read back from a file is already written.  Negative and
 * derived records are never written.
 */

static void
ngx_http_thim_cache_changed(ngx_http_thim_zone_t *ctx,
    ngx_http_thim_node_t *tn, ngx_http_thim_store_t *st)
{
    if (tn->negative || tn->derived || st->loaded) {
        tn->written = st->loaded;

        if (tn->dirty && !st->loaded) {
            ngx_queue_remove(&tn->dirty_link);
            tn->dirty = 0;
        }

        return;
    }

    tn->changed = ++ctx->sh->gen;

    if (!tn->dirty) {
        ngx_queue_insert_tail(&ctx->sh->dirty, &tn->dirty_link);
        tn->dirty = 1;
    }
}


/* under the lock: the entry for the writer, its record pinned */

static void
ngx_http_thim_cache_entry(ngx_http_thim_node_t *tn, ngx_http_thim_entry_t *e,
    u_char *key, ngx_http_thim_value_t **pin)
{
    (void) ngx_atomic_fetch_add(&tn->value->state, NGX_HTTP_THIM_VALUE_PIN);
    tn->written = 1;

    *pin = tn->value;

    ngx_http_thim_cache_view(tn, e);

    /* the key outlives the lock: the writer works on it after */
    e->key.data = key;
    ngx_memcpy(key, tn->key, tn->key_len);
}


/*
 * The oldest changed record, taken off the dirty queue: NGX_OK with it
 * pinned and its key copied into "key" (NGX_HTTP_THIM_MAX_KEY_LEN bytes);
 * NGX_DECLINED when it changed at or before generation "upto" (a
 * compaction since holds it) and is dropped; NGX_DONE when none is left.
 * One record per lock.
 */

ngx_int_t
ngx_http_thim_cache_take_dirty(ngx_shm_zone_t *shm_zone, ngx_uint_t upto,
    ngx_http_thim_entry_t *e, u_char *key, ngx_http_thim_value_t **pin)
{
    ngx_int_t              rc;
    ngx_queue_t           *q;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (ngx_queue_empty(&ctx->sh->dirty)) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DONE;
    }

    q = ngx_queue_head(&ctx->sh->dirty);
    ngx_queue_remove(q);

    tn = ngx_queue_data(q, ngx_http_thim_node_t, dirty_link);
    tn->dirty = 0;

    rc = NGX_DECLINED;

    if (tn->value && tn->changed > upto) {
        ngx_http_thim_cache_entry(tn, e, key, pin);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * The record after "cursor" in table order (the first one if cursor->len
 * is 0), for a compaction that walks the zone one record per lock while
 * it changes: NGX_OK with it pinned, its key copied into "key" and the
 * cursor moved to it; NGX_AGAIN when only entries without a record to
 * write were passed (the cursor moved); NGX_DONE at the end.  Records
 * changed behind the cursor are in the dirty queue.
 *
 * Table order is (bucket, hash, key): it does not depend on the order of
 * a bucket's chain, which inserts change, so a walk resumed from a key
 * passes every entry that stays in the zone exactly once.
 */

ngx_int_t
ngx_http_thim_cache_next(ngx_shm_zone_t *shm_zone, ngx_str_t *cursor,
    ngx_http_thim_entry_t *e, u_char *key, ngx_http_thim_value_t **pin)
{
    uint32_t               hash;
    ngx_int_t              rc;
    ngx_uint_t             b, n;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_node_t  *tn;

    ctx = shm_zone->data;
    hash = ngx_crc32_short(cursor->data, cursor->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    b = cursor->len ? (hash & ctx->sh->bucket_mask) : 0;
    tn = ngx_http_thim_cache_after(ctx, &b, cursor->len ? cursor : NULL,
                                   hash);

    rc = NGX_DONE;

    for (n = 0; tn && n < 64; n++) {
        cursor->len = tn->key_len;
        ngx_memcpy(cursor->data, tn->key, tn->key_len);
        rc = NGX_AGAIN;

        if (tn->value && !tn->negative && !tn->derived) {
            ngx_http_thim_cache_entry(tn, e, key, pin);
            rc = NGX_OK;
            break;
        }

        tn = ngx_http_thim_cache_after(ctx, &b, cursor, tn->hash);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/*
 * The smallest entry in table order after (bucket *b, hash, key), or the
 * first of bucket *b when key is NULL; *b moves to the bucket it is in.
 */

static ngx_http_thim_node_t *
ngx_http_thim_cache_after(ngx_http_thim_zone_t *ctx, ngx_uint_t *b,
    ngx_str_t *key, uint32_t hash)
{
    ngx_str_t               k;
    ngx_uint_t              i;
    ngx_http_thim_node_t   *tn, *best, **buckets;

    buckets = (ngx_http_thim_node_t **) ctx->sh->buckets;

    for (i = *b; i <= ctx->sh->bucket_mask; i++, key = NULL) {
        best = NULL;

        for (tn = buckets[i]; tn; tn = tn->next) {
            if (key && ngx_http_thim_cache_order(tn, key, hash) <= 0) {
                continue;
            }

            k.len = tn->key_len;
            k.data = tn->key;

            if (best == NULL
                || ngx_http_thim_cache_order(best, &k, tn->hash) > 0)
            {
                best = tn;
            }
        }

        if (best) {
            *b = i;
            return best;
        }
    }

    return NULL;
}


/* tn's place against (hash, key) in a bucket: < 0, 0 or > 0 */

static ngx_int_t
ngx_http_thim_cache_order(ngx_http_thim_node_t *tn, ngx_str_t *key,
    uint32_t hash)
{
    if (tn->hash != hash) {
        return tn->hash < hash ? -1 : 1;
    }

    return ngx_memn2cmp(tn->key, key->data, (size_t) tn->key_len,
                        key->len);
}


/* the generation of the last change: what a compaction starting holds */

ngx_uint_t
ngx_http_thim_cache_gen(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t             gen;
    ngx_http_thim_zone_t  *ctx;

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    gen = ctx->sh->gen;
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return gen;
}
