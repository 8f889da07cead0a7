
/*
 * ngx_thim: background refreshes detached from the client that triggered
 * them.
 *
 * A subrequest keeps its main request counted (r->main->count), and
 * nginx lets an HTTP/1.1 connection go on to its next request only once
 * that count is back to one: a refresh made as a subrequest of the
 * client's request would hold its keep-alive connection (and an HTTP/2
 * stream) until the origin answered, however fast the stale copy was
 * sent.  So a refresh runs under a request of its own: a request on a
 * connection of its own that carries no client (a socket never
 * connected, never in the event loop), with the client request's
 * configuration, whose only work is the origin subrequest.  The client
 * request is answered and finalized at once; the detached request ends,
 * and nginx frees it and its connection, when the subrequest ends.
 *
 * Its context is made again from the cache key by the family's parsers
 * (ngx_http_thim_refresh_rekey()), in its own pool: nothing of the
 * client's request, which may be gone long before the origin answers, is
 * kept.  A key that cannot be made again from itself (a PCK certificate
 * set, whose origin query only a client's request carries) is refreshed
 * as before, under the client's request.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_fetch.h"


static ngx_http_request_t *ngx_http_thim_detach_request(
    ngx_http_request_t *r);
static ngx_connection_t *ngx_http_thim_detach_connection(
    ngx_http_request_t *r);
static void ngx_http_thim_detach_close(ngx_http_request_t *fr);
static void ngx_http_thim_detach_event(ngx_event_t *ev);


/*
 * NGX_OK: the refresh of ctx->key (lease "lease") is under way, or has
 * failed and said so to the zone; NGX_DECLINED: nothing was done, the
 * lease is still the caller's.
 */

ngx_int_t
ngx_http_thim_detach_refresh(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t lease)
{
    char                 *reason;
    ngx_int_t             rc;
    ngx_str_t             key;
    ngx_connection_t     *c;
    ngx_http_request_t   *fr;
    ngx_http_thim_ctx_t  *bg;

    fr = ngx_http_thim_detach_request(r);
    if (fr == NULL) {
        return NGX_DECLINED;
    }

    c = fr->connection;

    bg = ngx_http_thim_ctx_create(fr);
    if (bg == NULL) {
        goto declined;
    }

    key.len = ctx->key.len;
    key.data = ngx_pstrdup(fr->pool, &ctx->key);
    if (key.data == NULL) {
        goto declined;
    }

    bg->conf = ctx->conf;
    bg->zone = ctx->zone;

    if (ngx_http_thim_refresh_rekey(bg, &key, &reason) != NGX_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thim refresh of \"%V\" stays attached: %s",
                       &ctx->key, reason);
        goto declined;
    }

    bg->have_record = ctx->have_record;     /* for the logs */
    bg->expires = ctx->expires;

    /* the client's Request-ID, so that the logs tie the two together */
    bg->request_id.data = ngx_pstrdup(fr->pool, &ctx->request_id);
    if (bg->request_id.data == NULL) {
        goto declined;
    }

    bg->request_id.len = ctx->request_id.len;

    rc = ngx_http_thim_fetch_detached(fr, bg, lease);

    if (rc != NGX_OK) {
        /* the fetch failed the lease itself */
        ngx_http_thim_detach_close(fr);
        return NGX_OK;
    }

    /* from now on the subrequest alone keeps the request */
    fr->count--;

    ngx_http_run_posted_requests(c);

    return NGX_OK;

declined:

    ngx_http_thim_detach_close(fr);

    return NGX_DECLINED;
}


/*
 * A request as ngx_http_alloc_request() makes one, on the detached
 * connection, with the client request's configuration (its server and
 * location: the origin locations are found from there) and nothing of
 * its headers.  It is never logged (its subrequest is, as
 * log_subrequest says) and never answers.
 */

static ngx_http_request_t *
ngx_http_thim_detach_request(ngx_http_request_t *r)
{
    ngx_pool_t                 *pool;
    ngx_time_t                 *tp;
    ngx_connection_t           *c;
    ngx_http_request_t         *fr;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_core_main_conf_t  *cmcf;

    c = ngx_http_thim_detach_connection(r);
    if (c == NULL) {
        return NULL;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    pool = ngx_create_pool(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        ngx_http_close_connection(c);
        return NULL;
    }

    fr = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (fr == NULL) {
        goto failed;
    }

    fr->pool = pool;
    fr->signature = NGX_HTTP_MODULE;
    fr->connection = c;
    fr->main_conf = r->main_conf;
    fr->srv_conf = r->srv_conf;
    fr->loc_conf = r->loc_conf;
    fr->log_handler = r->log_handler;
    fr->read_event_handler = ngx_http_block_reading;
    fr->write_event_handler = ngx_http_request_empty_handler;

    /* finalize_connection() looks for pipelined bytes here */
    fr->header_in = ngx_calloc_buf(pool);
    if (fr->header_in == NULL) {
        goto failed;
    }

    if (ngx_list_init(&fr->headers_in.headers, pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&fr->headers_out.headers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&fr->headers_out.trailers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        goto failed;
    }

    fr->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (fr->ctx == NULL) {
        goto failed;
    }

    cmcf = ngx_http_get_module_main_conf(fr, ngx_http_core_module);

    fr->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                      * sizeof(ngx_http_variable_value_t));
    if (fr->variables == NULL) {
        goto failed;
    }

    fr->main = fr;
    fr->count = 1;

    tp = ngx_timeofday();
    fr->start_sec = tp->sec;
    fr->start_msec = tp->msec;

    fr->method = NGX_HTTP_GET;
    fr->http_version = NGX_HTTP_VERSION_11;
    fr->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;
    fr->headers_in.content_length_n = -1;
    fr->headers_in.keep_alive_n = -1;
    fr->headers_out.content_length_n = -1;
    fr->headers_out.last_modified_time = -1;
    fr->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    fr->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    fr->main_filter_need_in_memory = 1;
    fr->logged = 1;

    c->data = fr;
    ((ngx_http_log_ctx_t *) c->log->data)->request = fr;
    ((ngx_http_log_ctx_t *) c->log->data)->current_request = fr;

    return fr;

failed:

    ngx_destroy_pool(pool);
    ngx_http_close_connection(c);

    return NULL;
}


/*
 * The detached request's connection: a socket, so that nginx's own
 * ngx_http_close_connection() frees it like any other when the request
 * ends, and so that upstream may add its events to the event loop as it
 * does a client's, but never connected: nothing is ever read from it or
 * written to it, and its handlers do nothing.  Its read side is at EOF:
 * once the subrequest ended, the request is closed, not kept alive.
 */

static ngx_connection_t *
ngx_http_thim_detach_connection(ngx_http_request_t *r)
{
    ngx_log_t           *log;
    ngx_socket_t         s;
    ngx_connection_t    *c, *rc;
    ngx_http_log_ctx_t  *lctx;

    rc = r->connection;

    s = ngx_socket(AF_INET, SOCK_STREAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, rc->log, ngx_socket_errno,
                      "thim: " ngx_socket_n " for a detached refresh failed");
        return NULL;
    }

    c = ngx_get_connection(s, rc->log);

    if (c == NULL) {
        if (ngx_close_socket(s) == -1) {
            ngx_log_error(NGX_LOG_ALERT, rc->log, ngx_socket_errno,
                          ngx_close_socket_n " failed");
        }

        return NULL;
    }

    c->pool = ngx_create_pool(512, rc->log);
    if (c->pool == NULL) {
        goto failed;
    }

#if (NGX_STAT_STUB)
    /* ngx_http_close_connection() counts it out */
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    log = ngx_palloc(c->pool, sizeof(ngx_log_t));
    lctx = ngx_pcalloc(c->pool, sizeof(ngx_http_log_ctx_t));
    if (log == NULL || lctx == NULL) {
        ngx_http_close_connection(c);
        return NULL;
    }

    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    *log = *rc->log;
    log->connection = c->number;
    log->data = lctx;
    log->action = "refreshing in the background";
    lctx->connection = c;

    /* the client's connection and its log may go long before this one */
    c->log = log;
    c->pool->log = log;
    c->log_error = NGX_ERROR_INFO;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_http_thim_detach_event;
    c->write->handler = ngx_http_thim_detach_event;
    c->read->eof = 1;

    /* the triggering client, for the logs and the operator's variables */
    c->listening = rc->listening;
    c->addr_text.data = ngx_pstrdup(c->pool, &rc->addr_text);
    c->addr_text.len = c->addr_text.data ? rc->addr_text.len : 0;

    c->sockaddr = ngx_palloc(c->pool, rc->socklen);
    if (c->sockaddr == NULL) {
        ngx_http_close_connection(c);
        return NULL;
    }

    ngx_memcpy(c->sockaddr, rc->sockaddr, rc->socklen);
    c->socklen = rc->socklen;

    return c;

failed:

    ngx_close_connection(c);

    return NULL;
}


/* a detached request that never got its subrequest */

static void
ngx_http_thim_detach_close(ngx_http_request_t *fr)
{
    ngx_connection_t  *c;

    c = fr->connection;

    ngx_http_free_request(fr, 0);
    ngx_http_close_connection(c);
}


/* nothing ever happens on the detached connection itself */

static void
ngx_http_thim_detach_event(ngx_event_t *ev)
{
}
