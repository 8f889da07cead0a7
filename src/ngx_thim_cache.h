
/*
 * ngx_thim: the shared-memory collateral cache.
 *
 * One zone holds a hash table of entries keyed by the canonical cache
 * key, an LRU queue per class, and per-entry fetch state.  A request is
 * answered straight from the zone: the record it sends is pinned (a count
 * under the lock) until the request ends, so the lock is held for a
 * lookup only, never for a copy.  The fetch state is a lease (owner pid +
 * token + deadline) that makes a cache miss, in any worker, cause a
 * single origin fetch: the request that takes the lease fetches, every
 * other request waits for the fetch generation (seq) to move on, and is
 * woken when it does (ngx_thim_wake.c).
 */


#ifndef _NGX_THIM_CACHE_H_INCLUDED_
#define _NGX_THIM_CACHE_H_INCLUDED_


#include "ngx_thim.h"
#include "ngx_thim_wake.h"


/* the most concurrent fetches an origin can be bounded to */
#define NGX_HTTP_THIM_MAX_FETCH_SLOTS    16


/*
 * Eviction classes, in the order they are evicted: what costs nothing to
 * lose goes first, and a stale real record, the only answer while its
 * origin is down, goes last.  One LRU queue per class.
 */
#define NGX_HTTP_THIM_CLASS_EMPTY        0   /* no record (yet) */
#define NGX_HTTP_THIM_CLASS_NEGATIVE     1   /* an origin 404 */
#define NGX_HTTP_THIM_CLASS_DERIVED      2   /* made from other records */
#define NGX_HTTP_THIM_CLASS_FRESH        3   /* real collateral */
#define NGX_HTTP_THIM_CLASS_STALE        4   /* real, past its expiry */
#define NGX_HTTP_THIM_CLASSES            5


/* what ngx_http_thim_cache_lookup() and _poll() found */
typedef enum {
    NGX_HTTP_THIM_FOUND_FRESH = 0,   /* fresh record copied */
    NGX_HTTP_THIM_FOUND_STALE,       /* stale record copied; a fetch runs
                                        elsewhere (lk->updating), or none
                                        may (back-off, hold-off) */
    NGX_HTTP_THIM_FOUND_REFRESH,     /* stale record copied; we own a fetch */
    NGX_HTTP_THIM_FOUND_MISS,        /* no record; we own a fetch */
    NGX_HTTP_THIM_FOUND_WAIT,        /* no record; a fetch runs elsewhere */
    NGX_HTTP_THIM_FOUND_FAILED,      /* no record; the awaited fetch failed,
                                        or the key is backing off after
                                        a failure */
    NGX_HTTP_THIM_FOUND_HELD_OFF     /* no record; the origin said 429 */
} ngx_http_thim_found_e;


/*
 * A record in the zone, pinned by the requests that send it.  "state" is
 * two per pin plus one once the record is retired (replaced or evicted):
 * a pin is taken under the lock, while the record is still its entry's,
 * and given back with one atomic add, without the lock; whoever leaves
 * the state at exactly "retired, no pin" (the retiring operation or the
 * last unpin) frees the record, so exactly one does.
 */

#define NGX_HTTP_THIM_VALUE_PIN        2
#define NGX_HTTP_THIM_VALUE_RETIRED    1

typedef struct {
    ngx_atomic_t               state;
    size_t                     len;
    u_char                     data[1];
} ngx_http_thim_value_t;


typedef struct {
    ngx_http_thim_found_e      found;
    ngx_uint_t                 origin;         /* NGX_HTTP_THIM_ORIGIN_* */
    ngx_uint_t                 holdoff;        /* NGX_HTTP_THIM_HOLDOFF_* */
    u_char                    *value;          /* the record's bytes */
    size_t                     value_len;
    ngx_http_thim_value_t     *pin;            /* to unpin, or NULL */
    time_t                     expires;
    ngx_uint_t                 seq;            /* fetch generation seen */
    ngx_uint_t                 lease;          /* the lease taken (MISS,
                                                  REFRESH, refresh): its
                                                  token, else 0 */
    ngx_uint_t                 fail_status;    /* with FAILED */
    ngx_uint_t                 fail_why;       /* with FAILED: the
                                                  fetcher's refusal, or 0 */
    size_t                     fail_size;      /* the size it names */
    time_t                     retry_after;    /* with HELD_OFF, FAILED */
    ngx_uint_t                 max_fetches;    /* the origin's concurrent
                                                  fetches; 0: unbounded */
    ngx_http_thim_rate_t      *rate;           /* its request budget, or
                                                  NULL: none */
    time_t                     grace;          /* past nextUpdate + grace
                                                  a record is not served;
                                                  -1: always served */
    ngx_msec_t                 backoff_min;    /* thim_fetch_backoff */
    ngx_msec_t                 backoff_max;
    time_t                     backoff;        /* seconds the key still
                                                  backs off, or 0 */
    unsigned                   refresh:1;      /* FRESH, and we own a
                                                  refresh ahead of expiry */
    unsigned                   origin_failing:1; /* the hold-off is the
                                                  origin's back-off */
    unsigned                   updating:1;     /* a fetch of the key is
                                                  under way elsewhere */
    unsigned                   budget:1;       /* HELD_OFF: the origin's
                                                  request budget is spent */
    unsigned                   slot_wait:1;    /* WAIT: for a fetch slot
                                                  of the origin, not for
                                                  a fetch of the key */
} ngx_http_thim_lookup_t;


/*
 * What the waiters for a bounded origin's fetch slot wait on, in the
 * workers' tables of waiters (ngx_thim_wake.c): a "key hash" of its own
 * per origin.  A real key with the same crc32 only costs its waiters a
 * look at the zone for nothing.
 */
#define NGX_HTTP_THIM_SLOT_HASH(origin)  ((uint32_t) 0xfffffff0 + (origin))


/* how origin fetches ended, for the status endpoint */
/* an origin that failed this many fetches in a row, whatever their keys,
   backs off as a whole (ngx_http_thim_cache_origin_result()) */
#define NGX_HTTP_THIM_ORIGIN_FAILS       3


#define NGX_HTTP_THIM_RESULT_OK          0   /* 200, checked, stored */
#define NGX_HTTP_THIM_RESULT_NOT_FOUND   1   /* 404 */
#define NGX_HTTP_THIM_RESULT_GONE        2   /* 410 */
#define NGX_HTTP_THIM_RESULT_RATE_LIMITED 3  /* 429 */
#define NGX_HTTP_THIM_RESULT_ERROR       4   /* 5xx, refused or dropped */
#define NGX_HTTP_THIM_RESULT_TIMEOUT     5   /* the proxy timed out */
#define NGX_HTTP_THIM_RESULT_INVALID     6   /* a 200 refused by the checks */
#define NGX_HTTP_THIM_RESULTS            7


/* the background load's progress, shared: a worker that dies mid-way
   leaves it to another (ngx_thim_snapshot_load.c) */
typedef struct {
    ngx_uint_t                 stage;          /* 0: nothing (left) */
    ngx_pid_t                  owner;
    ngx_msec_t                 lease;          /* wall clock, ms */
    off_t                      offset;         /* in the stage's file */
    off_t                      end[2];         /* base and journal sizes
                                                  when the load began */
    uint64_t                   id;             /* the base's id */
    ngx_msec_t                 started;        /* wall clock, ms */
    ngx_uint_t                 loaded;
    ngx_uint_t                 corrupt;
    ngx_uint_t                 refused;
    ngx_uint_t                 skipped;
    ngx_atomic_uint_t          evicted;        /* sh->evictions at start */

    /* the bundle's seeding, entry by entry (ngx_thim_seed.c) */
    ngx_uint_t                 seed_pass;      /* 0: root CRLs, 1: others */
    ngx_uint_t                 seed_next;      /* the index's next entry */
    ngx_msec_t                 seed_started;   /* wall clock, ms; 0: not */
    ngx_atomic_uint_t          seed_evicted;
    ngx_uint_t                 seed_loaded;
    ngx_uint_t                 seed_skipped;   /* bad, or not served */
    ngx_uint_t                 seed_kept;      /* a newer copy was cached */
} ngx_http_thim_load_t;


typedef struct {
    void                     **buckets;       /* the entries by hash */
    ngx_uint_t                 bucket_mask;
    ngx_queue_t                lru[NGX_HTTP_THIM_CLASSES];

    /* under the lock */
    ngx_uint_t                 entries;
    size_t                     value_bytes;
    time_t                     holdoff[NGX_HTTP_THIM_HOLDOFFS];  /* 429 */
    ngx_uint_t                 backoff[NGX_HTTP_THIM_ORIGINS];  /* keys
                                                   whose last fetch failed */
    ngx_uint_t                 origin_fails[NGX_HTTP_THIM_HOLDOFFS];
                                              /* fetches in a row that
                                                 failed, across keys */
    ngx_msec_t                 origin_backoff[NGX_HTTP_THIM_HOLDOFFS];
                                              /* ngx_current_msec, 0: none */

    /* fetches under way per bounded origin: lease deadlines, 0 free */
    ngx_msec_t                 slots[NGX_HTTP_THIM_ORIGINS]
                                    [NGX_HTTP_THIM_MAX_FETCH_SLOTS];
    ngx_uint_t                 slot_lease[NGX_HTTP_THIM_ORIGINS]
                                         [NGX_HTTP_THIM_MAX_FETCH_SLOTS];
    uint64_t                   slot_waiters[NGX_HTTP_THIM_ORIGINS];
                                              /* workers whose requests
                                                 wait for a slot */
    ngx_uint_t                 lease_gen;     /* the last lease token */

    /* request budgets (thim_origin_rate, ngx_thim_budget.c) */
    ngx_http_thim_budget_t     budget[NGX_HTTP_THIM_ORIGINS];

    /* updated without the lock, as stub_status does */
    ngx_atomic_t               hits;          /* fresh from the zone */
    ngx_atomic_t               misses;        /* no usable copy */
    ngx_atomic_t               stale;         /* expired copy served */
    ngx_atomic_t               waits;         /* waited on another fetch */
    ngx_atomic_t               fetches;       /* origin requests started */
    ngx_atomic_t               results[NGX_HTTP_THIM_RESULTS];
    ngx_atomic_t               held_off;      /* not sent: 429 hold-off */
    ngx_atomic_t               evictions;

    /* the snapshot writer (ngx_thim_snapshot.c), under the lock */
    ngx_pid_t                  snapshot_owner;
    ngx_msec_t                 snapshot_lease;  /* wall clock, ms */
    uint64_t                   snapshot_id;     /* the base file's, 0: none */
    ngx_file_uniq_t            snapshot_uniq;   /* its inode */
    time_t                     snapshot_time;   /* when last written */
    ngx_queue_t                dirty;           /* changed records */
    ngx_uint_t                 gen;             /* of the last change */
    ngx_uint_t                 removed;         /* written records evicted */
    ngx_uint_t                 compacted;       /* "removed" at the last
                                                   compaction */
    ngx_uint_t                 writing;         /* a write run under way
                                                   (found set: it died), or
                                                   a load refused records:
                                                   the next write compacts */
    ngx_uint_t                 hold;            /* an unreadable file could
                                                   not be moved aside: it
                                                   is never written over */

    /* the background load of the files (ngx_thim_snapshot_load.c) */
    ngx_http_thim_load_t       load;

    /* the refresh sweeper (ngx_thim_refresh.c), under the lock */
    ngx_pid_t                  refresh_owner;
    ngx_msec_t                 refresh_lease;

    /* the workers waiters wait in (ngx_thim_wake.c) */
    ngx_http_thim_wake_table_t  wake;
} ngx_http_thim_shctx_t;


typedef struct ngx_http_thim_persist_s  ngx_http_thim_persist_t;


typedef struct {
    ngx_http_thim_shctx_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_str_t                  name;
    ngx_http_thim_persist_t   *persist;        /* snapshot and seed, or
                                                  NULL (ngx_thim_persist.c) */
    uint64_t                   wake_mask;      /* this worker's bit in the
                                                  wake table, 0: none */
    ngx_uint_t                 wake_row;
} ngx_http_thim_zone_t;


/* what a successful fetch stores */
typedef struct {
    u_char                    *value;
    size_t                     len;
    time_t                     expires;        /* fresh until */
    time_t                     refresh_at;     /* refreshed from then on */
    time_t                     next_update;    /* the collateral's own */
    ngx_uint_t                 lease;          /* the storing fetch's
                                                  token, 0: none */
    unsigned                   negative:1;     /* never replaces a record
                                                  that is not negative */
    unsigned                   derived:1;      /* made from other records:
                                                  never fetched, refreshed
                                                  or written to a snapshot */
    unsigned                   loaded:1;       /* read back from the
                                                  snapshot: not a change */
    unsigned                   import:1;       /* from a file: stored only
                                                  if no copy was fetched
                                                  after "fetched" */
    time_t                     fetched;        /* with import */
} ngx_http_thim_store_t;


ngx_int_t ngx_http_thim_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data);

void ngx_http_thim_cache_lookup(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_http_thim_lookup_t *lk);
void ngx_http_thim_cache_peek(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_lookup_t *lk);
void ngx_http_thim_cache_poll(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t lease, ngx_http_thim_lookup_t *lk);
ngx_int_t ngx_http_thim_cache_body(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *body);
void ngx_http_thim_cache_unpin(ngx_shm_zone_t *shm_zone,
    ngx_http_thim_value_t *pin);
ngx_int_t ngx_http_thim_cache_store(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_store_t *st, ngx_log_t *log);
void ngx_http_thim_cache_fail(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_uint_t status);
void ngx_http_thim_cache_fail_why(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_uint_t status, ngx_uint_t why, size_t size);
void ngx_http_thim_cache_release(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease);
ngx_int_t ngx_http_thim_cache_renew(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t lease, ngx_msec_t ms);
ngx_int_t ngx_http_thim_cache_due(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *need, time_t now);
void ngx_http_thim_cache_unswept(ngx_shm_zone_t *shm_zone, ngx_str_t *key);
void ngx_http_thim_cache_hold_off(ngx_shm_zone_t *shm_zone,
    ngx_uint_t holdoff, time_t until);
void ngx_http_thim_cache_origin_result(ngx_shm_zone_t *shm_zone,
    ngx_uint_t holdoff, ngx_uint_t failed, ngx_msec_t min, ngx_msec_t max,
    ngx_log_t *log);
void ngx_http_thim_cache_group(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *group, ngx_uint_t max);
ngx_int_t ngx_http_thim_cache_depend(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *src, ngx_str_t *body, ngx_uint_t max);


/* one entry with a record, as ngx_http_thim_cache_walk() shows it */
typedef struct {
    ngx_str_t                  key;
    u_char                    *value;
    size_t                     len;
    time_t                     fetched;
    time_t                     refresh_at;
    time_t                     expires;
    time_t                     next_update;
    ngx_uint_t                 negative;
    ngx_uint_t                 derived;
    ngx_uint_t                 unswept;        /* not for the sweep */
} ngx_http_thim_entry_t;


/* called under the zone's lock: copy, never block, never log */
typedef ngx_int_t (*ngx_http_thim_walk_pt)(ngx_http_thim_entry_t *e,
    void *data);


ngx_int_t ngx_http_thim_cache_walk(ngx_shm_zone_t *shm_zone,
    ngx_http_thim_walk_pt handler, void *data);
ngx_int_t ngx_http_thim_cache_walk_slice(ngx_shm_zone_t *shm_zone,
    ngx_uint_t *bucket, ngx_uint_t n, ngx_http_thim_walk_pt handler,
    void *data);
ngx_int_t ngx_http_thim_cache_import(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_thim_store_t *st, time_t fetched, ngx_log_t *log);

/* the snapshot writer's view: one record per lock, pinned */
ngx_int_t ngx_http_thim_cache_take_dirty(ngx_shm_zone_t *shm_zone,
    ngx_uint_t upto, ngx_http_thim_entry_t *e, u_char *key,
    ngx_http_thim_value_t **pin);
ngx_int_t ngx_http_thim_cache_next(ngx_shm_zone_t *shm_zone,
    ngx_str_t *cursor, ngx_http_thim_entry_t *e, u_char *key,
    ngx_http_thim_value_t **pin);
ngx_uint_t ngx_http_thim_cache_gen(ngx_shm_zone_t *shm_zone);


#endif /* _NGX_THIM_CACHE_H_INCLUDED_ */
