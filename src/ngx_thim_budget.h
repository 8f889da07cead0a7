
/*
 * ngx_thim: a request budget per origin (thim_origin_rate).
 *
 * A token bucket in the zone, one per origin, shared by every worker and
 * changed under the zone's lock (ngx_thim_cache.c).  Refreshes of
 * entries that exist come first: a part of the bucket (its reserve) is
 * theirs alone, and a cold key (no record, or only a 404) takes a token
 * only above it.  A burst of cold keys answered 404 tightens the cold
 * share: each window of answers mostly negative halves the rate cold
 * keys may take tokens at, and a window mostly positive restores it.  Pure: no nginx
 * runtime, so t/unit links it.
 */


#ifndef _NGX_THIM_BUDGET_H_INCLUDED_
#define _NGX_THIM_BUDGET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* cold keys are slowed to at most 1 / (1 << this) of the rate */
#define NGX_HTTP_THIM_BUDGET_MAX_SHIFT    6

/* a window of cold answers is judged once it has this many, */
#define NGX_HTTP_THIM_BUDGET_WINDOW_MIN   4
/* and lasts at least this long (ms); one older than _STALE is dropped */
#define NGX_HTTP_THIM_BUDGET_WINDOW       1000
#define NGX_HTTP_THIM_BUDGET_WINDOW_STALE 60000


/* thim_origin_rate: the configured rate of one origin */
typedef struct {
    ngx_uint_t                 rate;       /* requests per 1000 s, i.e.
                                              r/s * 1000; 0: unlimited */
    ngx_uint_t                 burst;      /* tokens the bucket holds */
} ngx_http_thim_rate_t;


/* one origin's bucket, in the zone, under its lock */
typedef struct {
    ngx_uint_t                 tokens;     /* in thousandths of a token */
    ngx_msec_t                 refilled;   /* ngx_current_msec */
    ngx_uint_t                 started;    /* tokens and refilled set */
    ngx_uint_t                 shift;      /* cold keys get 1 token in
                                              1 << shift */
    ngx_msec_t                 cold_next;  /* no cold key before this */

    ngx_msec_t                 window;     /* start of the answer window */
    ngx_uint_t                 negative;   /* cold answers in it: 404 */
    ngx_uint_t                 positive;   /*   and 200 */

    /* for thim_status */
    ngx_uint_t                 rate;       /* as last configured */
    ngx_uint_t                 burst;
    ngx_uint_t                 refreshes;  /* tokens taken by refreshes */
    ngx_uint_t                 cold;       /*   by cold keys */
    ngx_uint_t                 refused;    /* cold misses refused (503) */
    ngx_uint_t                 deferred;   /* refreshes put off */
    ngx_uint_t                 tightened;  /* windows that halved the
                                              cold share */
} ngx_http_thim_budget_t;


ngx_msec_t ngx_http_thim_budget_take(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_uint_t cold, ngx_msec_t now);
void ngx_http_thim_budget_give_back(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_uint_t cold);
void ngx_http_thim_budget_answer(ngx_http_thim_budget_t *b,
    ngx_uint_t negative, ngx_msec_t now);
ngx_int_t ngx_http_thim_budget_parse_rate(ngx_str_t *value,
    ngx_uint_t *rate);


#endif /* _NGX_THIM_BUDGET_H_INCLUDED_ */
