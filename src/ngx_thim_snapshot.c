
/*
 * ngx_thim: the zone's snapshot file.
 *
 * Format (integers little-endian; version 1):
 *
 *     header   "THIMSNAP"  u32 version  u32 header length (24)
 *              i64 written (unix time)
 *     records  u8[4] "THRC"  u32 length of the whole record
 *              u16 key length  u8 negative  u8 0
 *              i64 fetched  i64 refresh_at  i64 expires  i64 next_update
 *              u32 value length  key  value (the record blob, as in the
 *              zone)  u32 crc32 of everything before it in the record
 *
 * A record that fails its length or crc is skipped, and reading resumes
 * at the next "THRC" that starts a good record, so a damaged file loses
 * only the damaged records.  Negative (404) records are not written: they
 * live a minute, and nothing could check them.
 *
 * Writing: one worker at a time, elected in the zone (an owner pid and a
 * lease, since old and new workers overlap on reload and in a binary
 * upgrade), on a cancelable timer and at worker exit.  Records are copied
 * out under the zone lock into one heap buffer, the lock is released, and
 * the buffer is written to file.tmp, fsync()ed and renamed over the file.
 * A snapshot identical to the last one written (by the combined crc of
 * its records) is not written again, unless the file was replaced or
 * removed since.
 *
 * Loading (in the master, when the zone is made): every record is
 * re-checked from its key (ngx_thim_persist.c) and must be byte for byte
 * the record that check rebuilds, under the key that check makes.  Its
 * refresh_at, expires and next_update are not read: they are made again
 * from the re-checked content as a fetch at its fetch time would make
 * them, the fetch time clamped to now (a record with no fetch time is
 * refused).  Expired records are loaded (a stale copy is what clients
 * are served while the origin is down, and the first request refreshes
 * it); records past thim_next_update_grace are refused by the re-check,
 * as origin answers.  The file and file.tmp are created 0600: PCK
 * certificates name platforms.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_fetch.h"


#define NGX_HTTP_THIM_SNAPSHOT_MAGIC     "THIMSNAP"
#define NGX_HTTP_THIM_SNAPSHOT_VERSION   1
#define NGX_HTTP_THIM_SNAPSHOT_HEADER    24
#define NGX_HTTP_THIM_SNAPSHOT_MARKER    "THRC"
#define NGX_HTTP_THIM_SNAPSHOT_FIXED     48      /* record before the key */
#define NGX_HTTP_THIM_SNAPSHOT_MAX       (1024 * 1024 * 1024)
#define NGX_HTTP_THIM_SNAPSHOT_MODE      0600

/* the writer's lease: several intervals, so a live writer keeps it */
#define NGX_HTTP_THIM_SNAPSHOT_LEASES    3


typedef struct {
    u_char                    *start;
    u_char                    *pos;
    u_char                    *end;
    size_t                     need;
    ngx_uint_t                 records;
} ngx_http_thim_snapshot_buf_t;


typedef struct {
    ngx_uint_t                 loaded;
    ngx_uint_t                 corrupt;
    ngx_uint_t                 refused;
    ngx_uint_t                 skipped;        /* negative, or kept newer */
} ngx_http_thim_snapshot_stats_t;


static ngx_int_t ngx_http_thim_snapshot_size(ngx_http_thim_entry_t *e,
    void *data);
static ngx_int_t ngx_http_thim_snapshot_copy(ngx_http_thim_entry_t *e,
    void *data);
static uint32_t ngx_http_thim_snapshot_seal(ngx_http_thim_snapshot_buf_t *b);
static ngx_int_t ngx_http_thim_snapshot_file(ngx_http_thim_persist_t *persist,
    u_char *buf, size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_elect(
    ngx_http_thim_persist_t *persist);
static ngx_int_t ngx_http_thim_snapshot_pass(
    ngx_http_thim_persist_t *persist, ngx_str_t *file, ngx_uint_t root,
    ngx_http_thim_snapshot_stats_t *stats, ngx_log_t *log);
static u_char *ngx_http_thim_snapshot_next(u_char *p, u_char *last);
static ngx_int_t ngx_http_thim_snapshot_record(
    ngx_http_thim_persist_t *persist, u_char *p, size_t len,
    ngx_http_thim_snapshot_stats_t *stats, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_recheck(
    ngx_http_thim_persist_t *persist, ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *value, ngx_http_thim_record_t *rec,
    ngx_http_thim_recheck_t *check);
static u_char *ngx_http_thim_put_le(u_char *p, uint64_t v, ngx_uint_t n);
static uint64_t ngx_http_thim_get_le(u_char *p, ngx_uint_t n);


/* the elected worker writes, and re-arms */

void
ngx_http_thim_snapshot_timer(ngx_event_t *ev)
{
    ngx_http_thim_persist_t  *persist = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_http_thim_snapshot_elect(persist) == NGX_OK) {
        (void) ngx_http_thim_snapshot_write(persist, ev->log);
    }

    ngx_add_timer(ev, persist->interval);
}


/*
 * A worker exits: if it is the writer, or nobody is, it writes the last
 * snapshot and gives the lease up, so that its successors (a reload's new
 * workers) take over at once.
 */

void
ngx_http_thim_snapshot_exit(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (ngx_http_thim_snapshot_elect(persist) == NGX_OK) {
        (void) ngx_http_thim_snapshot_write(persist, log);
        ngx_http_thim_persist_resign(ctx, &ctx->sh->snapshot_owner);
    }
}


/* the writer holds a lease of several intervals, renewed by each write */

static ngx_int_t
ngx_http_thim_snapshot_elect(ngx_http_thim_persist_t *persist)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    return ngx_http_thim_persist_elect(ctx, &ctx->sh->snapshot_owner,
                                       &ctx->sh->snapshot_lease,
                                       NGX_HTTP_THIM_SNAPSHOT_LEASES
                                       * persist->interval);
}


/*
 * NGX_OK: written; NGX_DECLINED: nothing changed since the last one (or
 * nginx -t); NGX_ERROR: logged.
 */

ngx_int_t
ngx_http_thim_snapshot_write(ngx_http_thim_persist_t *persist,
    ngx_log_t *log)
{
    size_t                         len;
    uint32_t                       sig;
    ngx_int_t                      rc;
    ngx_uint_t                     tries;
    ngx_msec_t                     start, locked;
    ngx_file_info_t                fi;
    ngx_http_thim_zone_t          *ctx;
    ngx_http_thim_snapshot_buf_t   b;

    if (ngx_test_config) {
        return NGX_DECLINED;
    }

    ctx = persist->shm_zone->data;
    start = ngx_http_thim_persist_now();

    ngx_memzero(&b, sizeof(ngx_http_thim_snapshot_buf_t));
    rc = NGX_AGAIN;
    locked = 0;

    /* sized under one lock, copied under another: the zone may grow */
    for (tries = 0; rc == NGX_AGAIN && tries < 3; tries++) {
        ngx_free(b.start);

        b.need = NGX_HTTP_THIM_SNAPSHOT_HEADER;
        (void) ngx_http_thim_cache_walk(persist->shm_zone,
                                        ngx_http_thim_snapshot_size, &b);

        len = b.need + b.need / 8 + 65536;

        b.start = ngx_alloc(len, log);
        if (b.start == NULL) {
            return NGX_ERROR;
        }

        /* the pages are faulted in now, not while the zone is locked */
        ngx_memzero(b.start, len);

        b.end = b.start + len;
        b.pos = b.start + NGX_HTTP_THIM_SNAPSHOT_HEADER;
        b.records = 0;

        locked = ngx_http_thim_persist_now();

        rc = ngx_http_thim_cache_walk(persist->shm_zone,
                                      ngx_http_thim_snapshot_copy, &b);

        locked = ngx_http_thim_persist_now() - locked;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "thim zone \"%V\": snapshot not written, "
                      "the zone kept growing", &ctx->name);
        ngx_free(b.start);
        return NGX_ERROR;
    }

    /* the crcs, outside the lock */
    sig = ngx_http_thim_snapshot_seal(&b);

    if (ctx->sh->snapshot_crc == sig
        && ngx_file_info(persist->snapshot.data, &fi) != NGX_FILE_ERROR
        && ctx->sh->snapshot_uniq == ngx_file_uniq(&fi))
    {
        ngx_free(b.start);
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_snapshot_file(persist, b.start, b.pos - b.start, log);

    ngx_free(b.start);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_file_info(persist->snapshot.data, &fi) != NGX_FILE_ERROR) {
        ctx->sh->snapshot_crc = sig;
        ctx->sh->snapshot_uniq = ngx_file_uniq(&fi);
        ctx->sh->snapshot_time = ngx_time();
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "thim zone \"%V\": snapshot of %ui records (%uz bytes) "
                  "written to \"%V\" in %M ms (zone locked %M ms)",
                  &ctx->name, b.records, (size_t) (b.pos - b.start),
                  &persist->snapshot, ngx_http_thim_persist_now() - start,
                  locked);

    return NGX_OK;
}


/* the header and every record's crc; the snapshot's signature, of them */

static uint32_t
ngx_http_thim_snapshot_seal(ngx_http_thim_snapshot_buf_t *b)
{
    u_char    *p, *last;
    size_t     len;
    uint32_t   crc, sig;

    p = ngx_cpymem(b->start, NGX_HTTP_THIM_SNAPSHOT_MAGIC, 8);
    p = ngx_http_thim_put_le(p, NGX_HTTP_THIM_SNAPSHOT_VERSION, 4);
    p = ngx_http_thim_put_le(p, NGX_HTTP_THIM_SNAPSHOT_HEADER, 4);
    (void) ngx_http_thim_put_le(p, (uint64_t) ngx_time(), 8);

    ngx_crc32_init(sig);

    for (p = b->start + NGX_HTTP_THIM_SNAPSHOT_HEADER; p < b->pos; p += len) {
        len = (size_t) ngx_http_thim_get_le(p + 4, 4);
        last = p + len - 4;

        crc = ngx_crc32_long(p, last - p);
        (void) ngx_http_thim_put_le(last, crc, 4);

        ngx_crc32_update(&sig, last, 4);
    }

    ngx_crc32_final(sig);

    return sig;
}


static ngx_int_t
ngx_http_thim_snapshot_size(ngx_http_thim_entry_t *e, void *data)
{
    ngx_http_thim_snapshot_buf_t  *b = data;

    /* derived answers are made again from what they were made of */
    if (!e->negative && !e->derived) {
        b->need += NGX_HTTP_THIM_SNAPSHOT_FIXED + e->key.len + e->len + 4;
    }

    return NGX_OK;
}


/* under the zone lock: copies only; the crc is filled in afterwards */

static ngx_int_t
ngx_http_thim_snapshot_copy(ngx_http_thim_entry_t *e, void *data)
{
    ngx_http_thim_snapshot_buf_t  *b = data;

    u_char  *p;
    size_t   len;

    if (e->negative || e->derived) {
        return NGX_OK;
    }

    len = NGX_HTTP_THIM_SNAPSHOT_FIXED + e->key.len + e->len + 4;

    if ((size_t) (b->end - b->pos) < len) {
        return NGX_AGAIN;
    }

    p = ngx_cpymem(b->pos, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4);
    p = ngx_http_thim_put_le(p, len, 4);
    p = ngx_http_thim_put_le(p, e->key.len, 2);
    *p++ = 0;
    *p++ = 0;
    p = ngx_http_thim_put_le(p, (uint64_t) e->fetched, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->refresh_at, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->expires, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->next_update, 8);
    p = ngx_http_thim_put_le(p, e->len, 4);
    p = ngx_cpymem(p, e->key.data, e->key.len);
    (void) ngx_cpymem(p, e->value, e->len);

    b->pos += len;
    b->records++;

    return NGX_OK;
}


/*
 * file.tmp, fsync, rename, fsync of the directory.  Two writers of one
 * file (the zones of an old and a new master during a binary upgrade)
 * are kept apart by a lock on file.tmp.
 */

static ngx_int_t
ngx_http_thim_snapshot_file(ngx_http_thim_persist_t *persist, u_char *buf,
    size_t len, ngx_log_t *log)
{
    u_char           *slash, *dname;
    ssize_t           n;
    size_t            done;
    ngx_fd_t          fd, dir;
    ngx_file_info_t   fi, tfi;

    fd = ngx_open_file(persist->snapshot_tmp.data, NGX_FILE_WRONLY,
                       NGX_FILE_CREATE_OR_OPEN, NGX_HTTP_THIM_SNAPSHOT_MODE);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed, snapshot not written",
                      persist->snapshot_tmp.data);
        return NGX_ERROR;
    }

    if (ngx_trylock_fd(fd) != 0) {
        /* another writer has it: this round is its */
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    /* still the file of that name, not one renamed away meanwhile */
    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_info(persist->snapshot_tmp.data, &tfi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != ngx_file_uniq(&tfi))
    {
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    /* a file.tmp left by an older build: narrowed before it is written */
    if ((ngx_file_access(&fi) & ~NGX_HTTP_THIM_SNAPSHOT_MODE)
        && fchmod(fd, NGX_HTTP_THIM_SNAPSHOT_MODE) == -1)
    {
        goto failed;
    }

    if (ftruncate(fd, 0) == -1) {
        goto failed;
    }

    for (done = 0; done < len; done += n) {
        n = write(fd, buf + done, len - done);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                n = 0;
                continue;
            }

            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        goto failed;
    }

    if (ngx_rename_file(persist->snapshot_tmp.data, persist->snapshot.data)
        == NGX_FILE_ERROR)
    {
        goto failed;
    }

    (void) ngx_close_file(fd);

    /* the rename itself must survive a crash */
    slash = (u_char *) strrchr((char *) persist->snapshot.data, '/');

    if (slash) {
        *slash = '\0';
        dname = (slash == persist->snapshot.data) ? (u_char *) "/"
                                                  : persist->snapshot.data;
        dir = ngx_open_file(dname, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        *slash = '/';

        if (dir != NGX_INVALID_FILE) {
            (void) fsync(dir);
            (void) ngx_close_file(dir);
        }
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                  "writing snapshot \"%s\" failed, previous one kept",
                  persist->snapshot_tmp.data);

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


/*
 * In the master, into a zone just made.  Never fatal: a missing file is
 * a first start, a damaged one loses its damaged records.
 */

void
ngx_http_thim_snapshot_load(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    size_t                           len;
    ngx_int_t                        rc;
    ngx_str_t                        file;
    ngx_msec_t                       start;
    ngx_uint_t                       version;
    ngx_atomic_uint_t                evicted;
    ngx_http_thim_zone_t            *ctx;
    ngx_http_thim_snapshot_stats_t   stats;

    ctx = persist->shm_zone->data;
    start = ngx_http_thim_persist_now();
    evicted = ctx->sh->evictions;

    rc = ngx_http_thim_persist_read(&persist->snapshot, NULL,
                                    NGX_HTTP_THIM_SNAPSHOT_MAX, &file, log);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "thim zone \"%V\": no snapshot \"%V\" yet, "
                      "starting empty", &ctx->name, &persist->snapshot);
        return;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, rc == NGX_ERROR ? ngx_errno : 0,
                      "thim zone \"%V\": snapshot \"%V\" cannot be read, "
                      "starting without it", &ctx->name, &persist->snapshot);
        return;
    }

    if (file.len < NGX_HTTP_THIM_SNAPSHOT_HEADER
        || ngx_memcmp(file.data, NGX_HTTP_THIM_SNAPSHOT_MAGIC, 8) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "thim zone \"%V\": \"%V\" is not a snapshot "
                      "(bad magic), starting without it",
                      &ctx->name, &persist->snapshot);
        ngx_free(file.data);
        return;
    }

    version = (ngx_uint_t) ngx_http_thim_get_le(file.data + 8, 4);
    len = (size_t) ngx_http_thim_get_le(file.data + 12, 4);

    if (version != NGX_HTTP_THIM_SNAPSHOT_VERSION
        || len != NGX_HTTP_THIM_SNAPSHOT_HEADER)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "thim zone \"%V\": snapshot \"%V\" has format version "
                      "%ui, this build reads %d, starting without it",
                      &ctx->name, &persist->snapshot, version,
                      NGX_HTTP_THIM_SNAPSHOT_VERSION);
        ngx_free(file.data);
        return;
    }

    ngx_memzero(&stats, sizeof(ngx_http_thim_snapshot_stats_t));

    /*
     * The Intel root CA CRL first, wherever it is in the file: the signers
     * of the other records are checked against it
     * (ngx_http_thim_intel_root_crl()).
     */

    if (ngx_http_thim_snapshot_pass(persist, &file, 1, &stats, log)
        == NGX_OK)
    {
        (void) ngx_http_thim_snapshot_pass(persist, &file, 0, &stats, log);
    }

    ngx_free(file.data);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "thim zone \"%V\": %ui records loaded from snapshot \"%V\" "
                  "in %M ms (%ui damaged, %ui refused, %ui skipped, "
                  "%uA evicted for room)",
                  &ctx->name, stats.loaded, &persist->snapshot,
                  ngx_http_thim_persist_now() - start,
                  stats.corrupt, stats.refused, stats.skipped,
                  ctx->sh->evictions - evicted);
}


/*
 * The records of the Intel root CA CRL (root), or all others; damage is
 * told in the second pass only.  NGX_ERROR stops the load.
 */

static ngx_int_t
ngx_http_thim_snapshot_pass(ngx_http_thim_persist_t *persist,
    ngx_str_t *file, ngx_uint_t root, ngx_http_thim_snapshot_stats_t *stats,
    ngx_log_t *log)
{
    u_char                *p, *last;
    size_t                 len;
    ngx_uint_t             is_root;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    p = file->data + NGX_HTTP_THIM_SNAPSHOT_HEADER;
    last = file->data + file->len;

    while (p < last) {

        len = ((size_t) (last - p) >= NGX_HTTP_THIM_SNAPSHOT_FIXED + 4)
              ? (size_t) ngx_http_thim_get_le(p + 4, 4) : 0;

        if (len < NGX_HTTP_THIM_SNAPSHOT_FIXED + 4
            || len > (size_t) (last - p)
            || ngx_memcmp(p, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4) != 0
            || len != NGX_HTTP_THIM_SNAPSHOT_FIXED + 4
                      + ngx_http_thim_get_le(p + 8, 2)
                      + ngx_http_thim_get_le(p + 44, 4)
            || ngx_crc32_long(p, len - 4) != ngx_http_thim_get_le(p + len - 4,
                                                                   4))
        {
            if (!root) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "thim zone \"%V\": snapshot \"%V\": damaged "
                              "or truncated record at offset %uz skipped",
                              &ctx->name, &persist->snapshot,
                              (size_t) (p - file->data));

                stats->corrupt++;
            }

            p = ngx_http_thim_snapshot_next(p + 1, last);
            continue;
        }

        is_root = (ngx_http_thim_get_le(p + 8, 2)
                   > sizeof("intel-root:") - 1
                   && ngx_memcmp(p + NGX_HTTP_THIM_SNAPSHOT_FIXED,
                                 "intel-root:", sizeof("intel-root:") - 1)
                      == 0);

        if (is_root == root
            && ngx_http_thim_snapshot_record(persist, p, len, stats, log)
               == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        p += len;
    }

    return NGX_OK;
}


/* where the next record may start */

static u_char *
ngx_http_thim_snapshot_next(u_char *p, u_char *last)
{
    for ( /* void */ ; last - p >= 4; p++) {
        if (ngx_memcmp(p, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4) == 0) {
            return p;
        }
    }

    return last;
}


/*
 * One record whose crc is good: re-checked, then imported with the times
 * a fetch of its content at its fetch time would have given it; only the
 * fetch time is taken from the file, and never later than now.
 */

static ngx_int_t
ngx_http_thim_snapshot_record(ngx_http_thim_persist_t *persist, u_char *p,
    size_t len, ngx_http_thim_snapshot_stats_t *stats, ngx_log_t *log)
{
    time_t                    fetched;
    ngx_int_t                 rc;
    ngx_str_t                 key, value, shown;
    ngx_uint_t                level;
    ngx_pool_t               *pool;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_store_t     st;
    ngx_http_thim_record_t    rec;
    ngx_http_thim_recheck_t   check;

    ctx = persist->shm_zone->data;

    key.len = (size_t) ngx_http_thim_get_le(p + 8, 2);
    key.data = p + NGX_HTTP_THIM_SNAPSHOT_FIXED;
    value.len = (size_t) ngx_http_thim_get_le(p + 44, 4);
    value.data = key.data + key.len;

    if (p[10]) {
        stats->skipped++;
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
        stats->refused++;
        check.reason = "no route family for this key";
        goto skip;
    }

    if (ngx_http_thim_record_read(value.data, value.len, &rec) != NGX_OK
        || rec.status != NGX_HTTP_OK)
    {
        stats->corrupt++;
        check.reason = "not a record of an origin answer";
        goto skip;
    }

    if (fetched <= 0) {
        check.reason = "its fetch time is not a time";
        goto refused;
    }

    fetched = ngx_min(fetched, ngx_time());

    rc = ngx_http_thim_snapshot_recheck(persist, pool, &key, &value, &rec,
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

    rc = ngx_http_thim_cache_import(persist->shm_zone, &key, &st, fetched,
                                    log);

    ngx_destroy_pool(pool);

    if (rc == NGX_OK) {
        stats->loaded++;

    } else {
        stats->skipped++;
    }

    return NGX_OK;

refused:

    stats->refused++;
    level = NGX_LOG_ERR;

skip:

    ngx_log_error(level, log, 0,
                  "thim zone \"%V\": \"%V\": snapshot record \"%V\" "
                  "%s: %s", &ctx->name, &persist->snapshot, &shown,
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
ngx_http_thim_snapshot_recheck(ngx_http_thim_persist_t *persist,
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


static u_char *
ngx_http_thim_put_le(u_char *p, uint64_t v, ngx_uint_t n)
{
    while (n--) {
        *p++ = (u_char) (v & 0xff);
        v >>= 8;
    }

    return p;
}


static uint64_t
ngx_http_thim_get_le(u_char *p, ngx_uint_t n)
{
    uint64_t  v;

    v = 0;

    while (n--) {
        v = (v << 8) | p[n];
    }

    return v;
}
