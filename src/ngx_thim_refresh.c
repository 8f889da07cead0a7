
/*
 * ngx_thim: cold keys refreshed ahead of expiry, with nobody asking.
 *
 * A refresh is an origin subrequest, and a subrequest needs a request:
 * timers cannot make one (STYLE.md 8).  So one elected worker sweeps the
 * zone on a cancelable timer for entries past their refresh time
 * (a key is refreshed from three quarters of its life on, as by a
 * client's request), and for each sends itself a plain HTTP request
 * over loopback, to the address of the zone's refresh= parameter, where a
 * location with thim_refresh (allowed from 127.0.0.1 only) turns the key
 * back into its route with the family's rekey function and serves it like
 * a client's request: the lookup finds the entry past its refresh time,
 * takes the fetch lease and refreshes it in a background subrequest, as
 * refresh-ahead on access does.  The loopback client reads the answer
 * away and closes.  Requests are sent one at a time, at most
 * NGX_HTTP_THIM_REFRESH_BATCH per sweep.  Keys past their expiry are
 * swept too, so that after an origin outage longer than their life the
 * copies nobody asks for come back fresh once the origin does: a failed
 * fetch moves the key's refresh time past its back-off
 * (thim_fetch_backoff), so an origin that is down costs one attempt per
 * key per back-off step, not per sweep.  Fresh keys due are picked
 * before expired ones.  The walk runs in slices of the hash table, one
 * lock each, a millisecond apart: a walk under one lock would hold every
 * other worker's lookups for the whole walk, which grows with the zone.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_amd.h"
#include "ngx_thim_key.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_REFRESH_BATCH     16
#define NGX_HTTP_THIM_REFRESH_SLICE     8192    /* buckets per lock */
#define NGX_HTTP_THIM_REFRESH_KEY_MAX   2048
#define NGX_HTTP_THIM_REFRESH_TIMEOUT   60000
#define NGX_HTTP_THIM_REFRESH_TAIL      " HTTP/1.0" CRLF "Host: localhost" \
                                        CRLF CRLF


typedef struct {
    ngx_http_thim_persist_t   *persist;
    ngx_pool_t                *pool;
    ngx_log_t                 *log;
    ngx_str_t                  keys[NGX_HTTP_THIM_REFRESH_BATCH];
    ngx_uint_t                 nkeys;
    ngx_str_t                  stale[NGX_HTTP_THIM_REFRESH_BATCH];
    ngx_uint_t                 nstale;         /* expired, due: taken
                                                  after the fresh ones */
    ngx_uint_t                 bucket;         /* the walk's next slice */
    ngx_uint_t                 slices;
    ngx_event_t                slice;
    ngx_uint_t                 next;
    time_t                     now;
    ngx_peer_connection_t      pc;
    ngx_buf_t                 *out;
    u_char                     in[1024];
} ngx_http_thim_sweep_t;


static ngx_str_t *ngx_http_thim_refresh_room(ngx_pool_t *pool,
    ngx_str_t *keys);
static void ngx_http_thim_refresh_walk(ngx_event_t *ev);
static ngx_int_t ngx_http_thim_refresh_pick(ngx_http_thim_entry_t *e,
    void *data);
static void ngx_http_thim_refresh_end(ngx_http_thim_sweep_t *sw);
static void ngx_http_thim_refresh_send(ngx_http_thim_sweep_t *sw);
static void ngx_http_thim_refresh_write(ngx_event_t *wev);
static void ngx_http_thim_refresh_read(ngx_event_t *rev);
static void ngx_http_thim_refresh_done(ngx_http_thim_sweep_t *sw);
static void ngx_http_thim_refresh_empty(ngx_event_t *ev);


void
ngx_http_thim_refresh_timer(ngx_event_t *ev)
{
    ngx_http_thim_persist_t *persist = ev->data;

    ngx_pool_t             *pool;
    ngx_http_thim_zone_t   *ctx;
    ngx_http_thim_sweep_t  *sw;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, persist->refresh_interval);

    ctx = persist->shm_zone->data;

    if (persist->sweep
        || ngx_http_thim_persist_elect(ctx, &ctx->sh->refresh_owner,
                                       &ctx->sh->refresh_lease,
                                       3 * persist->refresh_interval)
           != NGX_OK)
    {
        return;
    }

    pool = ngx_create_pool(2 * NGX_HTTP_THIM_REFRESH_BATCH
                           * NGX_HTTP_THIM_REFRESH_KEY_MAX + 4096, ev->log);
    if (pool == NULL) {
        return;
    }

    sw = ngx_pcalloc(pool, sizeof(ngx_http_thim_sweep_t));
    if (sw == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    sw->persist = persist;
    sw->pool = pool;
    sw->log = ev->log;
    sw->now = ngx_time();

    /* room for the keys first: nothing is allocated under the lock */
    if (ngx_http_thim_refresh_room(pool, sw->keys) == NULL
        || ngx_http_thim_refresh_room(pool, sw->stale) == NULL)
    {
        ngx_destroy_pool(pool);
        return;
    }

    sw->slice.handler = ngx_http_thim_refresh_walk;
    sw->slice.data = sw;
    sw->slice.log = ev->log;
    sw->slice.cancelable = 1;

    persist->sweep = sw;

    ngx_http_thim_refresh_walk(&sw->slice);
}


static ngx_str_t *
ngx_http_thim_refresh_room(ngx_pool_t *pool, ngx_str_t *keys)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_THIM_REFRESH_BATCH; i++) {
        keys[i].data = ngx_pnalloc(pool, NGX_HTTP_THIM_REFRESH_KEY_MAX);
        if (keys[i].data == NULL) {
            return NULL;
        }
    }

    return keys;
}


/*
 * The walk, a slice at a time: until the table is walked or a batch of
 * fresh keys is found; then the expired keys due fill what room is left.
 */

static void
ngx_http_thim_refresh_walk(ngx_event_t *ev)
{
    ngx_http_thim_sweep_t  *sw = ev->data;

    ngx_int_t                 rc;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_persist_t  *persist;
#if (NGX_DEBUG)
    ngx_uint_t                from;
#endif

    persist = sw->persist;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_thim_refresh_stop(persist);
        return;
    }

    ctx = persist->shm_zone->data;
#if (NGX_DEBUG)
    from = sw->bucket;
#endif

    rc = ngx_http_thim_cache_walk_slice(persist->shm_zone, &sw->bucket,
                                        NGX_HTTP_THIM_REFRESH_SLICE,
                                        ngx_http_thim_refresh_pick, sw);
    sw->slices++;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, sw->log, 0,
                   "thim sweep of zone \"%V\": slice %ui, buckets %ui-%ui, "
                   "%ui due",
                   &ctx->name, sw->slices, from, sw->bucket - 1,
                   sw->nkeys + sw->nstale);

    if (rc == NGX_AGAIN) {
        ngx_add_timer(ev, 1);
        return;
    }

    while (sw->nstale && sw->nkeys < NGX_HTTP_THIM_REFRESH_BATCH) {
        sw->keys[sw->nkeys++] = sw->stale[--sw->nstale];
    }

    if (sw->nkeys == 0) {
        ngx_http_thim_refresh_end(sw);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, sw->log, 0,
                  "thim zone \"%V\": refreshing %ui entries ahead of expiry",
                  &ctx->name, sw->nkeys);

    ngx_http_thim_refresh_send(sw);
}


/* under the zone lock: copies the keys due, fresh and expired apart */

static ngx_int_t
ngx_http_thim_refresh_pick(ngx_http_thim_entry_t *e, void *data)
{
    ngx_http_thim_sweep_t  *sw = data;

    /*
     * Derived answers are made again, never fetched.  A PCK certificate
     * set is fetched with its platform's encrypted PPID or manifest: the
     * refresh location finds them in the platform's registration
     * (ngx_thim_pccs_reg.c); a set nobody registered refreshes on access.
     */
    if (e->negative
        || e->derived
        || e->unswept
        || e->refresh_at > sw->now
        || e->key.len > NGX_HTTP_THIM_REFRESH_KEY_MAX)
    {
        return NGX_OK;
    }

    if (e->expires <= sw->now) {
        if (sw->nstale < NGX_HTTP_THIM_REFRESH_BATCH) {
            ngx_memcpy(sw->stale[sw->nstale].data, e->key.data, e->key.len);
            sw->stale[sw->nstale++].len = e->key.len;
        }

        return NGX_OK;
    }

    ngx_memcpy(sw->keys[sw->nkeys].data, e->key.data, e->key.len);
    sw->keys[sw->nkeys].len = e->key.len;

    return (++sw->nkeys < NGX_HTTP_THIM_REFRESH_BATCH) ? NGX_OK : NGX_DONE;
}


static void
ngx_http_thim_refresh_end(ngx_http_thim_sweep_t *sw)
{
    sw->persist->sweep = NULL;
    ngx_destroy_pool(sw->pool);
}


/* "GET <uri>?key=<key> HTTP/1.0" to the refresh address, the next key */

static void
ngx_http_thim_refresh_send(ngx_http_thim_sweep_t *sw)
{
    size_t                    len;
    ngx_int_t                 rc;
    ngx_str_t                *key;
    ngx_connection_t         *c;
    ngx_http_thim_persist_t  *persist;

    persist = sw->persist;

    for ( ;; ) {

        if (sw->next == sw->nkeys || ngx_exiting || ngx_terminate) {
            ngx_http_thim_refresh_end(sw);
            return;
        }

        key = &sw->keys[sw->next++];

        len = sizeof("GET ?key=" NGX_HTTP_THIM_REFRESH_TAIL)
              + persist->refresh_uri.len
              + key->len
              + 2 * ngx_escape_uri(NULL, key->data, key->len,
                                   NGX_ESCAPE_ARGS);

        sw->out = ngx_create_temp_buf(sw->pool, len);
        if (sw->out == NULL) {
            continue;
        }

        sw->out->last = ngx_sprintf(sw->out->last, "GET %V?key=",
                                    &persist->refresh_uri);
        sw->out->last = (u_char *) ngx_escape_uri(sw->out->last, key->data,
                                                  key->len, NGX_ESCAPE_ARGS);
        sw->out->last = ngx_cpymem(sw->out->last, NGX_HTTP_THIM_REFRESH_TAIL,
                                   sizeof(NGX_HTTP_THIM_REFRESH_TAIL) - 1);

        ngx_memzero(&sw->pc, sizeof(ngx_peer_connection_t));

        sw->pc.sockaddr = persist->refresh_addr.sockaddr;
        sw->pc.socklen = persist->refresh_addr.socklen;
        sw->pc.name = &persist->refresh_addr.name;
        sw->pc.get = ngx_event_get_peer;
        sw->pc.log = sw->log;
        sw->pc.log_error = NGX_ERROR_ERR;

        rc = ngx_event_connect_peer(&sw->pc);

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, sw->log, 0,
                          "thim: refresh of \"%V\" not requested: cannot "
                          "connect to %V", key, sw->pc.name);

            if (sw->pc.connection) {
                ngx_close_connection(sw->pc.connection);
                sw->pc.connection = NULL;
            }

            continue;
        }

        c = sw->pc.connection;
        c->data = sw;
        c->log = sw->log;
        c->read->log = sw->log;
        c->write->log = sw->log;
        c->read->handler = ngx_http_thim_refresh_read;
        c->write->handler = ngx_http_thim_refresh_write;

        /* a shutting down worker need not wait for a refresh */
        ngx_add_timer(c->read, NGX_HTTP_THIM_REFRESH_TIMEOUT);
        c->read->cancelable = 1;

        if (rc == NGX_OK) {
            ngx_http_thim_refresh_write(c->write);
        }

        return;
    }
}


static void
ngx_http_thim_refresh_write(ngx_event_t *wev)
{
    ssize_t                 n;
    ngx_connection_t       *c;
    ngx_http_thim_sweep_t  *sw;

    c = wev->data;
    sw = c->data;

    while (sw->out->pos < sw->out->last) {
        n = c->send(c, sw->out->pos, sw->out->last - sw->out->pos);

        if (n == NGX_ERROR) {
            ngx_http_thim_refresh_done(sw);
            return;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_thim_refresh_done(sw);
            }

            return;
        }

        sw->out->pos += n;
    }

    wev->handler = ngx_http_thim_refresh_empty;

    ngx_http_thim_refresh_read(c->read);
}


/* the answer is read away: the refresh is the server side's business */

static void
ngx_http_thim_refresh_read(ngx_event_t *rev)
{
    ssize_t                 n;
    ngx_connection_t       *c;
    ngx_http_thim_sweep_t  *sw;

    c = rev->data;
    sw = c->data;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, sw->log, NGX_ETIMEDOUT,
                      "thim: refresh request to %V timed out",
                      sw->pc.name);
        ngx_http_thim_refresh_done(sw);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, sw->in, sizeof(sw->in));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_thim_refresh_done(sw);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            /* the server closes once the background refresh is over */
            ngx_http_thim_refresh_done(sw);
            return;
        }
    }
}


static void
ngx_http_thim_refresh_done(ngx_http_thim_sweep_t *sw)
{
    ngx_close_connection(sw->pc.connection);
    sw->pc.connection = NULL;

    ngx_http_thim_refresh_send(sw);
}


static void
ngx_http_thim_refresh_empty(ngx_event_t *ev)
{
}


/*
 * The worker exits: a loopback request still under way is dropped (its
 * connection would otherwise be reported as an open socket left behind).
 */

void
ngx_http_thim_refresh_stop(ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_sweep_t  *sw;

    sw = persist->sweep;

    if (sw == NULL) {
        return;
    }

    if (sw->pc.connection) {
        ngx_close_connection(sw->pc.connection);
        sw->pc.connection = NULL;
    }

    if (sw->slice.timer_set) {
        ngx_del_timer(&sw->slice);
    }

    ngx_http_thim_refresh_end(sw);
}


/*
 * location = /_thim/refresh { thim_refresh; allow 127.0.0.1; deny all; }
 * GET ?key=<the cache key, percent-encoded>: the key is served as a
 * client's request for it would be (refreshed when past its refresh
 * time).  The key must be the canonical one its request makes under the
 * configuration the zone registered for its origin, the one its records
 * are re-checked with (ngx_thim_persist.c): the keys are the module's
 * own origin requests, so any tcbEvaluationDataNumber is taken.
 */

ngx_int_t
ngx_http_thim_refresh_handler(ngx_http_request_t *r)
{
    char                     *reason;
    u_char                   *dst, *src;
    ngx_int_t                 rc;
    ngx_str_t                 arg, key;
    ngx_http_thim_ctx_t      *ctx;
    ngx_http_thim_zone_t     *zone;
    ngx_http_thim_persist_t  *ps;
    ngx_http_thim_recheck_t   rk;
    ngx_http_thim_loc_conf_t *conf;

    rc = ngx_http_thim_begin(r, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->zone == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "thim_refresh: no zone here; choose one with "
                      "\"thim_cache\"");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "key", 3, &arg) != NGX_OK
        || arg.len == 0)
    {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                        "key is required", "key");
    }

    key.data = ngx_pnalloc(r->pool, arg.len);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dst = key.data;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    key.len = dst - key.data;

    ngx_memzero(&rk, sizeof(ngx_http_thim_recheck_t));

    if (ngx_http_thim_persist_origin(&key, &rk) != NGX_OK) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                        "not a key of any route family",
                                        "key");
    }

    /*
     * the key is read, fetched and checked with the configuration the
     * zone registered for its origin (trust anchors, origin locations,
     * policy), as its records are re-checked, not with this location's:
     * nothing else needs to be configured here
     */
    zone = ctx->zone->data;
    ps = zone->persist;

    conf = (ps == NULL) ? NULL
           : (rk.origin == NGX_HTTP_THIM_ORIGIN_AMD) ? ps->amd : ps->intel;

    if (conf == NULL) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                             "no location serves this origin from the zone",
                             "key");
    }

    ctx->conf = conf;

    rc = ngx_http_thim_refresh_rekey(ctx, &key, &reason);

    if (rc == NGX_DECLINED) {
        /* a key held but not servable here: the sweep stops asking */
        ngx_http_thim_cache_unswept(ctx->zone, &key);

        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST, reason,
                                        "key");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * Sets ctx's route, key and what its checks expect from a cache key, as
 * the request that made the key would have (ctx->conf reads it).
 * NGX_DECLINED with *reason: the key is not the canonical key of a
 * request of its family (a PCK certificate set is one only when its
 * platform is registered: its origin query is otherwise only ever in a
 * client's request).
 */

ngx_int_t
ngx_http_thim_refresh_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *key,
    char **reason)
{
    ngx_int_t                rc;
    ngx_http_thim_recheck_t  rk;

    ngx_memzero(&rk, sizeof(ngx_http_thim_recheck_t));

    if (ngx_http_thim_persist_origin(key, &rk) != NGX_OK) {
        *reason = "not a key of any route family";
        return NGX_DECLINED;
    }

    /* the family's parsers read the key's path and query */
    *reason = "not a key of this family";

    rc = (rk.origin == NGX_HTTP_THIM_ORIGIN_AMD)
         ? ngx_http_thim_amd_rekey(ctx, &rk.path, &rk.query, reason)
         : (rk.family == NGX_HTTP_THIM_KEY_PCK_SET)
         ? ngx_http_thim_pccs_reg_set(ctx, &rk.path, reason)
         : ngx_http_thim_intel_rekey(ctx, &rk.path, &rk.query, reason);

    if (rc == NGX_OK
        && (ctx->route->origin != rk.origin
            || ctx->key.len != key->len
            || ngx_memcmp(ctx->key.data, key->data, key->len) != 0))
    {
        *reason = "not the canonical key of its request";
        rc = NGX_DECLINED;
    }

    return rc;
}
