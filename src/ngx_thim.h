
/*
 * ngx_thim: shared types of the module.
 *
 * Request path: a route handler (ngx_thim_intel.c) validates the request
 * and derives a canonical cache key plus the origin request; the serving
 * core (ngx_thim_fetch.c) answers from the shared cache
 * (ngx_thim_cache.c), fetching through an in-memory subrequest to an
 * operator-configured internal proxy_pass location when needed; responses
 * are written by ngx_thim_response.c.
 */


#ifndef _NGX_THIM_H_INCLUDED_
#define _NGX_THIM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_thim_record.h"
#include "ngx_thim_budget.h"


/*
 * $thim_cache_status values.  proxy_cache's EXPIRED (an expired copy
 * refetched in the foreground) and BYPASS have no counterpart here: an
 * expired copy is always answered at once (UPDATING, STALE), and nothing
 * bypasses the zone.
 */
#define NGX_HTTP_THIM_CACHE_NONE       0
#define NGX_HTTP_THIM_CACHE_HIT        1
#define NGX_HTTP_THIM_CACHE_MISS       2
#define NGX_HTTP_THIM_CACHE_STALE      3
#define NGX_HTTP_THIM_CACHE_UPDATING   4


/* origins the module fetches from; each has its own 429 hold-off */
#define NGX_HTTP_THIM_ORIGIN_INTEL       0
#define NGX_HTTP_THIM_ORIGIN_INTEL_ROOT  1
#define NGX_HTTP_THIM_ORIGIN_AMD         2
#define NGX_HTTP_THIM_ORIGINS            3

/*
 * 429 hold-offs: one per origin, and one of its own for Intel's routes
 * limited by the API key (pckcert, pckcerts), so that their limit never
 * holds back the TCB infos, identities and CRLs that need no key.
 */
#define NGX_HTTP_THIM_HOLDOFF_INTEL_KEY  NGX_HTTP_THIM_ORIGINS
#define NGX_HTTP_THIM_HOLDOFFS           (NGX_HTTP_THIM_ORIGINS + 1)

#define ngx_http_thim_route_holdoff(route)                                    \
    ((route)->api_key ? NGX_HTTP_THIM_HOLDOFF_INTEL_KEY : (route)->origin)


/* the form a stored body is served in (CRLs are stored as DER) */
#define NGX_HTTP_THIM_FORM_STORED      0
#define NGX_HTTP_THIM_FORM_PEM         1
#define NGX_HTTP_THIM_FORM_HEX         2


#define NGX_HTTP_THIM_CHAIN_NAMES      2

/* the cache key family of PCK certificate sets (ngx_thim_pckcert.c) */
#define NGX_HTTP_THIM_PCK_SET_TAG      "intel-pck:"
#define NGX_HTTP_THIM_PCK_TCB_TAG      "intel-pck-tcb:"

/* other origin headers a route keeps with the body (SGX-FMSPC, ...) */
#define NGX_HTTP_THIM_KEEP_HEADERS     2

/* which tcbEvaluationDataNumber a request without one is served */
#define NGX_HTTP_THIM_BASELINE_LATEST  0        /* Intel's, by update= */
#define NGX_HTTP_THIM_BASELINE_FIXED   1        /* this number */
#define NGX_HTTP_THIM_BASELINE_BEHIND  2        /* so many behind latest */


/* AMD products with their own ARK: Milan, Genoa, Turin */
#define NGX_HTTP_THIM_AMD_PRODUCTS     3


/* an AMD product's trust: its ARK (pinned) and the ASK the ARK signed */
typedef struct {
    X509                      *ark;
    X509                      *ask;
} ngx_http_thim_amd_trust_t;


typedef struct ngx_http_thim_ctx_s    ngx_http_thim_ctx_t;
typedef struct ngx_http_thim_fetch_s  ngx_http_thim_fetch_t;
typedef struct ngx_http_thim_route_s  ngx_http_thim_route_t;


/*
 * Checks an origin answer before it may enter the cache and finds its
 * nextUpdate.  Returns NGX_OK, or NGX_DECLINED with *reason set (the
 * answer is then refused: never cached, never served).
 */
typedef ngx_int_t (*ngx_http_thim_check_pt)(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);


/*
 * Called with the request's record when it is ready, instead of sending
 * it: a request made of several collateral (Azure's THIM JSON: a VCEK and
 * its chain) takes what it needs and serves the next key, or answers.
 */
typedef ngx_int_t (*ngx_http_thim_next_pt)(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);


/* what the module knows about one kind of collateral */
struct ngx_http_thim_route_s {
    ngx_str_t                  name;            /* for logs */
    ngx_uint_t                 origin;          /* NGX_HTTP_THIM_ORIGIN_* */
    ngx_str_t                  content_type;    /* of the stored body */
    ngx_str_t                  chain_in;        /* origin's chain header */
    ngx_str_t                  chain_out[NGX_HTTP_THIM_CHAIN_NAMES];
    ngx_http_thim_check_pt     check;
    ngx_uint_t                 immutable;       /* never changes for its
                                                   URL: kept until expiry */
    ngx_str_t                  keep[NGX_HTTP_THIM_KEEP_HEADERS];
    ngx_uint_t                 api_key;         /* the origin wants Intel's
                                                   API key; the query
                                                   identifies a machine */
};


/* the end of a route that keeps no other header and needs no API key */
#define ngx_http_thim_route_plain  { ngx_null_string, ngx_null_string }, 0


typedef struct {
    ngx_array_t                zones;           /* of ngx_shm_zone_t * */
    ngx_uint_t                 no_key_warned;   /* once per configuration */
    ngx_array_t               *notes;           /* of ngx_http_thim_note_t:
                                                   ngx_thim_conf_check.c */
} ngx_http_thim_main_conf_t;


typedef struct {
    ngx_shm_zone_t            *zone;
    ngx_str_t                  intel_origin;
    ngx_str_t                  intel_root_origin;
    ngx_str_t                  intel_root_chain;  /* pct-encoded PEM */
    ngx_str_t                  intel_api_key;   /* for pckcert(s) only */
    X509                      *intel_root;      /* the trust anchor */
    ngx_str_t                  amd_origin;
    ngx_uint_t                 amd_max_fetches;
    ngx_uint_t                 intel_max_fetches;
    ngx_http_thim_rate_t       origin_rate[NGX_HTTP_THIM_ORIGINS];
                                                /* thim_origin_rate */
    ngx_http_complex_value_t  *amd_platform_id;  /* Azure's AMD forms */
    ngx_http_complex_value_t  *amd_tcb_version;
    ngx_http_complex_value_t  *amd_product;
    ngx_http_thim_amd_trust_t  amd_trust[NGX_HTTP_THIM_AMD_PRODUCTS];
    ngx_msec_t                 fetch_timeout;
    ngx_msec_t                 backoff_min;     /* thim_fetch_backoff */
    ngx_msec_t                 backoff_max;
    time_t                     valid_min;
    time_t                     valid_max;
    time_t                     negative_valid;
    time_t                     next_update_grace;  /* -1: off */
    ngx_int_t                  baseline;        /* thim_intel_baseline: */
    ngx_uint_t                 baseline_kind;   /* NGX_HTTP_THIM_BASELINE_* */
    ngx_uint_t                 update_early;    /* thim_intel_update */
    ngx_uint_t                 eval_min;        /* thim_intel_eval_override */
    ngx_uint_t                 eval_max;        /*   0 0: refused */
    ngx_flag_t                 intel;           /* thim_intel here */
    ngx_str_t                  handler_file;    /* thim_intel, thim_amd, ...
                                                   at this file */
    ngx_uint_t                 handler_line;    /*   and line */
    ngx_flag_t                 amd;             /* thim_amd here */
    ngx_flag_t                 amd_azure;       /* thim_amd_azure here */
    ngx_str_t                  pccs_user_hash;  /* thim_pccs_user_token_hash:
                                                   SHA-512 hex, lower case */
    ngx_str_t                  pccs_admin_hash; /* thim_pccs_admin_token_hash */
    ngx_flag_t                 pccs_offline;    /* thim_pccs_offline */
} ngx_http_thim_loc_conf_t;


/*
 * One origin fetch of one key (ngx_thim_fetch.c): created when a request
 * takes the key's lease, it owns the lease (its token), the subrequest
 * and its deadline, and the configuration captured when it started, as
 * nginx's upstream keeps u->conf.  Its memory is the pool of the request
 * that started it, which it keeps alive until the origin answered: a
 * client that goes away neither ends nor fails it.
 */
struct ngx_http_thim_fetch_s {
    ngx_http_thim_ctx_t       *ctx;             /* the key: route, key,
                                                   what the checks expect;
                                                   the outcome for a
                                                   foreground fetch */
    ngx_http_request_t        *request;         /* that started it */
    ngx_http_request_t        *subrequest;
    ngx_http_thim_loc_conf_t  *conf;            /* captured at the start */
    ngx_shm_zone_t            *zone;
    ngx_str_t                  key;
    ngx_uint_t                 lease;           /* its token in the zone */
    ngx_uint_t                 origin;          /* NGX_HTTP_THIM_ORIGIN_* */
    ngx_msec_t                 deadline;        /* lease renewed until the
                                                   subrequest ends */
    ngx_event_t                renew;

    unsigned                   background:1;    /* nobody waits on it here */
    unsigned                   running:1;       /* subrequest posted */
    unsigned                   done:1;          /* outcome known */
    unsigned                   oversized:1;     /* the answer did not fit
                                                   in memory: dropped */
};


struct ngx_http_thim_ctx_s {
    ngx_http_request_t        *request;         /* NULL for a re-check */
    ngx_pool_t                *pool;            /* the parsers' and the
                                                   checks' allocations:
                                                   the request's, or the
                                                   re-check's */
    ngx_http_thim_loc_conf_t  *conf;            /* the location's, or the
                                                   zone's registered one
                                                   (thim_refresh) */
    const ngx_http_thim_route_t  *route;

    ngx_shm_zone_t            *zone;
    ngx_str_t                  key;             /* canonical cache key */
    ngx_str_t                  origin_uri;      /* subrequest URI */
    ngx_str_t                  origin_args;     /* canonical origin query */
    ngx_str_t                  origin_body;     /* a POST's JSON body (PCS
                                                   pckcerts with a platform
                                                   manifest), or empty */
    ngx_str_t                  subject;         /* what the body must name,
                                                   e.g. the FMSPC */
    ngx_str_t                  chain;           /* the origin's issuer
                                                   chain header, as sent */
    ngx_str_t                  kept[NGX_HTTP_THIM_KEEP_HEADERS];
                                                /* route->keep, as sent */
    void                      *expect;          /* what the route's check
                                                   expects of the body */
    ngx_str_t                  request_id;

    /* how this request wants the stored body */
    ngx_uint_t                 form;            /* NGX_HTTP_THIM_FORM_* */
    ngx_str_t                  form_type;       /* its content type */
    unsigned                   root_chain:1;    /* add the root CA header */

    /* a miss answers 404: there is nothing to fetch with (a pckcert
       request without an encrypted PPID) */
    unsigned                   cache_only:1;
    char                      *miss_reason;

    ngx_uint_t                 cache_status;    /* NGX_HTTP_THIM_CACHE_* */

    ngx_http_thim_next_pt      next;            /* NULL: send the record */
    unsigned                   next_on_missing:1;  /* next also gets the
                                                   origin's 404 record */
    void                      *data;            /* for next */

    /* the record to send: in the zone (pinned) or in the request pool */
    ngx_http_thim_record_t     record;
    time_t                     expires;
    void                      *pin;             /* ngx_http_thim_value_t */
    unsigned                   have_record:1;

    /* the outcome of our own origin fetch */
    ngx_http_thim_fetch_t     *fetch;           /* of this key, or NULL */
    time_t                     next_update;     /* of what it brought */
    ngx_uint_t                 fetch_status;
    char                      *fetch_reason;    /* why it was refused */
    time_t                     retry_after;
    unsigned                   key_refused:1;   /* 401/403: the API key */
    unsigned                   fetch_done:1;    /* the checks run on an
                                                   origin answer now */
    unsigned                   fetched_record:1;  /* record is the fetch's */

    /* what an upper tier said of its copy (ngx_thim_tier.c) */
    time_t                     tier_ttl;        /* freshness left there */
    unsigned                   tier_capped:1;   /* tier_ttl bounds ours */
    unsigned                   tier_stale:1;    /* expired there */

    unsigned                   cleanup_added:1;
    unsigned                   parked:1;
    unsigned                   waiting:1;

    /* waiting for a fetch that another request owns */
    ngx_event_t                wait;
    ngx_msec_t                 wait_deadline;
    ngx_uint_t                 wait_seq;
    void                      *wake_key;        /* woken when the fetch
                                                   lands (ngx_thim_wake.c) */
    ngx_queue_t                wake_link;
};


ngx_int_t ngx_http_thim_check_crl(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update);


extern ngx_module_t  ngx_http_thim_module;


#endif /* _NGX_THIM_H_INCLUDED_ */
