
/*
 * ngx_thim: loading the snapshot files (ngx_thim_snapshot.c) and the
 * bundle (ngx_thim_seed.c) in the background, as nginx's cache loader
 * does: nginx serves from its first second, whatever their size.
 *
 * The master only marks a zone made afresh as to be loaded (its progress
 * lives in the zone, ngx_http_thim_load_t).  One worker at a time loads
 * (elected by an owner pid and a lease, as the writer is), in slices of
 * NGX_HTTP_THIM_LOAD_SLICE ms so that its event loop keeps serving; the
 * offset reached is in the zone, so a worker that dies or exits mid-way
 * (a reload's old one) leaves the rest to another.  Files are read in
 * chunks through a buffer, never whole: any size the zone can hold loads.
 *
 * Meanwhile a request for a key not loaded yet is an ordinary miss: it is
 * fetched, and the copy fetched wins over the older one of the file when
 * that is reached (ngx_http_thim_cache_import() keeps the later fetch).
 *
 * Order: the base, then its journal, each first for the records of the
 * Intel root CA CRL (so that the re-check of every other record sees the
 * revocations a fetch would see), then for all others; then the bundle.
 * A record that fails its length or crc is skipped, and reading resumes
 * at the next "THRC" that starts a good record: a damaged file, or a
 * journal torn by a crash mid-append, loses only the damaged records.
 *
 * Every record is re-checked from its key (ngx_thim_persist.c) and must
 * be byte for byte the record that check rebuilds, under the key that
 * check makes.  Its refresh_at, expires and next_update are not read:
 * they are made again from the re-checked content as a fetch at its fetch
 * time would make them, the fetch time clamped to now (a record with no
 * fetch time is refused).  Expired records are loaded (a stale copy is
 * what clients are served while the origin is down); records past
 * thim_next_update_grace are refused by the re-check, as origin answers.
 *
 * A file that cannot be read (an error other than its absence, no header,
 * a format this build does not read) is renamed aside to
 * FILE.unreadable-TIME and logged at [alert]: the writer then starts
 * anew, never over it.  If it cannot be moved, nothing is written.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_verify.h"


#define NGX_HTTP_THIM_LOAD_NONE          0
#define NGX_HTTP_THIM_LOAD_OPEN          1
#define NGX_HTTP_THIM_LOAD_ROOT_BASE     2
#define NGX_HTTP_THIM_LOAD_ROOT_JOURNAL  3
#define NGX_HTTP_THIM_LOAD_BASE          4
#define NGX_HTTP_THIM_LOAD_JOURNAL       5
#define NGX_HTTP_THIM_LOAD_SEED          6
#define NGX_HTTP_THIM_LOAD_DONE          7

#define NGX_HTTP_THIM_LOAD_SLICE         20          /* ms */
#define NGX_HTTP_THIM_LOAD_LEASE         10000       /* ms */
#define NGX_HTTP_THIM_LOAD_CHUNK         (1024 * 1024)
#define NGX_HTTP_THIM_LOAD_MAX_RECORD                                       \
    (NGX_HTTP_THIM_SNAPSHOT_FIXED + NGX_HTTP_THIM_MAX_KEY_LEN                \
     + 2 * NGX_HTTP_THIM_PERSIST_MAX_BODY + 4)


/* a worker's reader of one of the files, through a buffer */
typedef struct {
    ngx_fd_t                   fd;
    ngx_uint_t                 stage;          /* whose file is open */
    ngx_str_t                 *name;
    u_char                    *buf;
    size_t                     size;
    off_t                      start;          /* the file offset of buf */
    size_t                     len;
} ngx_http_thim_loader_t;


static ngx_int_t ngx_http_thim_load_step(ngx_http_thim_persist_t *persist,
    ngx_msec_t until, ngx_log_t *log);
static void ngx_http_thim_load_open(ngx_http_thim_persist_t *persist,
    ngx_log_t *log);
static ngx_int_t ngx_http_thim_load_header(ngx_str_t *name, char *magic,
    off_t *size, uint64_t *id, ngx_file_uniq_t *uniq, char **why);
static void ngx_http_thim_load_aside(ngx_http_thim_persist_t *persist,
    ngx_str_t *name, char *why, ngx_log_t *log);
static ngx_int_t ngx_http_thim_load_pass(ngx_http_thim_persist_t *persist,
    ngx_uint_t journal, ngx_uint_t root, ngx_log_t *log);
static ngx_uint_t ngx_http_thim_load_is_root(u_char *p);
static ngx_int_t ngx_http_thim_load_reopen(ngx_http_thim_persist_t *persist,
    ngx_http_thim_loader_t *l, ngx_uint_t journal);
static ngx_int_t ngx_http_thim_load_fill(ngx_http_thim_loader_t *l, off_t off,
    size_t need, off_t end);
static off_t ngx_http_thim_load_next(ngx_http_thim_loader_t *l, off_t off,
    off_t end);
static void ngx_http_thim_load_close(ngx_http_thim_persist_t *persist);
static ngx_int_t ngx_http_thim_load_record(ngx_http_thim_persist_t *persist,
    ngx_str_t *file, u_char *p, size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_thim_load_recheck(ngx_http_thim_persist_t *persist,
    ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *value,
    ngx_http_thim_record_t *rec, ngx_http_thim_recheck_t *check);


/* in the master, into a zone just made: what the workers are to load */

void
ngx_http_thim_snapshot_load_init(ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_load_t  *load;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    ngx_memzero(load, sizeof(ngx_http_thim_load_t));

    load->stage = persist->snapshot.len ? NGX_HTTP_THIM_LOAD_OPEN
                  : (persist->seed.len ? NGX_HTTP_THIM_LOAD_SEED
                                       : NGX_HTTP_THIM_LOAD_NONE);
    load->started = ngx_http_thim_persist_now();
}


/* every worker has a load timer; the elected one loads a slice */

void
ngx_http_thim_snapshot_load_timer(ngx_event_t *ev)
{
    ngx_msec_t                until;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_persist_t  *persist = ev->data;

    ctx = persist->shm_zone->data;

    if (ngx_exiting || ngx_quit || ngx_terminate
        || ctx->sh->load.stage == NGX_HTTP_THIM_LOAD_NONE)
    {
        ngx_http_thim_load_close(persist);
        return;
    }

    if (ngx_http_thim_persist_elect(ctx, &ctx->sh->load.owner,
                                    &ctx->sh->load.lease,
                                    NGX_HTTP_THIM_LOAD_LEASE)
        != NGX_OK)
    {
        /* another worker loads; take over if it dies */
        ngx_add_timer(ev, 1000);
        return;
    }

    until = ngx_http_thim_persist_now() + NGX_HTTP_THIM_LOAD_SLICE;

    /* each issuer chain is verified once per load, then one signature
       per record; the requests served between slices never use that */
    ngx_http_thim_verify_memo(1, 0);

    while (ctx->sh->load.stage != NGX_HTTP_THIM_LOAD_NONE
           && ngx_http_thim_persist_now() < until)
    {
        if (ngx_http_thim_load_step(persist, until, ev->log) == NGX_ERROR) {
            break;
        }
    }

    ngx_http_thim_verify_memo(0, ctx->sh->load.stage
                                 == NGX_HTTP_THIM_LOAD_NONE);

    if (ctx->sh->load.stage == NGX_HTTP_THIM_LOAD_NONE) {
        ngx_http_thim_load_close(persist);
        ngx_http_thim_persist_resign(ctx, &ctx->sh->load.owner);
        return;
    }

    ngx_add_timer(ev, 1);
}


/* an exiting worker leaves the rest of the load to the others at once */

void
ngx_http_thim_snapshot_load_exit(ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    ngx_http_thim_load_close(persist);
    ngx_http_thim_persist_resign(ctx, &ctx->sh->load.owner);
}


/*
 * One record, or one stage's start or end, or the bundle's entries until
 * "until"; NGX_ERROR: no memory
 */

static ngx_int_t
ngx_http_thim_load_step(ngx_http_thim_persist_t *persist, ngx_msec_t until,
    ngx_log_t *log)
{
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_load_t  *load;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    switch (load->stage) {

    case NGX_HTTP_THIM_LOAD_OPEN:
        ngx_http_thim_load_open(persist, log);
        return NGX_OK;

    case NGX_HTTP_THIM_LOAD_ROOT_BASE:
    case NGX_HTTP_THIM_LOAD_ROOT_JOURNAL:
    case NGX_HTTP_THIM_LOAD_BASE:
    case NGX_HTTP_THIM_LOAD_JOURNAL:
        return ngx_http_thim_load_pass(persist,
                   (load->stage == NGX_HTTP_THIM_LOAD_ROOT_JOURNAL
                    || load->stage == NGX_HTTP_THIM_LOAD_JOURNAL),
                   (load->stage <= NGX_HTTP_THIM_LOAD_ROOT_JOURNAL), log);

    case NGX_HTTP_THIM_LOAD_SEED:
        if (persist->seed.len
            && ngx_http_thim_seed_step(persist, until, log) == NGX_AGAIN)
        {
            return NGX_OK;
        }

        load->stage = NGX_HTTP_THIM_LOAD_DONE;
        return NGX_OK;

    default: /* NGX_HTTP_THIM_LOAD_DONE */

        if (load->end[0]) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "thim zone \"%V\": %ui records loaded from "
                          "snapshot \"%V\"%s in %M ms (%ui damaged, "
                          "%ui refused, %ui skipped, %uA evicted for room)",
                          &ctx->name, load->loaded, &persist->snapshot,
                          load->end[1] ? " and its journal" : "",
                          ngx_http_thim_persist_now() - load->started,
                          load->corrupt, load->refused, load->skipped,
                          ctx->sh->evictions - load->evicted);
        }

        if (load->corrupt || load->refused) {
            /* the files hold what the zone does not: written anew */
            ctx->sh->writing = 1;
        }

        /* the line tests and operators wait for */
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "thim zone \"%V\": background load done in %M ms",
                      &ctx->name,
                      ngx_http_thim_persist_now() - load->started);

        load->stage = NGX_HTTP_THIM_LOAD_NONE;
        return NGX_OK;
    }
}


/* which files there are to load, and up to where */

static void
ngx_http_thim_load_open(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    char                  *why;
    off_t                  size;
    uint64_t               id, jid;
    ngx_int_t              rc;
    ngx_file_uniq_t        uniq;
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_load_t  *load;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    load->evicted = ctx->sh->evictions;
    load->stage = NGX_HTTP_THIM_LOAD_SEED;

    rc = ngx_http_thim_load_header(&persist->snapshot,
                                   NGX_HTTP_THIM_SNAPSHOT_MAGIC, &size, &id,
                                   &uniq, &why);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "thim zone \"%V\": no snapshot \"%V\" yet, "
                      "starting empty", &ctx->name, &persist->snapshot);
        return;
    }

    if (rc != NGX_OK) {
        /* its journal means nothing without it */
        ngx_http_thim_load_aside(persist, &persist->snapshot, why, log);
        ngx_http_thim_load_aside(persist, &persist->journal, NULL, log);
        return;
    }

    load->end[0] = size;
    load->id = id;

    ctx->sh->snapshot_id = id;
    ctx->sh->snapshot_uniq = uniq;

    rc = ngx_http_thim_load_header(&persist->journal,
                                   NGX_HTTP_THIM_JOURNAL_MAGIC, &size, &jid,
                                   &uniq, &why);

    if (rc == NGX_OK && (jid != id || id == 0)) {
        /* a compaction's new base was renamed in, its journal not yet */
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "thim zone \"%V\": journal \"%V\" extends another "
                      "snapshot, ignored", &ctx->name, &persist->journal);

    } else if (rc == NGX_OK) {
        load->end[1] = size;

    } else if (rc != NGX_DECLINED) {
        ngx_http_thim_load_aside(persist, &persist->journal, why, log);
    }

    load->offset = 0;
    load->stage = NGX_HTTP_THIM_LOAD_ROOT_BASE;
}


/*
 * A file's header: NGX_OK with its size, id and inode, NGX_DECLINED when
 * there is no file, NGX_ERROR with why it cannot be read.
 */

static ngx_int_t
ngx_http_thim_load_header(ngx_str_t *name, char *magic, off_t *size,
    uint64_t *id, ngx_file_uniq_t *uniq, char **why)
{
    u_char           h[NGX_HTTP_THIM_SNAPSHOT_HEADER];
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_uint_t       version, len;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        *why = strerror(ngx_errno);
        return (ngx_errno == NGX_ENOENT) ? NGX_DECLINED : NGX_ERROR;
    }

    n = -1;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR) {
        n = pread(fd, h, sizeof(h), 0);

        /* PCK certificates name platforms: never readable by others */
        if ((ngx_file_access(&fi) & ~NGX_HTTP_THIM_SNAPSHOT_MODE)
            && fchmod(fd, NGX_HTTP_THIM_SNAPSHOT_MODE) == -1)
        {
            n = -1;
        }
    }

    *why = (n == -1) ? strerror(ngx_errno) : NULL;

    (void) ngx_close_file(fd);

    if (*why) {
        return NGX_ERROR;
    }

    *size = ngx_file_size(&fi);
    *uniq = ngx_file_uniq(&fi);
    *id = 0;

    if (n < NGX_HTTP_THIM_SNAPSHOT_HEADER_V1 || ngx_memcmp(h, magic, 8) != 0)
    {
        *why = "bad magic";
        return NGX_ERROR;
    }

    version = (ngx_uint_t) ngx_http_thim_get_le(h + 8, 4);
    len = (ngx_uint_t) ngx_http_thim_get_le(h + 12, 4);

    if (version == 1 && len == NGX_HTTP_THIM_SNAPSHOT_HEADER_V1
        && magic[4] == 'S')
    {
        return NGX_OK;
    }

    if (version == NGX_HTTP_THIM_SNAPSHOT_VERSION
        && len == NGX_HTTP_THIM_SNAPSHOT_HEADER
        && n == NGX_HTTP_THIM_SNAPSHOT_HEADER)
    {
        *id = ngx_http_thim_get_le(h + 24, 8);
        return NGX_OK;
    }

    *why = "a format version this build does not read";
    return NGX_ERROR;
}


/* an unreadable file is kept, under another name, and never written over */

static void
ngx_http_thim_load_aside(ngx_http_thim_persist_t *persist, ngx_str_t *name,
    char *why, ngx_log_t *log)
{
    u_char                *aside;
    ngx_file_info_t        fi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (why == NULL
        && ngx_file_info(name->data, &fi) == NGX_FILE_ERROR)
    {
        return;
    }

    aside = ngx_alloc(name->len + sizeof(".unreadable-") + NGX_TIME_T_LEN,
                      log);
    if (aside == NULL) {
        ctx->sh->hold = 1;
        return;
    }

    ngx_sprintf(aside, "%V.unreadable-%T%Z", name, ngx_time());

    if (ngx_rename_file(name->data, aside) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "thim zone \"%V\": \"%V\" cannot be read (%s) nor "
                      "moved aside to \"%s\": nothing is written over it, "
                      "starting without it", &ctx->name, name,
                      why ? why : "its snapshot cannot", aside);
        ctx->sh->hold = 1;

    } else {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "thim zone \"%V\": \"%V\" cannot be read (%s), "
                      "kept as \"%s\", starting without it",
                      &ctx->name, name,
                      why ? why : "its snapshot cannot", aside);
    }

    ngx_free(aside);
}


/*
 * The next record of the base or journal: loaded if of the pass (root:
 * the Intel root CA CRL's), skipped if not; damage is told in the second
 * pass only.  At the end of the file, the next stage.
 */

static ngx_int_t
ngx_http_thim_load_pass(ngx_http_thim_persist_t *persist, ngx_uint_t journal,
    ngx_uint_t root, ngx_log_t *log)
{
    u_char                  *p;
    off_t                    off, end;
    size_t                   len;
    ngx_uint_t               good;
    ngx_http_thim_zone_t    *ctx;
    ngx_http_thim_load_t    *load;
    ngx_http_thim_loader_t  *l;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;
    end = load->end[journal];

    if (end == 0
        || ngx_http_thim_load_reopen(persist, persist->loader, journal)
           != NGX_OK)
    {
        load->offset = end;
    }

    l = persist->loader;
    off = load->offset;

    if (off >= end || l == NULL) {
        load->stage++;
        load->offset = 0;
        return NGX_OK;
    }

    good = 0;
    len = 0;

    if (end - off >= NGX_HTTP_THIM_SNAPSHOT_FIXED + 4
        && ngx_http_thim_load_fill(l, off, NGX_HTTP_THIM_SNAPSHOT_FIXED, end)
           == NGX_OK)
    {
        p = l->buf + (off - l->start);
        len = (size_t) ngx_http_thim_get_le(p + 4, 4);

        good = (ngx_memcmp(p, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4) == 0
                && len >= NGX_HTTP_THIM_SNAPSHOT_FIXED + 4
                && len <= NGX_HTTP_THIM_LOAD_MAX_RECORD
                && (off_t) len <= end - off
                && len == NGX_HTTP_THIM_SNAPSHOT_FIXED + 4
                          + ngx_http_thim_get_le(p + 8, 2)
                          + ngx_http_thim_get_le(p + 44, 4));
    }

    if (good && root) {
        /* the first pass reads keys only: the rest is read in the second */
        good = (ngx_http_thim_load_fill(l, off, NGX_HTTP_THIM_SNAPSHOT_FIXED
                                        + ngx_http_thim_get_le(p + 8, 2),
                                        end)
                == NGX_OK);

        if (good && !ngx_http_thim_load_is_root(l->buf + (off - l->start)))
        {
            load->offset = off + len;
            return NGX_OK;
        }
    }

    if (good) {
        good = (ngx_http_thim_load_fill(l, off, len, end) == NGX_OK);
    }

    if (good) {
        p = l->buf + (off - l->start);
        good = (ngx_crc32_long(p, len - 4)
                == ngx_http_thim_get_le(p + len - 4, 4));
    }

    if (!good) {
        if (!root) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "thim zone \"%V\": snapshot \"%V\": damaged "
                          "or truncated record at offset %O skipped",
                          &ctx->name, l->name, off);
            load->corrupt++;
        }

        load->offset = ngx_http_thim_load_next(l, off + 1, end);
        return NGX_OK;
    }

    load->offset = off + len;

    if (ngx_http_thim_load_is_root(p) != root) {
        return NGX_OK;
    }

    return ngx_http_thim_load_record(persist, l->name, p, len, log);
}


/* a record of the Intel root CA CRL, read first */

static ngx_uint_t
ngx_http_thim_load_is_root(u_char *p)
{
    return ngx_http_thim_get_le(p + 8, 2) > sizeof("intel-root:") - 1
           && ngx_memcmp(p + NGX_HTTP_THIM_SNAPSHOT_FIXED, "intel-root:",
                         sizeof("intel-root:") - 1) == 0;
}


/* this worker's reader on the stage's file, from the offset in the zone */

static ngx_int_t
ngx_http_thim_load_reopen(ngx_http_thim_persist_t *persist,
    ngx_http_thim_loader_t *l, ngx_uint_t journal)
{
    u_char                 h[NGX_HTTP_THIM_SNAPSHOT_HEADER];
    ngx_http_thim_zone_t  *ctx;
    ngx_http_thim_load_t  *load;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    if (l == NULL) {
        l = ngx_calloc(sizeof(ngx_http_thim_loader_t), ngx_cycle->log);
        if (l == NULL) {
            return NGX_ERROR;
        }

        l->fd = NGX_INVALID_FILE;
        persist->loader = l;
    }

    if (l->fd != NGX_INVALID_FILE && l->stage == load->stage) {
        return NGX_OK;
    }

    if (l->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(l->fd);
    }

    l->name = journal ? &persist->journal : &persist->snapshot;
    l->stage = load->stage;
    l->len = 0;
    l->start = 0;

    l->fd = ngx_open_file(l->name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (l->fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    if (load->offset == 0) {
        /* the first record: after a header of 24 bytes (version 1) or 32 */
        if (pread(l->fd, h, NGX_HTTP_THIM_SNAPSHOT_HEADER_V1, 0)
            != NGX_HTTP_THIM_SNAPSHOT_HEADER_V1)
        {
            return NGX_DECLINED;
        }

        load->offset = (off_t) ngx_http_thim_get_le(h + 12, 4);
    }

    return NGX_OK;
}


/* [off, off + need) of the file in the buffer, need <= end - off */

static ngx_int_t
ngx_http_thim_load_fill(ngx_http_thim_loader_t *l, off_t off, size_t need,
    off_t end)
{
    size_t   size, want;
    ssize_t  n;

    if (off >= l->start && off + (off_t) need <= l->start + (off_t) l->len) {
        return NGX_OK;
    }

    size = ngx_max(need, NGX_HTTP_THIM_LOAD_CHUNK);

    if (size > l->size) {
        ngx_free(l->buf);

        l->buf = ngx_alloc(size, ngx_cycle->log);
        if (l->buf == NULL) {
            l->size = 0;
            l->len = 0;
            return NGX_ERROR;
        }

        l->size = size;
    }

    /* the first pass reads keys only, the second whole chunks */
    want = (size_t) ngx_min((off_t) (l->stage <= NGX_HTTP_THIM_LOAD_ROOT_JOURNAL
                                     ? need : l->size),
                            end - off);

    l->start = off;
    l->len = 0;

    while (l->len < want) {
        n = pread(l->fd, l->buf + l->len, want - l->len, off + l->len);

        if (n <= 0) {
            if (n == -1 && ngx_errno == NGX_EINTR) {
                continue;
            }

            break;
        }

        l->len += n;
    }

    return (l->len >= need) ? NGX_OK : NGX_ERROR;
}


/* where the next record may start, read a chunk at a time */

static off_t
ngx_http_thim_load_next(ngx_http_thim_loader_t *l, off_t off, off_t end)
{
    u_char  *p, *last;
    size_t   chunk;

    while (end - off >= 4) {
        chunk = (size_t) ngx_min(end - off, NGX_HTTP_THIM_LOAD_CHUNK);

        if (ngx_http_thim_load_fill(l, off, chunk, end) != NGX_OK) {
            return end;
        }

        p = l->buf + (off - l->start);
        last = p + chunk;

        for ( /* void */ ; last - p >= 4; p++) {
            if (ngx_memcmp(p, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4) == 0) {
                return l->start + (p - l->buf);
            }
        }

        off += chunk - 3;
    }

    return end;
}


static void
ngx_http_thim_load_close(ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_loader_t  *l;

    ngx_http_thim_seed_close(persist);

    l = persist->loader;

    if (l == NULL) {
        return;
    }

    if (l->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(l->fd);
    }

    ngx_free(l->buf);
    ngx_free(l);

    persist->loader = NULL;
}


/*
 * One record whose crc is good: re-checked, then imported with the times
 * a fetch of its content at its fetch time would have given it; only the
 * fetch time is taken from the file, and never later than now.
 */

static ngx_int_t
ngx_http_thim_load_record(ngx_http_thim_persist_t *persist, ngx_str_t *file,
    u_char *p, size_t len, ngx_log_t *log)
{
    time_t                    fetched;
    ngx_int_t                 rc;
    ngx_str_t                 key, value, shown;
    ngx_uint_t                level;
    ngx_pool_t               *pool;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_load_t     *load;
    ngx_http_thim_store_t     st;
    ngx_http_thim_record_t    rec;
    ngx_http_thim_recheck_t   check;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    key.len = (size_t) ngx_http_thim_get_le(p + 8, 2);
    key.data = p + NGX_HTTP_THIM_SNAPSHOT_FIXED;
    value.len = (size_t) ngx_http_thim_get_le(p + 44, 4);
    value.data = key.data + key.len;

    if (p[10]) {
        load->skipped++;
        return NGX_OK;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    /* a forged key may name a platform: the log shows it without */
    ngx_http_thim_persist_show(pool, &key, &shown);

    ngx_memzero(&check, sizeof(ngx_http_thim_recheck_t));

    level = NGX_LOG_WARN;
    fetched = (time_t) ngx_http_thim_get_le(p + 12, 8);

    if (ngx_http_thim_persist_origin(&key, &check) != NGX_OK) {
        load->refused++;
        check.reason = "no route family for this key";
        goto skip;
    }

    if (ngx_http_thim_record_read(value.data, value.len, &rec) != NGX_OK
        || rec.status != NGX_HTTP_OK)
    {
        load->corrupt++;
        check.reason = "not a record of an origin answer";
        goto skip;
    }

    if (fetched <= 0) {
        check.reason = "its fetch time is not a time";
        goto refused;
    }

    fetched = ngx_min(fetched, ngx_time());

    rc = ngx_http_thim_load_recheck(persist, pool, &key, &value, &rec,
                                    &check);

    if (rc == NGX_DECLINED) {
        goto refused;
    }

    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the file's refresh_at, expires and next_update are not read */
    st.value = value.data;
    st.len = value.len;

    ngx_http_thim_lifetime(check.ctx, fetched,
                           check.next_update - fetched, 0, &st);

    st.loaded = 1;

    rc = ngx_http_thim_cache_import(persist->shm_zone, &key, &st, fetched,
                                    log);

    ngx_destroy_pool(pool);

    if (rc == NGX_OK) {
        load->loaded++;

    } else {
        /* a copy fetched later, meanwhile or before */
        load->skipped++;
    }

    return NGX_OK;

refused:

    load->refused++;
    level = NGX_LOG_ERR;

skip:

    ngx_log_error(level, log, 0,
                  "thim zone \"%V\": \"%V\": snapshot record \"%V\" "
                  "%s: %s", &ctx->name, file, &shown,
                  level == NGX_LOG_ERR ? "refused" : "skipped",
                  check.reason);

    ngx_destroy_pool(pool);
    return NGX_OK;
}


/*
 * The record re-checked from the origin answer it holds: NGX_OK when its
 * key is the canonical one and its blob byte for byte what that answer
 * makes now, NGX_DECLINED with check->reason, NGX_ERROR.
 */

static ngx_int_t
ngx_http_thim_load_recheck(ngx_http_thim_persist_t *persist,
    ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *value,
    ngx_http_thim_record_t *rec, ngx_http_thim_recheck_t *check)
{
    u_char     *blob;
    size_t      size;
    ngx_int_t   rc;

    check->body = rec->body;

    if (rec->nheaders) {
        check->chain = rec->values[0];
    }

    check->headers = rec;

    rc = ngx_http_thim_persist_recheck(persist, pool, check);

    if (rc != NGX_OK) {
        return rc;
    }

    if (check->ctx->key.len != key->len
        || ngx_memcmp(check->ctx->key.data, key->data, key->len) != 0)
    {
        check->reason = "the key is not the one its request makes";
        return NGX_DECLINED;
    }

    size = ngx_http_thim_record_size(&check->record);
    blob = ngx_pnalloc(pool, size);

    if (blob == NULL) {
        return NGX_ERROR;
    }

    if (size != value->len
        || ngx_memcmp(ngx_http_thim_record_write(blob, &check->record) - size,
                      value->data, size) != 0)
    {
        check->reason = "the record is not what its origin answer makes";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
