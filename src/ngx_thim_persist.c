
/*
 * ngx_thim: snapshot and seed plumbing (see ngx_thim_persist.h): the
 * zone parameters, loading when the zone is created, the writer's timer,
 * and the re-check every record read back goes through.
 *
 * Re-checking from a key.  A record read from a file is accepted only if
 * it is what an origin answer to its key would have become: the key is
 * split into origin, path and query, and handed to the route family's
 * rekey function, which reads it with the same path table and query
 * parsers as a client's request; that gives the route, the canonical key
 * and what the body must name (FMSPC, CA, chip and TCB).  The route's own
 * check then verifies the body with its issuer chain against the pinned
 * roots, thim_next_update_grace is applied, and the record a fetch would
 * have stored is rebuilt.
 *
 * The checks read their configuration from ctx->conf: here that of the
 * first location with thim_intel (or thim_amd, thim_amd_azure) on the
 * zone, as registered while the configuration was merged (thim_refresh
 * uses the same).  The rekey parsers read the key's path and query as a
 * request's uri and args; there is no request in the loader (a timer of
 * a worker, ngx_thim_snapshot_load.c), so ngx_http_thim_persist_recheck() makes
 * a minimal one carrying only its pool, uri and args: no connection, no
 * configuration, nothing else of a request.  For Intel the copy registered
 * takes any tcbEvaluationDataNumber and the latest baseline: a key is an
 * origin request the module itself made (latest-N baselines make keys
 * with numbers clients may not ask for), not a client's.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_amd.h"
#include "ngx_thim_pckcert.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_SNAPSHOT_MIN_INTERVAL  1000


static ngx_int_t ngx_http_thim_persist_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_thim_persist_t *ngx_http_thim_persist_get(ngx_conf_t *cf,
    ngx_http_thim_persist_t **persist);
static void ngx_http_thim_persist_each(ngx_cycle_t *cycle,
    void (*handler)(ngx_http_thim_persist_t *persist, ngx_log_t *log));
static void ngx_http_thim_persist_start(ngx_http_thim_persist_t *persist,
    ngx_log_t *log);
static void ngx_http_thim_persist_exit(ngx_http_thim_persist_t *persist,
    ngx_log_t *log);
static void ngx_http_thim_persist_timer(ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_http_thim_persist_t *persist,
    ngx_msec_t interval, ngx_log_t *log);
static ngx_int_t ngx_http_thim_persist_refresh_url(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *s, ngx_http_thim_persist_t *ps);
static ngx_int_t ngx_http_thim_persist_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_recheck_t *rc);
static ngx_int_t ngx_http_thim_persist_kept(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_recheck_t *rc);


/* thim_cache_zone's parameters of ours, in this order */
static ngx_str_t  ngx_http_thim_persist_params[] = {
    ngx_string("snapshot="),
    ngx_string("snapshot_interval="),
    ngx_string("seed="),
    ngx_string("refresh="),
    ngx_string("refresh_interval="),
    ngx_null_string
};


/*
 * thim_cache_zone's snapshot=file, snapshot_interval=time and
 * seed=directory: NGX_OK when value was one of them, NGX_DECLINED when
 * it is not ours, NGX_ERROR (logged) when it is ours and invalid.
 */

ngx_int_t
ngx_http_thim_persist_zone_param(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_thim_persist_t **persist)
{
    ngx_str_t                 s, *name;
    ngx_msec_t                ms;
    ngx_http_thim_persist_t  *ps;

    for (name = ngx_http_thim_persist_params; name->len; name++) {
        if (value->len >= name->len
            && ngx_strncmp(value->data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (name->len == 0) {
        return NGX_DECLINED;
    }

    s.data = value->data + name->len;
    s.len = value->len - name->len;

    ps = ngx_http_thim_persist_get(cf, persist);
    if (ps == NULL) {
        return NGX_ERROR;
    }

    if (name == &ngx_http_thim_persist_params[1]
        || name == &ngx_http_thim_persist_params[4])
    {
        /* snapshot_interval=, refresh_interval= */
        ms = ngx_parse_time(&s, 0);

        if (ms == (ngx_msec_t) NGX_ERROR
            || ms < NGX_HTTP_THIM_SNAPSHOT_MIN_INTERVAL)
        {
            goto invalid;
        }

        if (name == &ngx_http_thim_persist_params[1]) {
            ps->interval = ms;

        } else {
            ps->refresh_interval = ms;
        }

        return NGX_OK;
    }

    if (name == &ngx_http_thim_persist_params[3]) {
        return ngx_http_thim_persist_refresh_url(cf, value, &s, ps);
    }

    if (s.len == 0 || ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
        goto invalid;
    }

    if (name == &ngx_http_thim_persist_params[2]) {
        ps->seed = s;
        return NGX_OK;
    }

    /* snapshot= */
    ps->snapshot = s;

    ps->snapshot_tmp.len = s.len + sizeof(".tmp") - 1;
    ps->snapshot_tmp.data = ngx_pnalloc(cf->pool, ps->snapshot_tmp.len + 1);
    if (ps->snapshot_tmp.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ps->snapshot_tmp.data, "%V.tmp%Z", &s);

    ps->journal.len = s.len + sizeof(".journal") - 1;
    ps->journal.data = ngx_pnalloc(cf->pool, ps->journal.len + 1);
    ps->journal_tmp.len = ps->journal.len + sizeof(".tmp") - 1;
    ps->journal_tmp.data = ngx_pnalloc(cf->pool, ps->journal_tmp.len + 1);

    if (ps->journal.data == NULL || ps->journal_tmp.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ps->journal.data, "%V.journal%Z", &s);
    ngx_sprintf(ps->journal_tmp.data, "%V.journal.tmp%Z", &s);

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       value);
    return NGX_ERROR;
}


/* refresh=[http://]address:port/uri, an address of this nginx */

static ngx_int_t
ngx_http_thim_persist_refresh_url(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *s, ngx_http_thim_persist_t *ps)
{
    ngx_url_t  u;

    if (s->len > 7 && ngx_strncmp(s->data, "http://", 7) == 0) {
        s->data += 7;
        s->len -= 7;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *s;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK
        || u.naddrs == 0
        || u.uri.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be the address (not a name), "
                           "port and URI of a thim_refresh location%s%s",
                           value, u.err ? ": " : "", u.err ? u.err : "");
        return NGX_ERROR;
    }

    ps->refresh_addr = u.addrs[0];
    ps->refresh_uri = u.uri;

    return NGX_OK;
}


static ngx_http_thim_persist_t *
ngx_http_thim_persist_get(ngx_conf_t *cf, ngx_http_thim_persist_t **persist)
{
    if (*persist == NULL) {
        *persist = ngx_pcalloc(cf->pool, sizeof(ngx_http_thim_persist_t));

        /*
         * set by ngx_pcalloc():
         *
         *     snapshot, snapshot_tmp, seed = { 0, NULL };
         *     intel, amd = NULL;
         *     interval = 0;
         */
    }

    return *persist;
}


/* the zone directive is parsed: the zone loads what it names when made */

ngx_int_t
ngx_http_thim_persist_bind(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone,
    ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_zone_t  *ctx;

    if (persist == NULL) {
        return NGX_OK;
    }

    if (persist->interval && persist->snapshot.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"snapshot_interval\" needs \"snapshot\"");
        return NGX_ERROR;
    }

    if (persist->interval == 0) {
        persist->interval = 60000;
    }

    if (persist->refresh_interval && persist->refresh_addr.sockaddr == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"refresh_interval\" needs \"refresh\"");
        return NGX_ERROR;
    }

    if (persist->refresh_interval == 0) {
        persist->refresh_interval = 30000;
    }

    ctx = shm_zone->data;
    ctx->persist = persist;
    persist->shm_zone = shm_zone;

    shm_zone->init = ngx_http_thim_persist_init_zone;

    return NGX_OK;
}


/*
 * Called for every merged location: the first one that serves Intel (or
 * AMD) from a zone with a snapshot or a seed is the configuration its
 * records are re-checked with (see the top of this file).
 */

ngx_int_t
ngx_http_thim_persist_register(ngx_conf_t *cf, ngx_http_thim_loc_conf_t *tlcf)
{
    ngx_http_thim_zone_t      *ctx;
    ngx_http_thim_persist_t   *ps;
    ngx_http_thim_loc_conf_t  *intel;

    if (tlcf->zone == NULL || tlcf->zone->data == NULL) {
        return NGX_OK;
    }

    ctx = tlcf->zone->data;
    ps = ctx->persist;

    if (ps == NULL) {
        return NGX_OK;
    }

    if (tlcf->intel && ps->intel == NULL) {
        intel = ngx_palloc(cf->pool, sizeof(ngx_http_thim_loc_conf_t));
        if (intel == NULL) {
            return NGX_ERROR;
        }

        *intel = *tlcf;

        intel->baseline = 0;
        intel->baseline_kind = NGX_HTTP_THIM_BASELINE_LATEST;
        intel->eval_min = 0;
        intel->eval_max = NGX_MAX_UINT32_VALUE;

        ps->intel = intel;
    }

    if ((tlcf->amd || tlcf->amd_azure) && ps->amd == NULL) {
        ps->amd = tlcf;
    }

    return NGX_OK;
}


/*
 * A zone made afresh (start, restart, binary upgrade, a reload that
 * changed its size) is filled from the snapshot, then from the bundle,
 * by the workers, in the background: here it is only marked as to be
 * loaded.  A zone kept across a reload keeps what it has.  nginx -t and
 * the signaller (nginx -s) make zones too, and skip this.
 */

static ngx_int_t
ngx_http_thim_persist_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                 rc;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_persist_t  *ps;

    rc = ngx_http_thim_cache_init_zone(shm_zone, data);

    if (rc != NGX_OK || data || shm_zone->shm.exists
        || ngx_process == NGX_PROCESS_SIGNALLER || ngx_test_config)
    {
        return rc;
    }

    ctx = shm_zone->data;
    ps = ctx->persist;

    /* the workers load it, in the background (ngx_thim_snapshot_load.c) */
    ngx_http_thim_snapshot_load_init(ps);

    return NGX_OK;
}


/* each worker has a snapshot timer; the elected one writes */

ngx_int_t
ngx_http_thim_persist_init_process(ngx_cycle_t *cycle)
{
    ngx_http_thim_persist_each(cycle, ngx_http_thim_persist_start);

    return NGX_OK;
}


void
ngx_http_thim_persist_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_thim_persist_each(cycle, ngx_http_thim_persist_exit);
}


/* for each zone with persist parameters, in a worker (not a cache helper) */

static void
ngx_http_thim_persist_each(ngx_cycle_t *cycle,
    void (*handler)(ngx_http_thim_persist_t *persist, ngx_log_t *log))
{
    ngx_uint_t                  i;
    ngx_shm_zone_t            **zones;
    ngx_http_thim_zone_t       *ctx;
    ngx_http_thim_main_conf_t  *tmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_thim_module);
    if (tmcf == NULL) {
        return;
    }

    zones = tmcf->zones.elts;

    for (i = 0; i < tmcf->zones.nelts; i++) {
        ctx = zones[i]->data;

        if (ctx->persist) {
            handler(ctx->persist, cycle->log);
        }
    }
}


static void
ngx_http_thim_persist_start(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    persist->jfd = NGX_INVALID_FILE;
    persist->cfd = NGX_INVALID_FILE;

    if (ctx->sh->load.stage) {
        persist->load_timer.handler = ngx_http_thim_snapshot_load_timer;
        persist->load_timer.data = persist;
        persist->load_timer.log = log;
        persist->load_timer.cancelable = 1;

        ngx_add_timer(&persist->load_timer, 1);
    }

    if (persist->snapshot.len) {
        persist->key = ngx_alloc(2 * (NGX_HTTP_THIM_MAX_KEY_LEN + 1), log);
        if (persist->key == NULL) {
            return;
        }

        persist->cursor.data = persist->key + NGX_HTTP_THIM_MAX_KEY_LEN + 1;

        ngx_http_thim_persist_timer(&persist->timer,
                                    ngx_http_thim_snapshot_timer, persist,
                                    persist->interval, log);
    }

    if (persist->refresh_addr.sockaddr) {
        ngx_http_thim_persist_timer(&persist->refresh_timer,
                                    ngx_http_thim_refresh_timer, persist,
                                    persist->refresh_interval, log);
    }
}


static void
ngx_http_thim_persist_exit(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (persist->refresh_addr.sockaddr) {
        ngx_http_thim_refresh_stop(persist);
        ngx_http_thim_persist_resign(ctx, &ctx->sh->refresh_owner);
    }

    ngx_http_thim_snapshot_load_exit(persist);

    if (persist->snapshot.len && persist->key) {
        ngx_http_thim_snapshot_exit(persist, log);
    }
}


/* cancelable, first run jittered: the workers do not all ask at once */

static void
ngx_http_thim_persist_timer(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_http_thim_persist_t *persist, ngx_msec_t interval, ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = persist;
    ev->log = log;
    ev->cancelable = 1;

    ngx_add_timer(ev, interval / 2
                      + (ngx_msec_t) ngx_random() % (interval / 2));
}


/* "intel:/sgx/...?q" -> origin, path, query (ngx_thim_key.c) */

ngx_int_t
ngx_http_thim_persist_origin(ngx_str_t *key, ngx_http_thim_recheck_t *rc)
{
    rc->family = ngx_http_thim_key_family(key);

    return ngx_http_thim_key_split(key, &rc->origin, &rc->path, &rc->query);
}


/*
 * rc->origin, path, query, body and chain as the origin would have
 * answered: NGX_OK with rc->ctx (route, canonical key) and rc->record as
 * a fetch would store it, NGX_DECLINED with rc->reason, NGX_ERROR.
 */

ngx_int_t
ngx_http_thim_persist_recheck(ngx_http_thim_persist_t *persist,
    ngx_pool_t *pool, ngx_http_thim_recheck_t *rc)
{
    ngx_int_t                     n;
    ngx_http_thim_ctx_t          *ctx;
    ngx_http_thim_loc_conf_t     *tlcf;
    const ngx_http_thim_route_t  *route;

    rc->reason = NULL;

    tlcf = (rc->origin == NGX_HTTP_THIM_ORIGIN_AMD) ? persist->amd
                                                     : persist->intel;
    if (tlcf == NULL) {
        rc->reason = "no location serves this origin from the zone";
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_thim_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* no request: the parsers and checks read the pool and the conf */
    ctx->pool = pool;
    ctx->conf = tlcf;
    ctx->zone = persist->shm_zone;

    n = ngx_http_thim_persist_rekey(ctx, rc);
    if (n != NGX_OK) {
        return n;
    }

    route = ctx->route;
    rc->ctx = ctx;

    if (route->origin != rc->origin) {
        rc->reason = "the path is another origin's";
        return NGX_DECLINED;
    }

    if (route->chain_in.len && rc->chain.len == 0) {
        rc->reason = "issuer chain header missing";
        return NGX_DECLINED;
    }

    if (rc->body.len == 0) {
        rc->reason = "empty body";
        return NGX_DECLINED;
    }

    ctx->chain = rc->chain;
    rc->next_update = 0;

    if (ngx_http_thim_persist_kept(ctx, rc) != NGX_OK) {
        rc->reason = "a header the collateral needs is missing";
        return NGX_DECLINED;
    }

    if (route->check(ctx, &rc->body, &rc->reason, &rc->next_update)
        != NGX_OK)
    {
        if (rc->reason == NULL) {
            rc->reason = "refused by the checks";
        }

        return NGX_DECLINED;
    }

    rc->reason = ngx_http_thim_past_grace(ctx, rc->next_update);

    if (rc->reason) {
        return NGX_DECLINED;
    }

    /* what the stored times are recomputed from (ngx_http_thim_lifetime) */
    ctx->next_update = rc->next_update;

    ngx_http_thim_make_record(ctx, &rc->body, &rc->record);

    return NGX_OK;
}


/* the key's path and query, read by its family's request parsers */

static ngx_int_t
ngx_http_thim_persist_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_recheck_t *rc)
{
    if (rc->origin == NGX_HTTP_THIM_ORIGIN_AMD) {
        return ngx_http_thim_amd_rekey(ctx, &rc->path, &rc->query,
                                       &rc->reason);
    }

    if (rc->family == NGX_HTTP_THIM_KEY_PCCS_REG) {
        /* a platform's registration (ngx_thim_pccs_reg.c) */
        return ngx_http_thim_pccs_reg_rekey(ctx, &rc->path, &rc->reason);
    }

    if (rc->family == NGX_HTTP_THIM_KEY_POLICY) {
        return ngx_http_thim_policy_rekey(ctx, &rc->path, &rc->reason);
    }

    if (ngx_http_thim_pckcert_is_set(&rc->path)) {
        /* a set's key is a digest of its platform (ngx_thim_pckcert.c) */
        return ngx_http_thim_pckcert_rekey(ctx, &rc->path, &rc->query,
                                           &rc->qeid, &rc->alt_key,
                                           &rc->reason);
    }

    return ngx_http_thim_intel_rekey(ctx, &rc->path, &rc->query,
                                     &rc->reason);
}


/* the other origin headers the route keeps (SGX-FMSPC, ...), as sent */

static ngx_int_t
ngx_http_thim_persist_kept(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_recheck_t *rc)
{
    ngx_str_t                    *value;
    ngx_uint_t                    i;
    const ngx_http_thim_route_t  *route;

    route = ctx->route;

    for (i = 0; i < NGX_HTTP_THIM_KEEP_HEADERS; i++) {
        if (route->keep[i].len == 0) {
            continue;
        }

        value = rc->headers
                ? ngx_http_thim_record_header(rc->headers,
                                              route->keep[i].data,
                                              route->keep[i].len)
                : NULL;

        if (value == NULL || value->len == 0) {
            return NGX_DECLINED;
        }

        ctx->kept[i] = *value;
    }

    return NGX_OK;
}


/*
 * A key or an origin request as a log line may show it: a query that
 * names a platform (an encrypted PPID) is hidden, any other is cut at
 * NGX_HTTP_THIM_PERSIST_LOG_QUERY bytes.  Never fails: without memory it
 * shows nothing of the query.
 */

void
ngx_http_thim_persist_show(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *shown)
{
    char       *more;
    u_char     *q, *last, *p;
    size_t      n;
    ngx_str_t   in;

    in = *s;                                    /* shown may be s */
    last = in.data + in.len;
    q = ngx_strlchr(in.data, last, '?');

    if (q == NULL) {
        *shown = in;
        return;
    }

    q++;
    n = last - q;

    if (ngx_strlcasestrn(q, last, (u_char *) "ppid", 4 - 1)) {
        n = 0;
        more = "(hidden: it names a platform)";

    } else if (n > NGX_HTTP_THIM_PERSIST_LOG_QUERY) {
        n = NGX_HTTP_THIM_PERSIST_LOG_QUERY;
        more = "...";

    } else {
        *shown = in;
        return;
    }

    n += q - in.data;

    shown->data = ngx_pnalloc(pool, n + ngx_strlen(more));

    if (shown->data == NULL) {
        shown->data = in.data;
        shown->len = q - in.data;
        return;
    }

    p = ngx_cpymem(shown->data, in.data, n);
    p = ngx_cpymem(p, more, ngx_strlen(more));

    shown->len = p - shown->data;
}


/*
 * A whole file into memory (the pool, or the heap when pool is NULL):
 * NGX_DECLINED when it does not exist, NGX_ERROR with ngx_errno set,
 * or NGX_ABORT when it is larger than max.
 */

ngx_int_t
ngx_http_thim_persist_read(ngx_str_t *name, ngx_pool_t *pool, size_t max,
    ngx_str_t *data, ngx_log_t *log)
{
    ssize_t          n;
    size_t           size, got;
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return (ngx_errno == NGX_ENOENT) ? NGX_DECLINED : NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        goto failed;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size > max) {
        (void) ngx_close_file(fd);
        return NGX_ABORT;
    }

    data->data = pool ? ngx_pnalloc(pool, size + 1) : ngx_alloc(size + 1, log);
    if (data->data == NULL) {
        goto failed;
    }

    for (got = 0; got < size; got += n) {
        n = read(fd, data->data + got, size - got);

        if (n <= 0) {
            if (n == 0) {
                ngx_set_errno(NGX_EINVAL);
            }

            if (pool == NULL) {
                ngx_free(data->data);
            }

            goto failed;
        }
    }

    data->len = size;
    data->data[size] = '\0';

    (void) ngx_close_file(fd);

    return NGX_OK;

failed:

    err = ngx_errno;
    (void) ngx_close_file(fd);
    ngx_set_errno(err);

    return NGX_ERROR;
}


/*
 * One worker at a time does a zone's periodic work (the snapshot, the
 * refresh sweep): the one whose pid is in *owner, until *lease (wall
 * clock, so that it means the same in every process) has passed; a
 * lease that ran out (its worker died) is taken over.  ngx_worker == 0
 * would not do: on a reload old and new workers overlap.
 */

ngx_int_t
ngx_http_thim_persist_elect(ngx_http_thim_zone_t *ctx, ngx_pid_t *owner,
    ngx_msec_t *lease, ngx_msec_t ms)
{
    ngx_int_t   rc;
    ngx_msec_t  now;

    now = ngx_http_thim_persist_now();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (*owner == 0
        || *owner == ngx_pid
        || (ngx_msec_int_t) (*lease - now) <= 0)
    {
        *owner = ngx_pid;
        *lease = now + ms;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


void
ngx_http_thim_persist_resign(ngx_http_thim_zone_t *ctx, ngx_pid_t *owner)
{
    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (*owner == ngx_pid) {
        *owner = 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* wall-clock milliseconds, up to date */

ngx_msec_t
ngx_http_thim_persist_now(void)
{
    ngx_time_t  *tp;

    ngx_time_update();
    tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}
