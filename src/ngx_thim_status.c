
/*
 * ngx_thim: the status endpoint (thim_status;).
 *
 * Each request takes one snapshot per zone: the atomic counters are read
 * without the lock, as stub_status does, and the lock is taken once only
 * to copy the few values the cache keeps under it.  Escaping, sizing and
 * formatting all happen after unlocking, in the request pool, so a scrape
 * never holds up a worker that is serving collateral.
 *
 * Both output formats are driven by the tables below: a new zone counter
 * needs a field in ngx_http_thim_status_zone_t and a line in each table.
 */


#include "ngx_thim_cache.h"
#include "ngx_thim_status.h"
#include "ngx_thim_response.h"


#define NGX_HTTP_THIM_STATUS_JSON        0
#define NGX_HTTP_THIM_STATUS_PROMETHEUS  1


/*
 * One zone at one instant.  All values are uint64_t so that the tables
 * can address them by offset; "free" and "used" stay adjacent, as
 * thim_zone_bytes reads them as one pair.
 */
typedef struct {
    ngx_str_t                  name;           /* escaped for the format */
    uint64_t                   size;
    uint64_t                   free;
    uint64_t                   used;
    uint64_t                   entries;
    uint64_t                   record_bytes;
    uint64_t                   hits;
    uint64_t                   misses;
    uint64_t                   stale;
    uint64_t                   waits;
    uint64_t                   fetches;
    uint64_t                   results[NGX_HTTP_THIM_RESULTS];
    uint64_t                   held_off;
    uint64_t                   evictions;
    uint64_t                   holdoff[NGX_HTTP_THIM_HOLDOFFS];
    uint64_t                   backoff[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_refreshes[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_cold[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_refused[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_deferred[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_tightened[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_cold_divisor[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   budget_tokens[NGX_HTTP_THIM_ORIGINS];
    uint64_t                   snapshot;       /* last written, or 0 */
} ngx_http_thim_status_zone_t;


/* a JSON key: one value, or an object of n values named by names[] */
typedef struct {
    ngx_str_t                  name;
    size_t                     offset;
    ngx_str_t                 *names;
    ngx_uint_t                 n;
} ngx_http_thim_status_json_t;


/* a Prometheus family: one sample per zone, or n told apart by label */
typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  type;
    ngx_str_t                  help;
    size_t                     offset;
    ngx_str_t                  label;
    ngx_str_t                 *names;
    ngx_uint_t                 n;
} ngx_http_thim_status_metric_t;


#define ngx_http_thim_status_offset(field)                                    \
    offsetof(ngx_http_thim_status_zone_t, field)

#define ngx_http_thim_status_values(zs, offset)                               \
    ((uint64_t *) ((u_char *) (zs) + (offset)))


static ngx_int_t ngx_http_thim_status_handler(ngx_http_request_t *r);
static void ngx_http_thim_status_budget(ngx_http_thim_status_zone_t *zs,
    ngx_uint_t origin, ngx_http_thim_budget_t *b);
static ngx_int_t ngx_http_thim_status_format(ngx_http_request_t *r,
    ngx_uint_t *format);
static ngx_int_t ngx_http_thim_status_snapshot(ngx_http_request_t *r,
    ngx_uint_t format, ngx_http_thim_status_zone_t **zones, ngx_uint_t *n);
static ngx_int_t ngx_http_thim_status_escape(ngx_pool_t *pool,
    ngx_str_t *src, ngx_str_t *dst, ngx_uint_t format);
static uintptr_t ngx_http_thim_status_escape_label(u_char *dst, u_char *src,
    size_t size);
static ngx_buf_t *ngx_http_thim_status_json(ngx_http_request_t *r,
    ngx_http_thim_status_zone_t *zones, ngx_uint_t n);
static ngx_buf_t *ngx_http_thim_status_prometheus(ngx_http_request_t *r,
    ngx_http_thim_status_zone_t *zones, ngx_uint_t n);
static ngx_int_t ngx_http_thim_status_add_header(ngx_http_request_t *r,
    char *name, char *value);
static ngx_int_t ngx_http_thim_status_error(ngx_http_request_t *r,
    ngx_uint_t status, char *reason, char *parameter);


/* one name per NGX_HTTP_THIM_RESULT_*, in their order */
static ngx_str_t  ngx_http_thim_status_results[NGX_HTTP_THIM_RESULTS] = {
    ngx_string("ok"),
    ngx_string("not_found"),
    ngx_string("gone"),
    ngx_string("rate_limited"),
    ngx_string("error"),
    ngx_string("timeout"),
    ngx_string("invalid")
};


/* one name per hold-off: NGX_HTTP_THIM_ORIGIN_*, then the API key's */
static ngx_str_t  ngx_http_thim_status_origins[NGX_HTTP_THIM_HOLDOFFS] = {
    ngx_string("intel"),
    ngx_string("intel_root"),
    ngx_string("amd"),
    ngx_string("intel_pck")
};


/* the fields "free" and "used", in that order */
static ngx_str_t  ngx_http_thim_status_states[] = {
    ngx_string("free"),
    ngx_string("used")
};


static ngx_http_thim_status_json_t  ngx_http_thim_status_json_fields[] = {

    { ngx_string("size"), ngx_http_thim_status_offset(size), NULL, 0 },
    { ngx_string("free"), ngx_http_thim_status_offset(free), NULL, 0 },
    { ngx_string("used"), ngx_http_thim_status_offset(used), NULL, 0 },
    { ngx_string("entries"), ngx_http_thim_status_offset(entries),
      NULL, 0 },
    { ngx_string("record_bytes"), ngx_http_thim_status_offset(record_bytes),
      NULL, 0 },
    { ngx_string("hits"), ngx_http_thim_status_offset(hits), NULL, 0 },
    { ngx_string("misses"), ngx_http_thim_status_offset(misses), NULL, 0 },
    { ngx_string("stale"), ngx_http_thim_status_offset(stale), NULL, 0 },
    { ngx_string("waits"), ngx_http_thim_status_offset(waits), NULL, 0 },
    { ngx_string("fetches"), ngx_http_thim_status_offset(fetches),
      NULL, 0 },
    { ngx_string("results"), ngx_http_thim_status_offset(results),
      ngx_http_thim_status_results, NGX_HTTP_THIM_RESULTS },
    { ngx_string("held_off"), ngx_http_thim_status_offset(held_off),
      NULL, 0 },
    { ngx_string("evictions"), ngx_http_thim_status_offset(evictions),
      NULL, 0 },
    { ngx_string("holdoff"), ngx_http_thim_status_offset(holdoff),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_HOLDOFFS },
    { ngx_string("backoff"), ngx_http_thim_status_offset(backoff),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_refreshes"),
      ngx_http_thim_status_offset(budget_refreshes),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_cold"), ngx_http_thim_status_offset(budget_cold),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_refused"),
      ngx_http_thim_status_offset(budget_refused),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_deferred"),
      ngx_http_thim_status_offset(budget_deferred),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_tightened"),
      ngx_http_thim_status_offset(budget_tightened),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_cold_divisor"),
      ngx_http_thim_status_offset(budget_cold_divisor),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("budget_tokens"), ngx_http_thim_status_offset(budget_tokens),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },
    { ngx_string("snapshot"), ngx_http_thim_status_offset(snapshot),
      NULL, 0 },

    { ngx_null_string, 0, NULL, 0 }
};


static ngx_http_thim_status_metric_t  ngx_http_thim_status_metrics[] = {

    { ngx_string("thim_zone_size_bytes"), ngx_string("gauge"),
      ngx_string("Size of the shared memory zone."),
      ngx_http_thim_status_offset(size), ngx_null_string, NULL, 0 },

    { ngx_string("thim_zone_bytes"), ngx_string("gauge"),
      ngx_string("Zone memory in free pages, and the rest."),
      ngx_http_thim_status_offset(free), ngx_string("state"),
      ngx_http_thim_status_states, 2 },

    { ngx_string("thim_cache_entries"), ngx_string("gauge"),
      ngx_string("Keys in the zone."),
      ngx_http_thim_status_offset(entries), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_record_bytes"), ngx_string("gauge"),
      ngx_string("Bytes of cached records."),
      ngx_http_thim_status_offset(record_bytes), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_hits_total"), ngx_string("counter"),
      ngx_string("Lookups that found a fresh copy."),
      ngx_http_thim_status_offset(hits), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_misses_total"), ngx_string("counter"),
      ngx_string("Lookups that found no fresh copy."),
      ngx_http_thim_status_offset(misses), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_stale_total"), ngx_string("counter"),
      ngx_string("Requests answered with an expired copy."),
      ngx_http_thim_status_offset(stale), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_waits_total"), ngx_string("counter"),
      ngx_string("Requests that waited for another request's fetch."),
      ngx_http_thim_status_offset(waits), ngx_null_string, NULL, 0 },

    { ngx_string("thim_cache_evictions_total"), ngx_string("counter"),
      ngx_string("Entries evicted to make room."),
      ngx_http_thim_status_offset(evictions), ngx_null_string, NULL, 0 },

    { ngx_string("thim_origin_fetches_started_total"), ngx_string("counter"),
      ngx_string("Origin fetches started."),
      ngx_http_thim_status_offset(fetches), ngx_null_string, NULL, 0 },

    { ngx_string("thim_origin_fetches_total"), ngx_string("counter"),
      ngx_string("Origin fetches ended, by result."),
      ngx_http_thim_status_offset(results), ngx_string("result"),
      ngx_http_thim_status_results, NGX_HTTP_THIM_RESULTS },

    { ngx_string("thim_origin_held_off_total"), ngx_string("counter"),
      ngx_string("Origin fetches not sent during a 429 hold-off."),
      ngx_http_thim_status_offset(held_off), ngx_null_string, NULL, 0 },

    { ngx_string("thim_origin_holdoff_until_seconds"), ngx_string("gauge"),
      ngx_string("Unix time until which the origin is not asked, or 0."),
      ngx_http_thim_status_offset(holdoff), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_HOLDOFFS },

    { ngx_string("thim_origin_backoff_keys"), ngx_string("gauge"),
      ngx_string("Keys backing off: their last fetch failed."),
      ngx_http_thim_status_offset(backoff), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_refreshes_total"), ngx_string("counter"),
      ngx_string("Budget tokens taken by refreshes of existing entries."),
      ngx_http_thim_status_offset(budget_refreshes), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_cold_total"), ngx_string("counter"),
      ngx_string("Budget tokens taken by cold keys."),
      ngx_http_thim_status_offset(budget_cold), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_refused_total"), ngx_string("counter"),
      ngx_string("Cold misses answered 503: the request budget was spent."),
      ngx_http_thim_status_offset(budget_refused), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_deferred_total"), ngx_string("counter"),
      ngx_string("Refreshes put off: the request budget was spent."),
      ngx_http_thim_status_offset(budget_deferred), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_tightened_total"), ngx_string("counter"),
      ngx_string("Windows of cold answers mostly 404 (the cold share "
                 "halved)."),
      ngx_http_thim_status_offset(budget_tightened), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_cold_divisor"), ngx_string("gauge"),
      ngx_string("The rate is divided by this for cold keys (1: not "
                 "tightened)."),
      ngx_http_thim_status_offset(budget_cold_divisor), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_origin_budget_tokens"), ngx_string("gauge"),
      ngx_string("Whole tokens in the origin's bucket when last used."),
      ngx_http_thim_status_offset(budget_tokens), ngx_string("origin"),
      ngx_http_thim_status_origins, NGX_HTTP_THIM_ORIGINS },

    { ngx_string("thim_snapshot_written_seconds"), ngx_string("gauge"),
      ngx_string("Unix time the zone's snapshot was last written, or 0."),
      ngx_http_thim_status_offset(snapshot), ngx_null_string, NULL, 0 },

    { ngx_null_string, ngx_null_string, ngx_null_string, 0,
      ngx_null_string, NULL, 0 }
};


char *
ngx_http_thim_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_thim_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_thim_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_thim_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    format, n;
    ngx_chain_t                   out;
    ngx_http_thim_status_zone_t  *zones;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_thim_status_add_header(r, "Allow", "GET, HEAD")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_thim_status_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "only GET and HEAD are served",
                                          NULL);
    }

    if (ngx_http_thim_status_format(r, &format) != NGX_OK) {
        return ngx_http_thim_status_error(r, NGX_HTTP_BAD_REQUEST,
                                          "format must be json or "
                                          "prometheus", "format");
    }

    if (ngx_http_thim_status_snapshot(r, format, &zones, &n) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (format == NGX_HTTP_THIM_STATUS_JSON) {
        b = ngx_http_thim_status_json(r, zones, n);
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        b = ngx_http_thim_status_prometheus(r, zones, n);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");
    }

    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    /* a cached copy of counters would only mislead */
    if (ngx_http_thim_status_add_header(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


/*
 * ?format=json or ?format=prometheus decides; without it, an Accept that
 * names text/plain (as Prometheus's scraper sends) asks for Prometheus,
 * so a scrape job needs no query string.  NGX_DECLINED: unknown format.
 */

static ngx_int_t
ngx_http_thim_status_format(ngx_http_request_t *r, ngx_uint_t *format)
{
    ngx_str_t         value;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_arg(r, (u_char *) "format", sizeof("format") - 1, &value)
        == NGX_OK)
    {
        if (value.len == sizeof("json") - 1
            && ngx_strncmp(value.data, "json", value.len) == 0)
        {
            *format = NGX_HTTP_THIM_STATUS_JSON;
            return NGX_OK;
        }

        if (value.len == sizeof("prometheus") - 1
            && ngx_strncmp(value.data, "prometheus", value.len) == 0)
        {
            *format = NGX_HTTP_THIM_STATUS_PROMETHEUS;
            return NGX_OK;
        }

        return NGX_DECLINED;
    }

    *format = NGX_HTTP_THIM_STATUS_JSON;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Accept") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) == 0
            && ngx_strlcasestrn(h[i].value.data,
                                h[i].value.data + h[i].value.len,
                                (u_char *) "text/plain",
                                sizeof("text/plain") - 2)
               != NULL)
        {
            *format = NGX_HTTP_THIM_STATUS_PROMETHEUS;
            break;
        }
    }

    return NGX_OK;
}


/*
 * The counters are read one by one without the lock, so the set is not
 * one instant (hits and misses of a request in flight may differ by one);
 * that is the price of never making a serving worker wait for a scrape.
 * Only what the cache itself changes under the lock is copied under it.
 */

static ngx_int_t
ngx_http_thim_status_snapshot(ngx_http_request_t *r, ngx_uint_t format,
    ngx_http_thim_status_zone_t **zones, ngx_uint_t *n)
{
    size_t                        value_bytes;
    time_t                        now, holdoff[NGX_HTTP_THIM_HOLDOFFS];
    ngx_uint_t                    i, j, entries, pfree;
    ngx_shm_zone_t              **shm_zones;
    ngx_slab_pool_t              *shpool;
    ngx_http_thim_zone_t         *ctx;
    ngx_http_thim_shctx_t        *sh;
    ngx_http_thim_main_conf_t    *tmcf;
    ngx_http_thim_status_zone_t  *zs;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_thim_module);

    shm_zones = tmcf->zones.elts;
    *n = tmcf->zones.nelts;

    *zones = ngx_pcalloc(r->pool, *n * sizeof(ngx_http_thim_status_zone_t));
    if (*zones == NULL) {
        return NGX_ERROR;
    }

    now = ngx_time();

    for (i = 0; i < *n; i++) {
        zs = &(*zones)[i];
        ctx = shm_zones[i]->data;
        sh = ctx->sh;
        shpool = ctx->shpool;

        if (ngx_http_thim_status_escape(r->pool, &shm_zones[i]->shm.name,
                                        &zs->name, format)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        zs->hits = sh->hits;
        zs->misses = sh->misses;
        zs->stale = sh->stale;
        zs->waits = sh->waits;
        zs->fetches = sh->fetches;
        zs->held_off = sh->held_off;
        zs->evictions = sh->evictions;

        for (j = 0; j < NGX_HTTP_THIM_RESULTS; j++) {
            zs->results[j] = sh->results[j];
        }

        ngx_shmtx_lock(&shpool->mutex);

        entries = sh->entries;
        value_bytes = sh->value_bytes;
        pfree = shpool->pfree;
        ngx_memcpy(holdoff, sh->holdoff, sizeof(holdoff));

        for (j = 0; j < NGX_HTTP_THIM_ORIGINS; j++) {
            zs->backoff[j] = sh->backoff[j];
            ngx_http_thim_status_budget(zs, j, &sh->budget[j]);
        }
        zs->snapshot = (uint64_t) sh->snapshot_time;

        ngx_shmtx_unlock(&shpool->mutex);

        zs->size = shm_zones[i]->shm.size;
        zs->free = (uint64_t) pfree * ngx_pagesize;
        zs->used = zs->size - zs->free;
        zs->entries = entries;
        zs->record_bytes = value_bytes;

        /* a hold-off that has run out is left in place, but is over */
        for (j = 0; j < NGX_HTTP_THIM_HOLDOFFS; j++) {
            zs->holdoff[j] = (holdoff[j] > now) ? (uint64_t) holdoff[j] : 0;
        }
    }

    return NGX_OK;
}


/* zone names come from the configuration and may hold any byte */

static ngx_int_t
ngx_http_thim_status_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst,
    ngx_uint_t format)
{
    size_t   len;
    u_char  *p;

    if (format == NGX_HTTP_THIM_STATUS_JSON) {
        len = ngx_escape_json(NULL, src->data, src->len);

    } else {
        len = ngx_http_thim_status_escape_label(NULL, src->data, src->len);
    }

    if (len == 0) {
        *dst = *src;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, src->len + len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    if (format == NGX_HTTP_THIM_STATUS_JSON) {
        p = (u_char *) ngx_escape_json(dst->data, src->data, src->len);

    } else {
        p = (u_char *) ngx_http_thim_status_escape_label(dst->data, src->data,
                                                         src->len);
    }

    dst->len = p - dst->data;

    return NGX_OK;
}


/*
 * The text format 0.0.4 escapes \, " and newline in a label value.  As
 * ngx_escape_json(): without dst, returns the number of bytes added.
 */

static uintptr_t
ngx_http_thim_status_escape_label(u_char *dst, u_char *src, size_t size)
{
    u_char      ch;
    ngx_uint_t  n;

    if (dst == NULL) {
        n = 0;

        while (size) {
            ch = *src++;

            if (ch == '\\' || ch == '"' || ch == '\n') {
                n++;
            }

            size--;
        }

        return (uintptr_t) n;
    }

    while (size) {
        ch = *src++;

        if (ch == '\\' || ch == '"') {
            *dst++ = '\\';
            *dst++ = ch;

        } else if (ch == '\n') {
            *dst++ = '\\';
            *dst++ = 'n';

        } else {
            *dst++ = ch;
        }

        size--;
    }

    return (uintptr_t) dst;
}


/*
 * {"version":1,"time":T,"zones":{"name":{"size":N,...,"results":{...},
 * ...}}}; the length is an upper bound, and ngx_slprintf() keeps even a
 * wrong bound inside the buffer.
 */

static ngx_buf_t *
ngx_http_thim_status_json(ngx_http_request_t *r,
    ngx_http_thim_status_zone_t *zones, ngx_uint_t n)
{
    size_t                        len;
    u_char                       *p, *last;
    uint64_t                     *v;
    ngx_buf_t                    *b;
    ngx_uint_t                    i, j;
    ngx_http_thim_status_json_t  *f, *fields;

    fields = ngx_http_thim_status_json_fields;

    len = sizeof("{\"version\":1,\"time\":,\"zones\":{}}\n") - 1
          + NGX_TIME_T_LEN;

    for (i = 0; i < n; i++) {
        len += sizeof(",\"\":{}") - 1 + zones[i].name.len;

        for (f = fields; f->name.len; f++) {
            len += sizeof(",\"\":") - 1 + f->name.len;

            if (f->names == NULL) {
                len += NGX_INT64_LEN;
                continue;
            }

            len += sizeof("{}") - 1;

            for (j = 0; j < f->n; j++) {
                len += sizeof(",\"\":") - 1 + f->names[j].len
                       + NGX_INT64_LEN;
            }
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"version\":1,\"time\":%T,\"zones\":{",
                     ngx_time());

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, "%s\"%V\":{", i ? "," : "",
                         &zones[i].name);

        for (f = fields; f->name.len; f++) {
            v = ngx_http_thim_status_values(&zones[i], f->offset);

            p = ngx_slprintf(p, last, "%s\"%V\":", (f == fields) ? "" : ",",
                             &f->name);

            if (f->names == NULL) {
                p = ngx_slprintf(p, last, "%uL", v[0]);
                continue;
            }

            for (j = 0; j < f->n; j++) {
                p = ngx_slprintf(p, last, "%c\"%V\":%uL", j ? ',' : '{',
                                 &f->names[j], v[j]);
            }

            p = ngx_slprintf(p, last, "}");
        }

        p = ngx_slprintf(p, last, "}");
    }

    b->last = ngx_slprintf(p, last, "}}\n");

    return b;
}


/*
 * The text exposition format 0.0.4: a family's HELP and TYPE, then its
 * samples for every zone (a family must not be split up).
 */

static ngx_buf_t *
ngx_http_thim_status_prometheus(ngx_http_request_t *r,
    ngx_http_thim_status_zone_t *zones, ngx_uint_t n)
{
    size_t                          len, sample;
    u_char                         *p, *last;
    uint64_t                       *v;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, j;
    ngx_http_thim_status_metric_t  *m;

    len = 0;

    for (m = ngx_http_thim_status_metrics; m->name.len; m++) {
        len += sizeof("# HELP  \n# TYPE  \n") - 1
               + 2 * m->name.len + m->help.len + m->type.len;

        for (i = 0; i < n; i++) {
            sample = m->name.len + sizeof("{zone=\"\"} \n") - 1
                     + zones[i].name.len + NGX_INT64_LEN;

            if (m->names == NULL) {
                len += sample;
                continue;
            }

            for (j = 0; j < m->n; j++) {
                len += sample + sizeof(",=\"\"") - 1
                       + m->label.len + m->names[j].len;
            }
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    for (m = ngx_http_thim_status_metrics; m->name.len; m++) {
        p = ngx_slprintf(p, last, "# HELP %V %V\n# TYPE %V %V\n",
                         &m->name, &m->help, &m->name, &m->type);

        for (i = 0; i < n; i++) {
            v = ngx_http_thim_status_values(&zones[i], m->offset);

            if (m->names == NULL) {
                p = ngx_slprintf(p, last, "%V{zone=\"%V\"} %uL\n",
                                 &m->name, &zones[i].name, v[0]);
                continue;
            }

            for (j = 0; j < m->n; j++) {
                p = ngx_slprintf(p, last, "%V{zone=\"%V\",%V=\"%V\"} %uL\n",
                                 &m->name, &zones[i].name, &m->label,
                                 &m->names[j], v[j]);
            }
        }
    }

    b->last = p;

    return b;
}


static ngx_int_t
ngx_http_thim_status_add_header(ngx_http_request_t *r, char *name,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.len = ngx_strlen(name);
    h->key.data = (u_char *) name;
    h->value.len = ngx_strlen(value);
    h->value.data = (u_char *) value;

    return NGX_OK;
}


/*
 * The module's JSON errors, with Request-ID and Error-Code, as thim_intel
 * sends them; this ctx carries only what ngx_http_thim_send_error() reads.
 */

static ngx_int_t
ngx_http_thim_status_error(ngx_http_request_t *r, ngx_uint_t status,
    char *reason, char *parameter)
{
    ngx_http_thim_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->cache_status = NGX_HTTP_THIM_CACHE_NONE;
     *     ctx->retry_after = 0;
     */

    ctx->request = r;
    ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);

    if (ngx_http_thim_request_id(r, &ctx->request_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_send_error(r, ctx, status, reason, parameter);
}


/* an origin's request budget, under the zone's lock */

static void
ngx_http_thim_status_budget(ngx_http_thim_status_zone_t *zs,
    ngx_uint_t origin, ngx_http_thim_budget_t *b)
{
    zs->budget_refreshes[origin] = b->refreshes;
    zs->budget_cold[origin] = b->cold;
    zs->budget_refused[origin] = b->refused;
    zs->budget_deferred[origin] = b->deferred;
    zs->budget_tightened[origin] = b->tightened;
    zs->budget_cold_divisor[origin] = (uint64_t) 1 << b->shift;
    zs->budget_tokens[origin] = b->tokens / 1000;
}
