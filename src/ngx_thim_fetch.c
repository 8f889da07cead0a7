
/*
 * ngx_thim: the serving core.
 *
 *  - fresh record: answered at once (HIT); past its refresh time (a
 *    quarter of its life before expiry) the request that takes the fetch
 *    lease also refreshes it in a background subrequest;
 *  - stale record: answered at once, and the request that takes the
 *    fetch lease refreshes it in a background subrequest (UPDATING);
 *  - no record: the request that takes the lease fetches in the
 *    foreground (MISS); every other request, in any worker, waits for
 *    that fetch's outcome by polling the zone, bounded by
 *    thim_fetch_timeout;
 *  - a failed fetch never touches a cached record, which keeps being
 *    served (STALE), with a warning in the log; the key then backs off
 *    (thim_fetch_backoff, ngx_thim_cache.c): no fetch of it before the
 *    next step, and a key with no record gets the failure at once;
 *  - an origin 404 is cached briefly as a negative record, unless a real
 *    record exists; an origin 429, or 503 with Retry-After, holds every
 *    worker back from that origin for its Retry-After (misses then get
 *    503 at once).
 *
 * Origin answers arrive through an in-memory subrequest to the
 * operator's internal proxy_pass location: nginx brings TLS, keepalive,
 * timeouts and secrets; this file only looks at status, body and headers.
 */


#include "ngx_thim_cache.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_tier.h"


/* a 429's hold-off: the origin's Retry-After, else this, at most 1h */
#define NGX_HTTP_THIM_DEFAULT_BACKOFF  30
#define NGX_HTTP_THIM_MAX_BACKOFF      3600


/*
 * Origin answers refused before their content is read, by
 * ngx_http_thim_fetch_refusal(); the zone keeps the number for the
 * fetch's waiters (ngx_http_thim_cache_fail_why()), so that every client
 * of the fetch is told the same.
 */
#define NGX_HTTP_THIM_REFUSED_SIZE          1
#define NGX_HTTP_THIM_REFUSED_PARTIAL       2
#define NGX_HTTP_THIM_REFUSED_NOT_MODIFIED  3
#define NGX_HTTP_THIM_REFUSED_ENCODED       4

#define NGX_HTTP_THIM_REFUSED_SIZE_TEXT                                       \
    "it is larger than the %uz bytes of subrequest_output_buffer_size "       \
    "in the origin location: raise it"


#if (NGX_DEBUG)
static ngx_str_t  ngx_http_thim_hidden = ngx_string("(hidden)");
#endif

static ngx_http_output_body_filter_pt  ngx_http_thim_next_body_filter;


static ngx_uint_t ngx_http_thim_max_fetches(ngx_http_thim_loc_conf_t *tlcf,
    ngx_uint_t origin);
static ngx_int_t ngx_http_thim_dispatch(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_lookup_t *lk);
static ngx_int_t ngx_http_thim_use_record(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_lookup_t *lk);
static ngx_int_t ngx_http_thim_deliver(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static void ngx_http_thim_refresh(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t lease);
static ngx_int_t ngx_http_thim_add_cleanup(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static void ngx_http_thim_park(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_wait(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_lookup_t *lk);
static ngx_uint_t ngx_http_thim_wake_on(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_lookup_t *lk);
static void ngx_http_thim_wait_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_thim_fetch(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t lease, ngx_uint_t background);
static ngx_http_thim_fetch_t *ngx_http_thim_fetch_create(
    ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx, ngx_uint_t lease,
    ngx_uint_t background);
static void ngx_http_thim_fetch_renew(ngx_event_t *ev);
static void ngx_http_thim_fetch_end(ngx_http_thim_fetch_t *f);
static void ngx_http_thim_fetch_cleanup(void *data);
static void ngx_http_thim_fetch_headers(ngx_http_request_t *sr,
    ngx_list_t *headers);
static void ngx_http_thim_fetch_get(ngx_http_request_t *sr);
static ngx_int_t ngx_http_thim_fetch_post(ngx_http_request_t *sr,
    ngx_str_t *body);
static ngx_int_t ngx_http_thim_fetch_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_thim_fetch_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static ngx_uint_t ngx_http_thim_fetch_refusal(ngx_http_request_t *sr,
    ngx_http_thim_fetch_t *f, ngx_uint_t status, size_t *size);
static ngx_uint_t ngx_http_thim_fetch_refuse(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t why, size_t size);
static char *ngx_http_thim_refused_reason(ngx_pool_t *pool, ngx_uint_t why,
    size_t size);
static ngx_int_t ngx_http_thim_send_refused(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status, char *reason);
static ngx_uint_t ngx_http_thim_fetch_status(ngx_http_request_t *sr,
    ngx_int_t rc);
static ngx_int_t ngx_http_thim_fetch_no_answer(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status);
static void ngx_http_thim_fetch_origin_result(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status);
static ngx_uint_t ngx_http_thim_fetch_outcome(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status, ngx_str_t *body);
static ngx_int_t ngx_http_thim_fetch_accept(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_thim_fetch_negative(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_keep(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_record_t *rec, time_t ttl, ngx_uint_t negative,
    ngx_log_t *log);
static time_t ngx_http_thim_retry_after(ngx_http_request_t *sr);
static void ngx_http_thim_fetch_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_thim_answer(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static void ngx_http_thim_cleanup(void *data);
static void ngx_http_thim_unpin_cleanup(void *data);


ngx_http_thim_ctx_t *
ngx_http_thim_ctx_create(ngx_http_request_t *r)
{
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_loc_conf_t  *tlcf;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->route = NULL;
     *     ctx->key = { 0, NULL };
     *     ctx->cache_status = NGX_HTTP_THIM_CACHE_NONE;
     *     ctx->have_record = 0;
     *     ctx->fetch_status = 0;
     *     ctx->retry_after = 0;
     *     ctx->parked = 0;
     */

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);

    ctx->request = r;
    ctx->pool = r->pool;
    ctx->conf = tlcf;
    ctx->zone = tlcf->zone;

    if (ngx_http_thim_request_id(r, &ctx->request_id) != NGX_OK) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_thim_module);

    return ctx;
}


/*
 * How every route handler starts: the request body (none is expected) is
 * discarded, the context made, and only GET and HEAD go further (G10).
 * NGX_DECLINED: go on; anything else (the rc of an answer already sent,
 * which may well be NGX_OK) is what the handler returns at once.
 */

ngx_int_t
ngx_http_thim_begin(ngx_http_request_t *r, ngx_http_thim_ctx_t **ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    *ctx = ngx_http_thim_ctx_create(r);
    if (*ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_thim_send_error(r, *ctx, NGX_HTTP_NOT_ALLOWED,
                                        "only GET and HEAD are served", NULL);
    }

    return NGX_DECLINED;
}


/*
 * Called by a route handler once ctx->route, key, origin_uri and
 * origin_args are set.  Returns what a content handler returns: a status
 * or rc to finalize with, or NGX_DONE when the request was parked.
 */

ngx_int_t
ngx_http_thim_serve(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_zone_t      *zone;
    ngx_http_thim_lookup_t     lk;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    /* before the lookup: it may pin a record or take a lease */
    if (ngx_http_thim_add_cleanup(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lk.origin = ctx->route->origin;
    lk.holdoff = ngx_http_thim_route_holdoff(ctx->route);
    lk.max_fetches = ngx_http_thim_max_fetches(tlcf, lk.origin);
    lk.rate = &tlcf->origin_rate[lk.origin];
    lk.grace = tlcf->next_update_grace;
    lk.backoff_min = tlcf->backoff_min;
    lk.backoff_max = tlcf->backoff_max;

    ngx_http_thim_cache_lookup(ctx->zone, &ctx->key, tlcf->fetch_timeout,
                               &lk);
    ctx->pin = lk.pin;

    zone = ctx->zone->data;

    (void) ngx_atomic_fetch_add(lk.found == NGX_HTTP_THIM_FOUND_FRESH
                                ? &zone->sh->hits : &zone->sh->misses, 1);

    return ngx_http_thim_dispatch(r, ctx, &lk);
}


/*
 * AMD KDS (thim_amd_max_fetches) and Intel PCS (thim_intel_max_fetches)
 * are bounded; Intel's root CA CRL location is one key.
 */

static ngx_uint_t
ngx_http_thim_max_fetches(ngx_http_thim_loc_conf_t *tlcf, ngx_uint_t origin)
{
    switch (origin) {

    case NGX_HTTP_THIM_ORIGIN_AMD:
        return tlcf->amd_max_fetches;

    case NGX_HTTP_THIM_ORIGIN_INTEL:
        return tlcf->intel_max_fetches;

    default:
        return 0;
    }
}


static ngx_int_t
ngx_http_thim_dispatch(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_lookup_t *lk)
{
    ngx_int_t              rc;
    ngx_http_thim_zone_t  *zone;

    zone = ctx->zone->data;

    switch (lk->found) {

    case NGX_HTTP_THIM_FOUND_FRESH:
        ctx->cache_status = NGX_HTTP_THIM_CACHE_HIT;

        if (lk->refresh) {
            rc = ngx_http_thim_use_record(r, ctx, lk);
            if (rc != NGX_OK) {
                return rc;
            }

            /* ahead of expiry: a refresh that cannot start changes nothing */
            ngx_http_thim_refresh(r, ctx, lk->lease);

            return ngx_http_thim_deliver(r, ctx);
        }

        break;

    case NGX_HTTP_THIM_FOUND_STALE:
        /* UPDATING only while a fetch is under way (not backing off) */
        ctx->cache_status = lk->updating ? NGX_HTTP_THIM_CACHE_UPDATING
                                         : NGX_HTTP_THIM_CACHE_STALE;
        (void) ngx_atomic_fetch_add(&zone->sh->stale, 1);
        break;

    case NGX_HTTP_THIM_FOUND_REFRESH:
        ctx->cache_status = NGX_HTTP_THIM_CACHE_UPDATING;
        (void) ngx_atomic_fetch_add(&zone->sh->stale, 1);

        rc = ngx_http_thim_use_record(r, ctx, lk);
        if (rc != NGX_OK) {
            return rc;
        }

        /* a refresh that cannot start leaves the stale copy served */
        ngx_http_thim_refresh(r, ctx, lk->lease);

        return ngx_http_thim_deliver(r, ctx);

    case NGX_HTTP_THIM_FOUND_MISS:
        ctx->cache_status = NGX_HTTP_THIM_CACHE_MISS;

        if (ctx->cache_only) {
            /* the lease goes to a request that can fetch, if one waits */
            ngx_http_thim_cache_release(ctx->zone, &ctx->key, lk->lease);
            return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                            ctx->miss_reason, NULL);
        }

        return ngx_http_thim_fetch(r, ctx, lk->lease, 0);

    case NGX_HTTP_THIM_FOUND_WAIT:
        return ngx_http_thim_wait(r, ctx, lk);

    case NGX_HTTP_THIM_FOUND_HELD_OFF:
        ctx->cache_status = NGX_HTTP_THIM_CACHE_MISS;
        ctx->retry_after = lk->retry_after;
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                     lk->budget
                     ? "the origin's request budget is spent "
                       "(thim_origin_rate) and nothing is cached"
                     : lk->origin_failing
                     ? "the origin is failing (backing off) and nothing "
                       "is cached"
                     : "the origin asked for a pause and nothing is cached",
                     NULL);

    default: /* NGX_HTTP_THIM_FOUND_FAILED */
        ctx->cache_status = NGX_HTTP_THIM_CACHE_MISS;

        /* when the key (or its origin) may be asked again */
        ctx->retry_after = lk->retry_after;

        if (lk->fail_why) {
            /* what the fetcher was told */
            return ngx_http_thim_send_refused(r, ctx, lk->fail_status,
                       ngx_http_thim_refused_reason(r->pool, lk->fail_why,
                                                    lk->fail_size));
        }

        return ngx_http_thim_send_error(r, ctx, lk->fail_status,
                              ngx_http_thim_status_reason(lk->fail_status),
                              NULL);
    }

    rc = ngx_http_thim_use_record(r, ctx, lk);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_thim_deliver(r, ctx);
}


/*
 * Between two keys of one request: the caller took what it needed from
 * the record, which is now unpinned; everything about the finished key
 * is forgotten (the request stays parked, its cleanup stays).
 */

void
ngx_http_thim_ctx_next_key(ngx_http_thim_ctx_t *ctx)
{
    if (ctx->pin) {
        ngx_http_thim_cache_unpin(ctx->zone, ctx->pin);
        ctx->pin = NULL;
    }

    ngx_str_null(&ctx->subject);
    ngx_memzero(&ctx->record, sizeof(ngx_http_thim_record_t));

    ctx->route = NULL;
    ctx->form = NGX_HTTP_THIM_FORM_STORED;
    ctx->root_chain = 0;
    ctx->have_record = 0;
    ctx->fetch_status = 0;
    ctx->fetch_reason = NULL;
    ctx->key_refused = 0;
    ctx->cache_only = 0;
    ctx->retry_after = 0;
    ctx->fetch = NULL;
    ctx->fetch_done = 0;
    ctx->fetched_record = 0;
    ctx->waiting = 0;
}


/* a 200 record goes to the request's next step, if it has one */

static ngx_int_t
ngx_http_thim_deliver(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    if (ctx->next
        && (ctx->record.status == NGX_HTTP_OK
            || (ctx->next_on_missing
                && ctx->record.status == NGX_HTTP_NOT_FOUND)))
    {
        return ctx->next(r, ctx);
    }

    return ngx_http_thim_send_record(r, ctx);
}


/*
 * A background refresh: the request goes on (it may answer, or serve its
 * next key) while the refresh ends whenever the origin answers.  Its
 * fetch gets the key as the request has it (what the checks read: the
 * route, the key, the subject, what the body must name), and nothing of
 * the request's own state: no pin, no timer, no next step, no record.
 */

static void
ngx_http_thim_refresh(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t lease)
{
    ngx_http_thim_ctx_t  *bg;

    if (ctx->cache_only) {
        /* nothing to fetch with: a later request that can will refresh */
        ngx_http_thim_cache_release(ctx->zone, &ctx->key, lease);
        return;
    }

    /* under a request of its own: the client's connection goes on */
    if (ngx_http_thim_detach_refresh(r, ctx, lease) == NGX_OK) {
        return;
    }

    bg = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_ctx_t));

    if (bg == NULL) {
        ngx_http_thim_cache_release(ctx->zone, &ctx->key, lease);
        return;
    }

    bg->request = r;
    bg->pool = r->pool;
    bg->conf = ctx->conf;
    bg->route = ctx->route;
    bg->zone = ctx->zone;
    bg->key = ctx->key;
    bg->origin_uri = ctx->origin_uri;
    bg->origin_args = ctx->origin_args;
    bg->origin_body = ctx->origin_body;
    bg->subject = ctx->subject;
    bg->expect = ctx->expect;
    bg->request_id = ctx->request_id;
    bg->have_record = ctx->have_record;     /* for the logs */
    bg->expires = ctx->expires;

    (void) ngx_http_thim_fetch(r, bg, lease, 1);
}


static ngx_int_t
ngx_http_thim_use_record(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_lookup_t *lk)
{
    if (ngx_http_thim_record_read(lk->value, lk->value_len, &ctx->record)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "thim: corrupt cache record for \"%V\"", &ctx->key);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->expires = lk->expires;
    ctx->have_record = 1;

    return NGX_OK;
}


/*
 * However the request ends, its wait timer goes and a lease it still
 * holds is given back (ngx_http_thim_cleanup()); the record it pinned is
 * unpinned only when its pool goes (ngx_http_thim_unpin_cleanup()).
 */

static ngx_int_t
ngx_http_thim_add_cleanup(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    ngx_http_cleanup_t  *cln;
    ngx_pool_cleanup_t  *pcln;

    if (ctx->cleanup_added) {
        return NGX_OK;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    pcln = ngx_pool_cleanup_add(r->pool, 0);
    if (pcln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_thim_cleanup;
    cln->data = ctx;

    pcln->handler = ngx_http_thim_unpin_cleanup;
    pcln->data = ctx;

    ctx->cleanup_added = 1;

    return NGX_OK;
}


/*
 * Keeps the request alive past the content handler; balanced by the
 * ngx_http_finalize_request() that answers it.
 */

static void
ngx_http_thim_park(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    if (!ctx->parked) {
        r->main->count++;
        ctx->parked = 1;

        /* whatever wakes the request sets its own handler first */
        r->write_event_handler = ngx_http_request_empty_handler;
    }
}


/*
 * Waiting on a fetch owned elsewhere, or for a fetch slot of a bounded
 * origin: the request is woken when the fetch lands or a slot frees
 * (ngx_thim_wake.c) and looks at the zone only every
 * NGX_HTTP_THIM_WAKE_FALLBACK ms meanwhile, for an owner that died; one
 * that cannot be woken polls.
 */

static ngx_int_t
ngx_http_thim_wait(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_lookup_t *lk)
{
    ngx_msec_t                 interval;
    ngx_msec_int_t             left;
    ngx_http_thim_zone_t      *zone;
    ngx_http_thim_loc_conf_t  *tlcf;

    if (ngx_http_thim_add_cleanup(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thim_park(r, ctx);

    if (!ctx->waiting) {
        tlcf = ctx->conf;
        zone = ctx->zone->data;

        ctx->waiting = 1;
        ctx->wait_deadline = ngx_current_msec + tlcf->fetch_timeout;

        ctx->wait.handler = ngx_http_thim_wait_handler;
        ctx->wait.data = r;
        ctx->wait.log = r->connection->log;

        /* notice a client that goes away while it waits */
        r->read_event_handler = ngx_http_test_reading;

        (void) ngx_atomic_fetch_add(&zone->sh->waits, 1);
    }

    ctx->wait_seq = lk->seq;

    interval = ngx_http_thim_wake_on(ctx, lk)
               ? NGX_HTTP_THIM_WAKE_FALLBACK : NGX_HTTP_THIM_POLL_INTERVAL;

    /* and at the deadline, to give up */
    left = (ngx_msec_int_t) (ctx->wait_deadline - ngx_current_msec);

    ngx_add_timer(&ctx->wait,
                  ngx_min(interval, (ngx_msec_t) ngx_max(left, 1)));

    return NGX_DONE;
}


/*
 * The waiter joins its worker's waiters of what it waits on: the key's
 * fetch, or a fetch slot of the key's origin.  0: nothing will wake it
 * (it waits for a reason nothing signals, or cannot be woken), it polls.
 */

static ngx_uint_t
ngx_http_thim_wake_on(ngx_http_thim_ctx_t *ctx, ngx_http_thim_lookup_t *lk)
{
    uint32_t  hash;

    if (lk->updating) {
        hash = ngx_crc32_short(ctx->key.data, ctx->key.len);

    } else if (lk->slot_wait) {
        hash = NGX_HTTP_THIM_SLOT_HASH(lk->origin);

    } else {
        return 0;
    }

    return ngx_http_thim_wake_wait(ctx, hash) == NGX_OK;
}


static void
ngx_http_thim_wait_handler(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_lookup_t     lk;
    ngx_http_thim_loc_conf_t  *tlcf;

    r = ev->data;
    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);
    tlcf = ctx->conf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "thim waiter of \"%V\" %s", &ctx->key,
                   ev->timedout ? "polls" : "woken");

    ev->timedout = 0;

    /* woken, or polling: either way out of the table of waiters */
    ngx_http_thim_wake_cancel(ctx);

    lk.seq = ctx->wait_seq;
    lk.origin = ctx->route->origin;
    lk.holdoff = ngx_http_thim_route_holdoff(ctx->route);
    lk.max_fetches = ngx_http_thim_max_fetches(tlcf, lk.origin);
    lk.rate = &tlcf->origin_rate[lk.origin];
    lk.grace = tlcf->next_update_grace;
    lk.backoff_min = tlcf->backoff_min;
    lk.backoff_max = tlcf->backoff_max;

    ngx_http_thim_cache_poll(ctx->zone, &ctx->key, tlcf->fetch_timeout, &lk);

    /* a waiter never held a pin: it had nothing to send */
    ctx->pin = lk.pin;

    if (lk.found == NGX_HTTP_THIM_FOUND_WAIT
               && (ngx_msec_int_t) (ctx->wait_deadline - ngx_current_msec)
                  <= 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "thim: gave up waiting for the origin fetch of "
                      "\"%V\"", &ctx->key);

        ctx->cache_status = NGX_HTTP_THIM_CACHE_MISS;
        rc = ngx_http_thim_send_error(r, ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                                "timed out waiting for the origin", NULL);

    } else {
        rc = ngx_http_thim_dispatch(r, ctx, &lk);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * Starts the origin fetch for ctx->key, whose lease (token "lease") this
 * request took.  In the foreground the request is parked until
 * ngx_http_thim_fetch_resume() answers it; in the background (refresh of
 * a stale record) the request goes on answering and the subrequest only
 * updates the zone.
 *
 * Either way the subrequest is a background one: nginx then leaves the
 * client's connection with the request, not with the subrequest, so a
 * client that hangs up (HTTP/1.1 close, HTTP/2 RST_STREAM) is not seen
 * by the proxy, which would end the subrequest with 499 and make one
 * client's departure every waiter's "origin fetch failed".  The fetch
 * runs to the origin's answer, which is stored for the waiters; only
 * then is the request, whose client is gone, closed.
 */

static ngx_int_t
ngx_http_thim_fetch(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t lease, ngx_uint_t background)
{
    ngx_list_t                   headers;
    ngx_http_request_t          *sr;
    ngx_http_thim_zone_t        *zone;
    ngx_http_thim_fetch_t       *f;
    ngx_http_post_subrequest_t  *ps;

    zone = ctx->zone->data;

    /* the cleanup must exist before the lease can be forgotten */
    f = ngx_http_thim_fetch_create(r, ctx, lease, background);
    if (f == NULL) {
        goto failed;
    }

    /* the subrequest's own, empty, header list (it shares the pool) */
    if (ngx_list_init(&headers, r->pool, 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        goto failed;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        goto failed;
    }

    ps->handler = ngx_http_thim_fetch_done;
    ps->data = f;

    /* a query that identifies a machine is not logged, not even here */
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "thim fetch \"%V\" via \"%V?%V\"",
                   &ctx->key, &ctx->origin_uri,
                   ctx->route->api_key ? &ngx_http_thim_hidden
                                       : &ctx->origin_args);

    if (ngx_http_subrequest(r, &ctx->origin_uri, &ctx->origin_args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_http_thim_fetch_headers(sr, &headers);

    if (ctx->origin_body.len
        && ngx_http_thim_fetch_post(sr, &ctx->origin_body) != NGX_OK)
    {
        goto failed;
    }

    if (ctx->origin_body.len == 0 && r->method == NGX_HTTP_POST) {
        ngx_http_thim_fetch_get(sr);
    }

    /* $thim_intel_api_key, evaluated in the subrequest, looks here */
    ngx_http_set_ctx(sr, ctx, ngx_http_thim_module);

    f->subrequest = sr;
    f->running = 1;
    ctx->fetch = f;

    (void) ngx_atomic_fetch_add(&zone->sh->fetches, 1);

    /* the lease lasts while the subrequest runs (see _fetch_renew()) */
    ngx_add_timer(&f->renew, ngx_max(f->conf->fetch_timeout / 2, 1));

    if (background) {
        /* answered now; the subrequest itself keeps the request alive */
        return NGX_OK;
    }

    /* a client that goes away is noticed when it is answered */
    r->read_event_handler = ngx_http_block_reading;

    ngx_http_thim_park(r, ctx);

    return NGX_DONE;

failed:

    ngx_http_thim_cache_fail(ctx->zone, &ctx->key, lease,
                             NGX_HTTP_INTERNAL_SERVER_ERROR);

    if (f) {
        f->done = 1;
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* a background refresh under a detached request (ngx_thim_detach.c) */

ngx_int_t
ngx_http_thim_fetch_detached(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t lease)
{
    return ngx_http_thim_fetch(r, ctx, lease, 1);
}


/*
 * The fetch object, in the pool of the request that starts it, with a
 * cleanup of the request's that gives the lease back should the request
 * be terminated before the fetch ended (worker shutdown, a failure of
 * the request itself).
 */

static ngx_http_thim_fetch_t *
ngx_http_thim_fetch_create(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t lease, ngx_uint_t background)
{
    ngx_http_cleanup_t     *cln;
    ngx_http_thim_fetch_t  *f;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_fetch_t));
    if (f == NULL) {
        return NULL;
    }

    cln = ngx_http_cleanup_add(r->main, 0);
    if (cln == NULL) {
        return NULL;
    }

    f->ctx = ctx;
    f->request = r;
    f->conf = ctx->conf;
    f->zone = ctx->zone;
    f->key = ctx->key;
    f->lease = lease;
    f->origin = ctx->route->origin;
    f->background = background;
    f->deadline = ngx_current_msec + f->conf->fetch_timeout;

    f->renew.handler = ngx_http_thim_fetch_renew;
    f->renew.data = f;
    f->renew.log = r->connection->log;
    f->renew.cancelable = 1;

    cln->handler = ngx_http_thim_fetch_cleanup;
    cln->data = f;

    return f;
}


/*
 * A fetch still running at thim_fetch_timeout keeps its lease: the lease
 * is renewed every half of it while the subrequest runs (the proxy's own
 * timeouts end a hung origin), so no second fetch of the key, and no
 * second user of a bounded origin's slot, starts meanwhile.  Waiters
 * still give up at thim_fetch_timeout (504).  A lease only outlives its
 * fetch when the fetch's worker died; then it runs out and is taken over.
 */

static void
ngx_http_thim_fetch_renew(ngx_event_t *ev)
{
    ngx_http_thim_fetch_t *f = ev->data;

    if (f->done || !f->running) {
        return;
    }

    if (ngx_http_thim_cache_renew(f->zone, &f->key, f->lease,
                                  f->conf->fetch_timeout)
        != NGX_OK)
    {
        /* not ours any more (evicted with its entry): nothing to renew */
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "thim: the fetch of \"%V\" lost its lease", &f->key);
        return;
    }

    f->deadline = ngx_current_msec + f->conf->fetch_timeout;

    ngx_add_timer(ev, ngx_max(f->conf->fetch_timeout / 2, 1));
}


/* the fetch has its outcome, or will never have one: stop renewing */

static void
ngx_http_thim_fetch_end(ngx_http_thim_fetch_t *f)
{
    f->done = 1;
    f->running = 0;

    if (f->renew.timer_set) {
        ngx_del_timer(&f->renew);
    }
}


static void
ngx_http_thim_fetch_cleanup(void *data)
{
    ngx_http_thim_fetch_t *f = data;

    if (!f->done) {
        /* no outcome: a waiter takes the fetch over at once */
        ngx_http_thim_cache_release(f->zone, &f->key, f->lease);
    }

    ngx_http_thim_fetch_end(f);
}


/*
 * The module alone makes the origin request: a subrequest starts with a
 * copy of its parent's headers_in, whose header list is the client's, and
 * proxy_pass_request_headers (on by default) would send all of it: Range,
 * If-None-Match or Accept-Encoding would turn one client's fetch into a
 * 206, 304 or gzip answer that its waiters share; Cookie and
 * Authorization are the client's own.  The subrequest gets an empty
 * header list and none of the parsed headers ($http_*, $host, $cookie_*
 * are empty or the server's), and no request body.  Headers the operator
 * sets (proxy_set_header, e.g. the API key from $thim_intel_api_key) are
 * sent as configured.
 */

static void
ngx_http_thim_fetch_headers(ngx_http_request_t *sr, ngx_list_t *headers)
{
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    sr->headers_in.headers = *headers;
    sr->headers_in.headers.last = &sr->headers_in.headers.part;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    sr->request_body = NULL;
}


/*
 * An origin POST (PCS pckcerts with a platform manifest): the module's
 * own JSON body, its length and type, in the subrequest's own headers;
 * proxy_pass sends r->request_body with Content-Length from
 * content_length_n.
 */

static ngx_int_t
ngx_http_thim_fetch_post(ngx_http_request_t *sr, ngx_str_t *body)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_table_elt_t           *h;
    ngx_http_request_body_t   *rb;

    rb = ngx_pcalloc(sr->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(sr->pool);
    cl = ngx_alloc_chain_link(sr->pool);
    h = ngx_list_push(&sr->headers_in.headers);

    if (rb == NULL || b == NULL || cl == NULL || h == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->rest = 0;

    ngx_str_set(&h->key, "Content-Type");
    ngx_str_set(&h->value, "application/json");
    h->lowcase_key = (u_char *) "content-type";
    h->hash = 1;
#if (nginx_version >= 1023000)
    /* one header, not a list of them: $content_type reads the list */
    h->next = NULL;
#endif

    sr->headers_in.content_type = h;
    sr->headers_in.content_length_n = body->len;
    sr->request_body = rb;
    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    return NGX_OK;
}


/*
 * A fetch for a client's POST (a registration, a PCS POST form) that has
 * no body of its own, a TCB info or a PPID's set: a GET, without the
 * client's body, length or type (a subrequest inherits them all).
 */

static void
ngx_http_thim_fetch_get(ngx_http_request_t *sr)
{
    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");

    sr->request_body = NULL;
    sr->headers_in.content_type = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.chunked = 0;
}


ngx_int_t
ngx_http_thim_fetch_init_filter(ngx_conf_t *cf)
{
    ngx_http_thim_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_thim_fetch_body_filter;

    return NGX_OK;
}


/*
 * Ahead of nginx's in-memory subrequest buffer (the postpone filter): an
 * origin answer larger than subrequest_output_buffer_size is noted and
 * its bytes dropped here.  Left to the postpone filter it would fail the
 * write, and a failed write in a subrequest marks the client's connection
 * broken: the client, and every waiter, would get no answer at all.
 */

static ngx_int_t
ngx_http_thim_fetch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                      size, limit;
    ngx_chain_t               *cl;
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_fetch_t     *f;
    ngx_http_core_loc_conf_t  *clcf;

    ctx = (r != r->main && r->subrequest_in_memory)
          ? ngx_http_get_module_ctx(r, ngx_http_thim_module) : NULL;

    f = ctx ? ctx->fetch : NULL;

    if (f == NULL || f->subrequest != r || f->done) {
        return ngx_http_thim_next_body_filter(r, in);
    }

    if (!f->oversized) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        limit = (off_t) clcf->subrequest_output_buffer_size;

        /* what the postpone filter holds already, and what comes now */
        size = (r->out && r->out->buf)
               ? r->out->buf->last - r->out->buf->pos : 0;

        for (cl = in; cl; cl = cl->next) {
            if (!ngx_buf_special(cl->buf)) {
                size += ngx_buf_size(cl->buf);
            }
        }

        if (size > limit || r->headers_out.content_length_n > limit) {
            f->oversized = 1;
        }
    }

    if (!f->oversized) {
        return ngx_http_thim_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


/*
 * The post_subrequest handler.  It may run more than once for one
 * subrequest (again after an error page), so it acts only the first time.
 * It decides, stores or refuses, and wakes the parent; it never sends.
 */

static ngx_int_t
ngx_http_thim_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_thim_fetch_t *f = data;

    size_t                 size;
    ngx_str_t              body;
    ngx_uint_t             status, result, why;
    ngx_http_thim_ctx_t   *ctx;
    ngx_http_thim_zone_t  *zone;

    if (f->done) {
        return rc;
    }

    ngx_http_thim_fetch_end(f);

    ctx = f->ctx;
    ctx->fetch_done = 1;
    zone = f->zone->data;

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        /*
         * not the origin's outcome (only a proxy that saw the client go
         * away says 499): nothing is counted or blamed, and the lease
         * goes at once to a waiter, which fetches again
         */
        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "thim: the fetch of \"%V\" ended with its client",
                      &f->key);

        ngx_http_thim_cache_release(f->zone, &f->key, f->lease);
        ctx->fetch_status = NGX_HTTP_CLIENT_CLOSED_REQUEST;

        goto wake;
    }

    status = ngx_http_thim_fetch_status(sr, rc);

    ngx_str_null(&body);

    if (sr->out && sr->out->buf) {
        body.data = sr->out->buf->pos;
        body.len = sr->out->buf->last - sr->out->buf->pos;
    }

    why = ngx_http_thim_fetch_refusal(sr, f, status, &size);

    result = why ? ngx_http_thim_fetch_refuse(sr, ctx, why, size)
                 : ngx_http_thim_fetch_outcome(sr, ctx, status, &body);

    (void) ngx_atomic_fetch_add(&zone->sh->results[result], 1);

wake:

    if (!f->background) {
        /* a background subrequest does not wake its parent itself */
        f->request->write_event_handler = ngx_http_thim_fetch_resume;

        if (ngx_http_post_request(f->request, NULL) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* NGX_ERROR would terminate the client's request too */
    return (rc == NGX_ERROR) ? NGX_OK : rc;
}


/*
 * An answer the module did not ask for, whatever its body: too large to
 * be held (the postpone filter dropped it), a part (206) or a "not
 * modified" (304) of something, or encoded.  Returns an
 * NGX_HTTP_THIM_REFUSED_*, or 0.
 */

static ngx_uint_t
ngx_http_thim_fetch_refusal(ngx_http_request_t *sr, ngx_http_thim_fetch_t *f,
    ngx_uint_t status, size_t *size)
{
    ngx_table_elt_t           *h;
    ngx_http_core_loc_conf_t  *clcf;

    *size = 0;

    if (status == NGX_HTTP_PARTIAL_CONTENT) {
        return NGX_HTTP_THIM_REFUSED_PARTIAL;
    }

    if (status == NGX_HTTP_NOT_MODIFIED) {
        return NGX_HTTP_THIM_REFUSED_NOT_MODIFIED;
    }

    if (status != NGX_HTTP_OK) {
        return 0;
    }

    if (f->oversized) {
        clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);
        *size = clcf->subrequest_output_buffer_size;

        return NGX_HTTP_THIM_REFUSED_SIZE;
    }

    h = ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                    ngx_string("Content-Encoding"));

    if (h && (h->value.len != sizeof("identity") - 1
              || ngx_strncasecmp(h->value.data, (u_char *) "identity",
                                 sizeof("identity") - 1)
                 != 0))
    {
        return NGX_HTTP_THIM_REFUSED_ENCODED;
    }

    return 0;
}


/* as a refusal by the checks: logged, 502, counted invalid, not cached */

static ngx_uint_t
ngx_http_thim_fetch_refuse(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t why, size_t size)
{
    ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
    ctx->fetch_reason = ngx_http_thim_refused_reason(ctx->request->pool, why,
                                                     size);

    ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                  "thim: refused origin answer for \"%V\": %s%s",
                  &ctx->key, ctx->fetch_reason ? ctx->fetch_reason : "",
                  ctx->have_record ? ", keeping the cached copy" : "");

    ngx_http_thim_cache_fail_why(ctx->zone, &ctx->key, ctx->fetch->lease,
                                 ctx->fetch_status, why, size);

    return NGX_HTTP_THIM_RESULT_INVALID;
}


/* the words for an NGX_HTTP_THIM_REFUSED_*, or NULL without memory */

static char *
ngx_http_thim_refused_reason(ngx_pool_t *pool, ngx_uint_t why, size_t size)
{
    u_char  *p;

    switch (why) {

    case NGX_HTTP_THIM_REFUSED_PARTIAL:
        return "the origin answered 206 Partial Content, "
               "a part of what was asked";

    case NGX_HTTP_THIM_REFUSED_NOT_MODIFIED:
        return "the origin answered 304 Not Modified, "
               "to a request that asked no condition";

    case NGX_HTTP_THIM_REFUSED_ENCODED:
        return "it has a Content-Encoding other than identity";

    default: /* NGX_HTTP_THIM_REFUSED_SIZE */
        p = ngx_pnalloc(pool, sizeof(NGX_HTTP_THIM_REFUSED_SIZE_TEXT)
                              + NGX_SIZE_T_LEN);
        if (p == NULL) {
            return NULL;
        }

        ngx_sprintf(p, NGX_HTTP_THIM_REFUSED_SIZE_TEXT "%Z", size);

        return (char *) p;
    }
}


/*
 * Whether the origin is reachable, for its back-off as a whole: a proxy
 * failure (no connection, no TLS, no answer in time) or a 5xx counts as a
 * failure; any other answer, even one the checks refuse or a 401, shows
 * the origin is up.  A 429 or a 503 with Retry-After is a hold-off of its
 * own and counts as neither.
 */

static void
ngx_http_thim_fetch_origin_result(ngx_http_request_t *sr,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status)
{
    ngx_uint_t  failed;

    if (status == NGX_HTTP_TOO_MANY_REQUESTS
        || (status == NGX_HTTP_SERVICE_UNAVAILABLE
            && ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                           ngx_string("Retry-After"))
               != NULL))
    {
        return;
    }

    failed = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR);

    ngx_http_thim_cache_origin_result(ctx->zone,
                                      ngx_http_thim_route_holdoff(ctx->route),
                                      failed, ctx->conf->backoff_min,
                                      ctx->conf->backoff_max,
                                      sr->connection->log);
}


/*
 * What the origin's answer means: stored, cached as a negative record,
 * or a failure that leaves the zone as it was (and, for a 429, holds the
 * origin off).  Sets ctx->fetch_status for the parked client and returns
 * the NGX_HTTP_THIM_RESULT_* to count.
 */

static ngx_uint_t
ngx_http_thim_fetch_outcome(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body)
{
    ngx_uint_t        result, level;
    ngx_table_elt_t  *h;

    ngx_http_thim_fetch_origin_result(sr, ctx, status);

    if (status == NGX_HTTP_OK) {

        switch (ngx_http_thim_fetch_accept(sr, ctx, body)) {

        case NGX_OK:
            ctx->fetch_status = NGX_HTTP_OK;
            return NGX_HTTP_THIM_RESULT_OK;

        case NGX_BUSY:
            /* an upper tier as stale as the copy here: a failed refresh */
            ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
            ngx_http_thim_cache_fail(ctx->zone, &ctx->key, ctx->fetch->lease,
                                     ctx->fetch_status);
            return NGX_HTTP_THIM_RESULT_ERROR;

        default:
            break;
        }

        /* refused by the checks: logged by ngx_http_thim_fetch_accept() */
        ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
        ngx_http_thim_cache_fail(ctx->zone, &ctx->key, ctx->fetch->lease,
                                 ctx->fetch_status);

        return NGX_HTTP_THIM_RESULT_INVALID;
    }

    switch (status) {

    case NGX_HTTP_NOT_FOUND:
        ctx->fetch_status = NGX_HTTP_NOT_FOUND;
        result = NGX_HTTP_THIM_RESULT_NOT_FOUND;
        break;

    case 410:
        ctx->fetch_status = 410;
        result = NGX_HTTP_THIM_RESULT_GONE;
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        ctx->fetch_status = NGX_HTTP_GATEWAY_TIME_OUT;
        result = NGX_HTTP_THIM_RESULT_TIMEOUT;
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        if (ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                        ngx_string("Retry-After"))
            == NULL)
        {
            ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
            result = NGX_HTTP_THIM_RESULT_ERROR;
            break;
        }

        /* a 503 that asks for a pause is a 429 */

        /* fall through */

    case NGX_HTTP_TOO_MANY_REQUESTS:
        ctx->fetch_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->retry_after = ngx_http_thim_retry_after(sr);
        result = NGX_HTTP_THIM_RESULT_RATE_LIMITED;

        ngx_http_thim_cache_hold_off(ctx->zone,
                                     ngx_http_thim_route_holdoff(ctx->route),
                                     ngx_time() + ctx->retry_after);
        break;

    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        /* PCCS's complaint 7: say plainly that it is about the key */
        ctx->key_refused = ctx->route->api_key;
        ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
        result = NGX_HTTP_THIM_RESULT_ERROR;
        break;

    default:
        ctx->fetch_status = NGX_HTTP_BAD_GATEWAY;
        result = NGX_HTTP_THIM_RESULT_ERROR;
    }

    if (ngx_http_thim_fetch_no_answer(sr, ctx, status) == NGX_OK) {
        h = ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                        ngx_string("Request-ID"));

        /* an unknown FMSPC is the client's business, not the operator's */
        level = (status == NGX_HTTP_NOT_FOUND) ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, sr->connection->log, 0,
                      "thim: origin answered %ui for \"%V\" "
                      "(origin Request-ID: \"%V\")%s%s",
                      status, &ctx->key,
                      h ? &h->value : &(ngx_str_t) ngx_string("none"),
                      ctx->key_refused ? ": PCS key rejected" : "",
                      ctx->have_record ? ", keeping the cached copy" : "");
    }

    if (status != NGX_HTTP_NOT_FOUND
        || ngx_http_thim_fetch_negative(sr, ctx) != NGX_OK)
    {
        ngx_http_thim_cache_fail(ctx->zone, &ctx->key, ctx->fetch->lease,
                                 ctx->fetch_status);
    }

    return result;
}


/*
 * A 502 or 504 is also what nginx makes of an origin it never heard from:
 * no proxy_pass behind the internal location, a connection refused, a TLS
 * handshake or certificate failure, a timeout, a broken header.  Those are
 * logged as what happened, naming the origin (the upstream and the peer
 * tried; nginx's own line before says why the connection failed), never as
 * an answer.  NGX_OK: the origin did answer with this status.
 */

static ngx_int_t
ngx_http_thim_fetch_no_answer(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status)
{
    char                  *what;
    ngx_str_t             *peer, *host;
    ngx_http_upstream_t   *u;

    u = sr->upstream;

    if (u != NULL && u->headers_in.status_n == status) {
        return NGX_OK;
    }

    if (u == NULL) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "thim: origin not asked for \"%V\": \"%V\" is not "
                      "a proxy_pass location (missing internal location?)%s",
                      &ctx->key, &ctx->origin_uri,
                      ctx->have_record ? ", keeping the cached copy" : "");
        return NGX_DECLINED;
    }

    peer = (u->state && u->state->peer) ? u->state->peer
                                         : &(ngx_str_t) ngx_string("none");

    /* proxy_pass with variables has no upstream{} but what it resolved */
    host = u->upstream ? &u->upstream->host
           : u->resolved ? &u->resolved->host
           : &(ngx_str_t) ngx_string("none");

    if (u->state == NULL || u->state->connect_time == (ngx_msec_t) -1) {
        /* never past TCP connect and the TLS handshake */
        what = (status == NGX_HTTP_GATEWAY_TIME_OUT)
               ? "timed out connecting to it"
               : "could not connect to it or complete TLS with it";

    } else {
        what = (status == NGX_HTTP_GATEWAY_TIME_OUT)
               ? "it did not answer in time"
               : "it sent no valid answer";
    }

    ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                  "thim: no answer from origin \"%V\" (peer %V) for "
                  "\"%V\": %s%s",
                  host, peer, &ctx->key, what,
                  ctx->have_record ? ", keeping the cached copy" : "");

    return NGX_DECLINED;
}


/* the origin's status, or what the proxy made of a failure to get one */

static ngx_uint_t
ngx_http_thim_fetch_status(ngx_http_request_t *sr, ngx_int_t rc)
{
    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return NGX_HTTP_GATEWAY_TIME_OUT;
    }

    if (rc != NGX_OK && rc != NGX_DONE) {
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (sr->upstream == NULL) {
        /* the internal location is not a proxy_pass */
        return NGX_HTTP_BAD_GATEWAY;
    }

    return sr->headers_out.status ? sr->headers_out.status
                                  : NGX_HTTP_BAD_GATEWAY;
}


/*
 * A 200 from the origin: check it, turn it into a record, store it.
 * The record is built in the request pool and also becomes this
 * request's answer, so the fetcher serves exactly what it cached.
 */

static ngx_int_t
ngx_http_thim_fetch_accept(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body)
{
    char                         *reason;
    time_t                        next_update;
    ngx_uint_t                    i;
    ngx_table_elt_t              *h, *kept[NGX_HTTP_THIM_KEEP_HEADERS];
    ngx_http_thim_record_t        rec;
    const ngx_http_thim_route_t  *route;

    route = ctx->route;
    reason = NULL;
    next_update = 0;
    h = NULL;

    ngx_str_null(&ctx->chain);

    if (route->chain_in.len) {
        h = ngx_http_thim_origin_header(sr, (ngx_str_t *) &route->chain_in);

        if (h == NULL || h->value.len == 0) {
            reason = "issuer chain header missing";

        } else {
            ctx->chain = h->value;
        }
    }

    for (i = 0; reason == NULL && i < NGX_HTTP_THIM_KEEP_HEADERS; i++) {
        ngx_str_null(&ctx->kept[i]);

        if (route->keep[i].len == 0) {
            continue;
        }

        kept[i] = ngx_http_thim_origin_header(sr,
                                              (ngx_str_t *) &route->keep[i]);

        if (kept[i] == NULL || kept[i]->value.len == 0) {
            reason = "a header the collateral needs is missing";

        } else {
            ctx->kept[i] = kept[i]->value;
        }
    }

    if (reason) {
        /* logged below */

    } else if (body->len == 0) {
        reason = "empty body";

    } else if (route->check(ctx, body, &reason, &next_update) == NGX_OK) {
        /* the check's return code decides, not whether it left a reason */
        reason = ngx_http_thim_past_grace(ctx, next_update);

    } else if (reason == NULL) {
        reason = "refused by the checks";
    }

    if (reason) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "thim: refused origin answer for \"%V\": %s%s",
                      &ctx->key, reason,
                      ctx->have_record ? ", keeping the cached copy" : "");

        ctx->fetch_reason = reason;
        return NGX_DECLINED;
    }

    /* what an upper tier says of its copy (ngx_thim_tier.c) */
    ngx_http_thim_tier_read(sr, ctx);

    if (ctx->tier_stale && ctx->have_record
        && ngx_http_thim_tier_held(ctx, body))
    {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "thim: the upper tier's copy of \"%V\" is stale too, "
                      "keeping the cached copy", &ctx->key);
        return NGX_BUSY;
    }

    if (ctx->tier_stale) {
        ctx->cache_status = NGX_HTTP_THIM_CACHE_STALE;
    }

    ngx_http_thim_make_record(ctx, body, &rec);

    ctx->next_update = next_update;

    return ngx_http_thim_keep(ctx, &rec, next_update - ngx_time(), 0,
                              sr->connection->log);
}


/*
 * An origin 404 for a key with nothing cached is itself cached, briefly
 * (thim_cache_negative_valid), so that clients asking for an unknown
 * FMSPC do not each cost an origin request.
 */

static ngx_int_t
ngx_http_thim_fetch_negative(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_record_t     rec;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    if (tlcf->negative_valid == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_thim_error_record(ctx->request, NGX_HTTP_NOT_FOUND,
                         ngx_http_thim_status_reason(NGX_HTTP_NOT_FOUND),
                         NULL, &rec)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_thim_keep(ctx, &rec, tlcf->negative_valid, 1,
                              sr->connection->log);
}


/*
 * Stores rec as the key's record with the lifetime of a ttl of seconds
 * (ngx_http_thim_lifetime()), and makes it this request's answer.  A
 * negative record refused by the zone (a real one exists) leaves the
 * request with the copy it has; a zone too small still lets this client
 * have it.
 */

static ngx_int_t
ngx_http_thim_keep(ngx_http_thim_ctx_t *ctx, ngx_http_thim_record_t *rec,
    time_t ttl, ngx_uint_t negative, ngx_log_t *log)
{
    u_char                  *last;
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_http_thim_store_t    st;
    ngx_http_thim_lookup_t   lk;

    r = ctx->request;

    st.len = ngx_http_thim_record_size(rec);
    st.value = ngx_pnalloc(r->pool, st.len);
    if (st.value == NULL) {
        return NGX_ERROR;
    }

    last = ngx_http_thim_record_write(st.value, rec);

    st.len = last - st.value;

    /*
     * Checking the answer (its chains and signatures) took a millisecond
     * or more of this pass: what follows (the record's lifetime, the
     * log's $msec of this request and of its waiters) reads the clock as
     * it is now, not as it was when the pass began.
     */
    ngx_time_update();

    ngx_http_thim_lifetime(ctx, ngx_time(), ttl, negative, &st);
    ngx_http_thim_tier_bound(ctx, ngx_time(), &st);

    st.lease = ctx->fetch->lease;

    rc = ngx_http_thim_cache_store(ctx->zone, &ctx->key, &st, log);

    /* other workers' waiters first: they answer while this one writes */
    ngx_http_thim_wake_now();

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    lk.value = st.value;
    lk.value_len = st.len;
    lk.expires = st.expires;

    if (ngx_http_thim_use_record(r, ctx, &lk) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->fetched_record = 1;

    return NGX_OK;
}


/*
 * What a checked origin answer is stored as: the route's content type,
 * its issuer chain under each name the route answers with, the headers
 * it keeps (ctx->chain, ctx->kept), and the body.  Origin answers and
 * records read back from a snapshot or a bundle are made by this alone.
 */

void
ngx_http_thim_make_record(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    ngx_http_thim_record_t *rec)
{
    ngx_uint_t                    i;
    const ngx_http_thim_route_t  *route;

    route = ctx->route;

    ngx_memzero(rec, sizeof(ngx_http_thim_record_t));

    rec->status = NGX_HTTP_OK;
    rec->content_type = route->content_type;
    rec->body = *body;

    for (i = 0; route->chain_in.len && i < NGX_HTTP_THIM_CHAIN_NAMES; i++) {
        if (route->chain_out[i].len) {
            rec->names[rec->nheaders] = route->chain_out[i];
            rec->values[rec->nheaders] = ctx->chain;
            rec->nheaders++;
        }
    }

    for (i = 0; i < NGX_HTTP_THIM_KEEP_HEADERS; i++) {
        if (route->keep[i].len) {
            rec->names[rec->nheaders] = route->keep[i];
            rec->values[rec->nheaders] = ctx->kept[i];
            rec->nheaders++;
        }
    }
}


/* NULL, or why collateral past its nextUpdate is refused */

char *
ngx_http_thim_past_grace(ngx_http_thim_ctx_t *ctx, time_t next_update)
{
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    if (tlcf->next_update_grace >= 0
        && next_update + tlcf->next_update_grace <= ngx_time())
    {
        return "it is past its nextUpdate (thim_next_update_grace)";
    }

    return NULL;
}


/*
 * The times of a record fetched at "fetched" that the collateral lets
 * live ttl seconds (nextUpdate - fetched): clamped by thim_cache_valid
 * (immutable collateral: floored only; negative records: ttl as given),
 * refreshed from three quarters of that on.  An origin answer gets them
 * at its arrival; a record read back gets them again from its re-checked
 * content (ctx->next_update) at its fetch time, whatever the file said.
 */

void
ngx_http_thim_lifetime(ngx_http_thim_ctx_t *ctx, time_t fetched, time_t ttl,
    ngx_uint_t negative, ngx_http_thim_store_t *st)
{
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    if (!negative) {
        ttl = ngx_max(ttl, tlcf->valid_min);

        if (!ctx->route->immutable) {
            ttl = ngx_min(ttl, tlcf->valid_max);
        }
    }

    ttl = ngx_max(ttl, 1);

    st->expires = fetched + ttl;
    st->refresh_at = st->expires - ttl / 4;
    st->next_update = negative ? 0 : ctx->next_update;
    st->lease = 0;
    st->negative = negative;
    st->derived = 0;
    st->loaded = 0;
    st->import = 0;
}


/* a 429's Retry-After in seconds (the HTTP-date form counts as absent) */

static time_t
ngx_http_thim_retry_after(ngx_http_request_t *sr)
{
    time_t            t;
    ngx_table_elt_t  *h;

    h = ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                    ngx_string("Retry-After"));

    t = h ? ngx_atotm(h->value.data, h->value.len) : NGX_ERROR;

    if (t <= 0) {
        return NGX_HTTP_THIM_DEFAULT_BACKOFF;
    }

    return ngx_min(t, NGX_HTTP_THIM_MAX_BACKOFF);
}


ngx_table_elt_t *
ngx_http_thim_origin_header(ngx_http_request_t *sr, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (sr->upstream == NULL) {
        return NULL;
    }

    part = &sr->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


static void
ngx_http_thim_fetch_resume(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_thim_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_thim_answer(r, ctx);

    /* a next step parked the request again: it answers later */
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* the answer of the request that fetched in the foreground */

static ngx_int_t
ngx_http_thim_answer(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    if (ctx->fetch_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (ctx->fetched_record) {
        return ngx_http_thim_deliver(r, ctx);
    }

    if (ctx->have_record) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thim: serving stale \"%V\", expired %T s ago: "
                      "origin fetch failed",
                      &ctx->key, ngx_time() - ctx->expires);

        ctx->cache_status = NGX_HTTP_THIM_CACHE_STALE;
        return ngx_http_thim_deliver(r, ctx);
    }

    if (ctx->key_refused) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_GATEWAY,
                             "Intel PCS refused the API key: check "
                             "thim_intel_api_key_file", NULL);
    }

    return ngx_http_thim_send_refused(r, ctx, ctx->fetch_status,
                                      ctx->fetch_reason);
}


/*
 * The origin answered, and what it said was refused: the client is told
 * why (reason NULL: only the status).
 */

static ngx_int_t
ngx_http_thim_send_refused(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, char *reason)
{
    u_char  *p;

    if (reason == NULL) {
        return ngx_http_thim_send_error(r, ctx, status,
                                        ngx_http_thim_status_reason(status),
                                        NULL);
    }

    p = ngx_pnalloc(r->pool, sizeof("the origin's answer was refused: ")
                             + ngx_strlen(reason));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "the origin's answer was refused: %s%Z", reason);

    return ngx_http_thim_send_error(r, ctx, status, (char *) p, NULL);
}


/*
 * However the request ends, its wait timer goes.  A fetch still under way
 * gives its lease back in the fetch's own cleanup, and the pin is released
 * with the request's pool: see ngx_http_thim_unpin_cleanup().
 */

static void
ngx_http_thim_cleanup(void *data)
{
    ngx_http_thim_ctx_t *ctx = data;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    ngx_http_thim_wake_cancel(ctx);
}


/*
 * The body of a hit is sent straight from the zone: the buffers point into
 * the pinned record until the connection has written them.  The request's
 * HTTP cleanups are too early to unpin: ngx_http_terminate_request() runs
 * them (send_timeout, a client's RST_STREAM) while an HTTP/2 stream may
 * still have DATA frames queued on its connection that point into the
 * record, and ngx_http_v2_close_stream() then waits for stream->queued to
 * drop to zero before it frees the request.  The request's pool (shared by
 * its subrequests) is destroyed only then, for HTTP/2 as for HTTP/1.1,
 * whose output lives in that pool too: once it goes, nothing of this
 * request's answer can reach the wire (a connection finalized with frames
 * still queued drops them first), so the record may be freed.
 */

static void
ngx_http_thim_unpin_cleanup(void *data)
{
    ngx_http_thim_ctx_t *ctx = data;

    if (ctx->pin) {
        ngx_http_thim_cache_unpin(ctx->zone, ctx->pin);
        ctx->pin = NULL;
    }
}


/* how bad a cache status is, for an answer made of several */
static ngx_uint_t  ngx_http_thim_parts_rank[] = {
    0,  /* NONE */     1,  /* HIT */      4,  /* MISS */
    3,  /* STALE */    2   /* UPDATING */
};


/*
 * An answer made of several records (Azure's THIM JSON, a PCK certificate
 * chosen by a TCB info) is as fresh as the stalest of them, and its cache
 * status is the worst of theirs.
 */

void
ngx_http_thim_parts_add(ngx_http_thim_parts_t *parts, ngx_http_thim_ctx_t *ctx)
{
    if (parts->expires == 0 || ctx->expires < parts->expires) {
        parts->expires = ctx->expires;
    }

    if (ngx_http_thim_parts_rank[ctx->cache_status]
        > ngx_http_thim_parts_rank[parts->cache_status])
    {
        parts->cache_status = ctx->cache_status;
    }
}


/*
 * Answers the module derives from other records (a PCK certificate
 * chosen from a platform's set by a TCB info) are kept under a key of
 * their own until the earliest of their sources expires, so that a
 * repeated question costs one lookup, as any collateral does.  NGX_OK:
 * ctx->record is the fresh derived answer (pinned); NGX_DECLINED: derive
 * it again.
 */

ngx_int_t
ngx_http_thim_derived_lookup(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *key)
{
    ngx_http_thim_zone_t    *zone;
    ngx_http_thim_lookup_t   lk;

    if (ngx_http_thim_add_cleanup(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_thim_cache_peek(ctx->zone, key, &lk);

    if (lk.found != NGX_HTTP_THIM_FOUND_FRESH) {
        return NGX_DECLINED;
    }

    ctx->pin = lk.pin;

    if (ngx_http_thim_use_record(r, ctx, &lk) != NGX_OK) {
        return NGX_ERROR;
    }

    zone = ctx->zone->data;
    (void) ngx_atomic_fetch_add(&zone->sh->hits, 1);

    ctx->cache_status = NGX_HTTP_THIM_CACHE_HIT;

    return NGX_OK;
}


/* keeps a derived answer until "expires"; nothing stale is kept */

void
ngx_http_thim_derived_keep(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *key, ngx_http_thim_record_t *rec, time_t expires)
{
    u_char                 *last;
    ngx_http_thim_store_t   st;

    if (expires <= ngx_time()) {
        return;
    }

    st.len = ngx_http_thim_record_size(rec);
    st.value = ngx_pnalloc(r->pool, st.len);
    if (st.value == NULL) {
        return;
    }

    last = ngx_http_thim_record_write(st.value, rec);

    st.len = last - st.value;
    st.expires = expires;
    st.refresh_at = expires;
    st.next_update = 0;
    st.lease = 0;
    st.negative = 0;
    st.derived = 1;
    st.loaded = 0;
    st.import = 0;

    /* a zone too full for it only means deriving it again next time */
    (void) ngx_http_thim_cache_store(ctx->zone, key, &st,
                                     r->connection->log);
}
