
/*
 * ngx_thim: what outlives the zone.  A snapshot file (ngx_thim_snapshot.c)
 * written by one elected worker and loaded when the zone is created, and
 * a bundle (ngx_thim_seed.c, docs/bundle.md) loaded after it.  Nothing
 * read back is trusted: every record is re-checked from its key exactly
 * as an origin answer to that key would be (ngx_thim_persist.c).
 */


#ifndef _NGX_THIM_PERSIST_H_INCLUDED_
#define _NGX_THIM_PERSIST_H_INCLUDED_


#include "ngx_thim.h"
#include "ngx_thim_cache.h"


/* the largest body a bundle entry or a snapshot record may have */
#define NGX_HTTP_THIM_PERSIST_MAX_BODY   (4 * 1024 * 1024)

/* the snapshot files (ngx_thim_snapshot.c) */
#define NGX_HTTP_THIM_SNAPSHOT_MAGIC     "THIMSNAP"
#define NGX_HTTP_THIM_JOURNAL_MAGIC      "THIMJRNL"
#define NGX_HTTP_THIM_SNAPSHOT_VERSION   2
#define NGX_HTTP_THIM_SNAPSHOT_HEADER    32
#define NGX_HTTP_THIM_SNAPSHOT_HEADER_V1 24
#define NGX_HTTP_THIM_SNAPSHOT_MARKER    "THRC"
#define NGX_HTTP_THIM_SNAPSHOT_FIXED     48      /* record before the key */
#define NGX_HTTP_THIM_SNAPSHOT_MODE      0600
#define NGX_HTTP_THIM_MAX_KEY_LEN        65535

/* how much of a query a log line shows (ngx_http_thim_persist_show()) */
#define NGX_HTTP_THIM_PERSIST_LOG_QUERY  64


struct ngx_http_thim_persist_s {
    ngx_shm_zone_t            *shm_zone;
    ngx_str_t                  snapshot;       /* file, NUL-terminated */
    ngx_str_t                  snapshot_tmp;   /* file.tmp */
    ngx_msec_t                 interval;       /* snapshot_interval */
    ngx_str_t                  seed;           /* bundle directory */

    /* the locations whose configuration re-checks records, see below */
    ngx_http_thim_loc_conf_t  *intel;
    ngx_http_thim_loc_conf_t  *amd;

    ngx_event_t                timer;          /* in a worker */

    /* the writer, in the worker that holds the lease (ngx_thim_snapshot.c) */
    ngx_str_t                  journal;        /* file.journal */
    ngx_str_t                  journal_tmp;    /* file.journal.tmp */
    ngx_uint_t                 run;            /* NGX_HTTP_THIM_RUN_* */
    ngx_fd_t                   jfd;            /* the journal, appending */
    uint64_t                   jid;            /* the base it extends */
    ngx_fd_t                   cfd;            /* a compaction's file.tmp */
    uint64_t                   id;             /* the base it makes */
    ngx_str_t                  cursor;         /* its place in the zone */
    ngx_uint_t                 upto;           /* changes it holds */
    ngx_uint_t                 removed;        /* sh->removed it began at */
    u_char                    *key;            /* a record's key, copied */
    ngx_uint_t                 records;        /* of this run */
    off_t                      bytes;
    ngx_msec_t                 started;

    /* the background load (ngx_thim_snapshot_load.c) */
    ngx_event_t                load_timer;
    void                      *loader;
    void                      *seed_index;     /* the bundle's index.json,
                                                  parsed (json_t) */

    /* refresh ahead of expiry (ngx_thim_refresh.c) */
    ngx_addr_t                 refresh_addr;   /* the loopback listener */
    ngx_str_t                  refresh_uri;    /* its thim_refresh URI */
    ngx_msec_t                 refresh_interval;
    ngx_event_t                refresh_timer;
    void                      *sweep;          /* the one under way */
};


/* a record to be re-checked, from a snapshot or a bundle */
typedef struct {
    ngx_uint_t                 origin;         /* NGX_HTTP_THIM_ORIGIN_* */
    ngx_uint_t                 family;         /* NGX_HTTP_THIM_KEY_*, of a
                                                  key read back */
    ngx_str_t                  path;           /* origin path */
    ngx_str_t                  query;          /* origin query, or empty */
    ngx_str_t                  body;
    ngx_str_t                  chain;          /* the issuer chain header */
    ngx_http_thim_record_t    *headers;        /* the origin's other kept
                                                  headers, or NULL */
    ngx_str_t                  qeid;           /* a bundle's pckcerts:
                                                  the platform's QE ID */

    /* out */
    ngx_http_thim_ctx_t       *ctx;            /* route, key, ... */
    ngx_str_t                  alt_key;        /* also found under this
                                                  key, if not empty */
    ngx_http_thim_record_t     record;         /* what a fetch would store */
    time_t                     next_update;
    char                      *reason;         /* why it was refused */
} ngx_http_thim_recheck_t;


ngx_int_t ngx_http_thim_persist_zone_param(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_thim_persist_t **persist);
ngx_int_t ngx_http_thim_persist_bind(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone,
    ngx_http_thim_persist_t *persist);
ngx_int_t ngx_http_thim_persist_register(ngx_conf_t *cf,
    ngx_http_thim_loc_conf_t *tlcf);
ngx_int_t ngx_http_thim_persist_init_process(ngx_cycle_t *cycle);
void ngx_http_thim_persist_exit_process(ngx_cycle_t *cycle);

ngx_int_t ngx_http_thim_persist_origin(ngx_str_t *key,
    ngx_http_thim_recheck_t *rc);
ngx_int_t ngx_http_thim_persist_recheck(ngx_http_thim_persist_t *persist,
    ngx_pool_t *pool, ngx_http_thim_recheck_t *rc);
void ngx_http_thim_persist_show(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *shown);
ngx_int_t ngx_http_thim_persist_read(ngx_str_t *name, ngx_pool_t *pool,
    size_t max, ngx_str_t *data, ngx_log_t *log);
ngx_int_t ngx_http_thim_persist_elect(ngx_http_thim_zone_t *ctx,
    ngx_pid_t *owner, ngx_msec_t *lease, ngx_msec_t ms);
void ngx_http_thim_persist_resign(ngx_http_thim_zone_t *ctx,
    ngx_pid_t *owner);
ngx_msec_t ngx_http_thim_persist_now(void);

/* ngx_thim_snapshot.c */
void ngx_http_thim_snapshot_timer(ngx_event_t *ev);
void ngx_http_thim_snapshot_exit(ngx_http_thim_persist_t *persist,
    ngx_log_t *log);
u_char *ngx_http_thim_put_le(u_char *p, uint64_t v, ngx_uint_t n);
uint64_t ngx_http_thim_get_le(u_char *p, ngx_uint_t n);

/* ngx_thim_snapshot_load.c */
void ngx_http_thim_snapshot_load_init(ngx_http_thim_persist_t *persist);
void ngx_http_thim_snapshot_load_timer(ngx_event_t *ev);
void ngx_http_thim_snapshot_load_exit(ngx_http_thim_persist_t *persist);

/* ngx_thim_refresh.c */
void ngx_http_thim_refresh_timer(ngx_event_t *ev);
void ngx_http_thim_refresh_stop(ngx_http_thim_persist_t *persist);
ngx_int_t ngx_http_thim_refresh_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_thim_refresh_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *key, char **reason);

/* ngx_thim_seed.c */
ngx_int_t ngx_http_thim_seed_step(ngx_http_thim_persist_t *persist,
    ngx_msec_t until, ngx_log_t *log);
void ngx_http_thim_seed_close(ngx_http_thim_persist_t *persist);


#endif /* _NGX_THIM_PERSIST_H_INCLUDED_ */
