
/*
 * ngx_thim: the zone's snapshot files, and their writer.
 *
 * Two files: the base ("snapshot=FILE") and its journal (FILE.journal).
 * Format (integers little-endian; version 2):
 *
 *     base     "THIMSNAP"  u32 version  u32 header length (32)
 *              i64 written (unix time)  u64 id
 *     journal  "THIMJRNL"  u32 version  u32 header length (32)
 *              i64 created (unix time)  u64 id of the base it extends
 *     records  u8[4] "THRC"  u32 length of the whole record
 *              u16 key length  u8 negative  u8 0
 *              i64 fetched  i64 refresh_at  i64 expires  i64 next_update
 *              u32 value length  key  value (the record blob, as in the
 *              zone)  u32 crc32 of everything before it in the record
 *
 * A base of version 1 (a 24-byte header without the id) is still read;
 * no journal extends it.  The state of the zone is the base, then the
 * journal's records in order (a later record of a key replaces an
 * earlier one).  A journal whose id is not its base's (a compaction was
 * cut short between its two renames) is ignored: that base holds it all.
 *
 * Writing: one worker at a time, elected in the zone (an owner pid and a
 * lease, since old and new workers overlap on reload and in a binary
 * upgrade), on a cancelable timer and at worker exit, in slices of
 * NGX_HTTP_THIM_SNAPSHOT_SLICE ms so that its event loop keeps serving.
 * Nothing is copied out of the zone but one key at a time: a record is
 * taken under the zone lock (its key copied, its blob pinned), the lock
 * released, the blob written from the zone with writev(), and unpinned.
 *
 * What is written is what changed (ngx_http_thim_cache_take_dirty(): a
 * fetch, a refresh, a seed put a record in the zone's dirty queue; a hit
 * does not), appended to the journal.  A compaction writes the whole zone
 * (ngx_http_thim_cache_next(), in table order, one record per lock) to
 * FILE.tmp, renames it over the base, and starts an empty journal; it
 * runs when there is no base yet (or it was replaced), when the journal
 * has outgrown the base, when a record the files hold was evicted (the
 * journal has no removals), or when a write was cut short (its records
 * had left the dirty queue).  Records that change during a compaction
 * stay in the dirty queue and go to the new journal.  No compaction runs
 * while the files are still being loaded (ngx_thim_snapshot_load.c): the
 * zone does not hold all they do yet.  A worker that exits appends what
 * changed, never more: a compaction under way is given up if the base
 * it would replace is still there.  The files are created 0600.
 */


#include "ngx_thim_persist.h"
#include "ngx_thim_fetch.h"


/* the writer's lease: several intervals, so a live writer keeps it */
#define NGX_HTTP_THIM_SNAPSHOT_LEASES    3

/* a write runs this long at a time, then lets its event loop serve */
#define NGX_HTTP_THIM_SNAPSHOT_SLICE     10

/* a journal this much larger than its base is compacted */
#define NGX_HTTP_THIM_SNAPSHOT_COMPACT   (1024 * 1024)


#define NGX_HTTP_THIM_RUN_IDLE           0
#define NGX_HTTP_THIM_RUN_APPEND         1
#define NGX_HTTP_THIM_RUN_COMPACT        2


static ngx_int_t ngx_http_thim_snapshot_elect(
    ngx_http_thim_persist_t *persist);
static ngx_int_t ngx_http_thim_snapshot_begin(
    ngx_http_thim_persist_t *persist, ngx_uint_t exiting, ngx_log_t *log);
static ngx_uint_t ngx_http_thim_snapshot_base_ok(
    ngx_http_thim_persist_t *persist, off_t *size);
static ngx_int_t ngx_http_thim_snapshot_slice(
    ngx_http_thim_persist_t *persist, ngx_msec_t until, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_append(
    ngx_http_thim_persist_t *persist, ngx_msec_t until, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_compact(
    ngx_http_thim_persist_t *persist, ngx_msec_t until, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_start_compaction(
    ngx_http_thim_persist_t *persist, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_finish_compaction(
    ngx_http_thim_persist_t *persist, ngx_log_t *log);
static void ngx_http_thim_snapshot_give_up(ngx_http_thim_persist_t *persist);
static ngx_int_t ngx_http_thim_snapshot_journal(
    ngx_http_thim_persist_t *persist, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_new_journal(
    ngx_http_thim_persist_t *persist, uint64_t id, ngx_log_t *log);
static ngx_int_t ngx_http_thim_snapshot_put(ngx_http_thim_persist_t *persist,
    ngx_fd_t fd, ngx_http_thim_entry_t *e);
static void ngx_http_thim_snapshot_header(u_char *p, char *magic,
    uint64_t id);
static ngx_int_t ngx_http_thim_snapshot_sync_dir(ngx_str_t *file);
static void ngx_http_thim_snapshot_done(ngx_http_thim_persist_t *persist,
    ngx_log_t *log);


/* the elected worker writes, a slice at a time, and re-arms */

void
ngx_http_thim_snapshot_timer(ngx_event_t *ev)
{
    ngx_int_t                 rc;
    ngx_http_thim_persist_t  *persist = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* every slice renews the lease: a long compaction keeps it */
    if (ngx_http_thim_snapshot_elect(persist) != NGX_OK) {
        /* another worker took over (ours ran out): its run, not ours */
        ngx_http_thim_snapshot_give_up(persist);
        ngx_add_timer(ev, persist->interval);
        return;
    }

    if (persist->run == NGX_HTTP_THIM_RUN_IDLE
        && ngx_http_thim_snapshot_begin(persist, 0, ev->log) != NGX_OK)
    {
        ngx_add_timer(ev, persist->interval);
        return;
    }

    rc = ngx_http_thim_snapshot_slice(persist, ngx_http_thim_persist_now()
                                      + NGX_HTTP_THIM_SNAPSHOT_SLICE,
                                      ev->log);

    ngx_add_timer(ev, (rc == NGX_AGAIN) ? 1 : persist->interval);
}


/*
 * A worker exits: if it is the writer, or nobody is, it appends what
 * changed and gives the lease up, so that its successors (a reload's new
 * workers) take over at once.  A compaction under way is given up while
 * the base it would replace is still there; without one (none written
 * yet, or removed) the zone is written whole, as it must be.
 */

void
ngx_http_thim_snapshot_exit(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    ngx_int_t              rc;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (ngx_test_config || ngx_http_thim_snapshot_elect(persist) != NGX_OK) {
        return;
    }

    if (persist->run == NGX_HTTP_THIM_RUN_COMPACT
        && ngx_http_thim_snapshot_base_ok(persist, NULL))
    {
        ngx_http_thim_snapshot_give_up(persist);
    }

    if (persist->run != NGX_HTTP_THIM_RUN_IDLE
        || ngx_http_thim_snapshot_begin(persist, 1, log) == NGX_OK)
    {
        do {
            rc = ngx_http_thim_snapshot_slice(persist, 0, log);
        } while (rc == NGX_AGAIN);
    }

    ngx_http_thim_persist_resign(ctx, &ctx->sh->snapshot_owner);
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
 * What this write is: an append of what changed, or a compaction.
 * NGX_DECLINED: nothing to do now.
 */

static ngx_int_t
ngx_http_thim_snapshot_begin(ngx_http_thim_persist_t *persist,
    ngx_uint_t exiting, ngx_log_t *log)
{
    off_t                  base;
    ngx_uint_t             compact, loading;
    ngx_file_info_t        fi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (ctx->sh->hold) {
        /* an unreadable file could not be moved aside: not written over */
        return NGX_DECLINED;
    }

    loading = (ctx->sh->load.stage != 0);
    compact = !ngx_http_thim_snapshot_base_ok(persist, &base)
              || ctx->sh->writing
              || ctx->sh->removed != ctx->sh->compacted;

    if (!compact
        && ngx_file_info(persist->journal.data, &fi) != NGX_FILE_ERROR
        && ngx_file_size(&fi) > base + NGX_HTTP_THIM_SNAPSHOT_COMPACT)
    {
        /* a grown journal waits for a quiet moment, never for an exit */
        compact = !exiting;
    }

    if (compact && (loading || (exiting && ctx->sh->snapshot_id))) {
        if (!ngx_http_thim_snapshot_base_ok(persist, NULL)) {
            return NGX_DECLINED;
        }

        compact = 0;
    }

    persist->records = 0;
    persist->bytes = 0;
    persist->started = ngx_http_thim_persist_now();

    if (compact) {
        return ngx_http_thim_snapshot_start_compaction(persist, log);
    }

    if (ngx_http_thim_snapshot_journal(persist, log) != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx->sh->writing = 1;
    persist->run = NGX_HTTP_THIM_RUN_APPEND;

    return NGX_OK;
}


/* the base the zone's journal extends is still the file of that name */

static ngx_uint_t
ngx_http_thim_snapshot_base_ok(ngx_http_thim_persist_t *persist, off_t *size)
{
    ngx_file_info_t        fi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (ctx->sh->snapshot_id == 0
        || ngx_file_info(persist->snapshot.data, &fi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != ctx->sh->snapshot_uniq)
    {
        return 0;
    }

    if (size) {
        *size = ngx_file_size(&fi);
    }

    return 1;
}


/* NGX_AGAIN: more to do (until was reached); 0: no time limit */

static ngx_int_t
ngx_http_thim_snapshot_slice(ngx_http_thim_persist_t *persist,
    ngx_msec_t until, ngx_log_t *log)
{
    ngx_int_t  rc;

    if (persist->run == NGX_HTTP_THIM_RUN_COMPACT) {
        rc = ngx_http_thim_snapshot_compact(persist, until, log);

        if (rc != NGX_OK) {
            return rc;
        }

        /* what changed meanwhile goes to the new journal */
        persist->records = 0;
        persist->bytes = 0;
        persist->started = ngx_http_thim_persist_now();
        persist->run = NGX_HTTP_THIM_RUN_APPEND;

        if (until && ngx_http_thim_persist_now() >= until) {
            return NGX_AGAIN;
        }
    }

    if (persist->run == NGX_HTTP_THIM_RUN_APPEND) {
        return ngx_http_thim_snapshot_append(persist, until, log);
    }

    return NGX_OK;
}


/* the changed records, appended to the journal, one lock each */

static ngx_int_t
ngx_http_thim_snapshot_append(ngx_http_thim_persist_t *persist,
    ngx_msec_t until, ngx_log_t *log)
{
    ngx_int_t                rc;
    ngx_http_thim_zone_t    *ctx;
    ngx_http_thim_entry_t    e;
    ngx_http_thim_value_t   *pin;

    ctx = persist->shm_zone->data;

    for ( ;; ) {
        if (until && ngx_http_thim_persist_now() >= until) {
            return NGX_AGAIN;
        }

        rc = ngx_http_thim_cache_take_dirty(persist->shm_zone, persist->upto,
                                            &e, persist->key, &pin);

        if (rc == NGX_DONE) {
            break;
        }

        if (rc != NGX_OK) {
            continue;
        }

        rc = ngx_http_thim_snapshot_put(persist, persist->jfd, &e);

        ngx_http_thim_cache_unpin(persist->shm_zone, pin);

        if (rc != NGX_OK) {
            /* "writing" stays set: the next write is a compaction */
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "appending to \"%V\" failed, the next write "
                          "compacts", &persist->journal);
            persist->run = NGX_HTTP_THIM_RUN_IDLE;
            return NGX_ERROR;
        }
    }

    if (persist->records && fsync(persist->jfd) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "fsync() of \"%V\" failed", &persist->journal);
        persist->run = NGX_HTTP_THIM_RUN_IDLE;
        return NGX_ERROR;
    }

    ctx->sh->writing = 0;
    persist->upto = 0;
    persist->run = NGX_HTTP_THIM_RUN_IDLE;

    if (persist->records) {
        ctx->sh->snapshot_time = ngx_time();

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "thim zone \"%V\": journal: %ui changed records "
                      "(%O bytes) appended to \"%V\" in %M ms "
                      "(zone locked per record)",
                      &ctx->name, persist->records, persist->bytes,
                      &persist->journal,
                      ngx_http_thim_persist_now() - persist->started);
    }

    return NGX_OK;
}


/* the whole zone into file.tmp, in tree order, one lock per record */

static ngx_int_t
ngx_http_thim_snapshot_compact(ngx_http_thim_persist_t *persist,
    ngx_msec_t until, ngx_log_t *log)
{
    ngx_int_t                rc;
    ngx_http_thim_entry_t    e;
    ngx_http_thim_value_t   *pin;

    for ( ;; ) {
        if (until && ngx_http_thim_persist_now() >= until) {
            return NGX_AGAIN;
        }

        rc = ngx_http_thim_cache_next(persist->shm_zone, &persist->cursor,
                                      &e, persist->key, &pin);

        if (rc == NGX_DONE) {
            return ngx_http_thim_snapshot_finish_compaction(persist, log);
        }

        if (rc != NGX_OK) {
            continue;
        }

        rc = ngx_http_thim_snapshot_put(persist, persist->cfd, &e);

        ngx_http_thim_cache_unpin(persist->shm_zone, pin);

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "writing snapshot \"%V\" failed, previous one kept",
                          &persist->snapshot_tmp);
            ngx_http_thim_snapshot_give_up(persist);
            return NGX_ERROR;
        }
    }
}


/*
 * file.tmp, under an advisory lock: two writers of one file (the zones
 * of an old and a new master during a binary upgrade) are kept apart.
 */

static ngx_int_t
ngx_http_thim_snapshot_start_compaction(ngx_http_thim_persist_t *persist,
    ngx_log_t *log)
{
    u_char                 header[NGX_HTTP_THIM_SNAPSHOT_HEADER];
    ngx_fd_t               fd;
    ngx_file_info_t        fi, tfi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    fd = ngx_open_file(persist->snapshot_tmp.data, NGX_FILE_WRONLY,
                       NGX_FILE_CREATE_OR_OPEN, NGX_HTTP_THIM_SNAPSHOT_MODE);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed, snapshot not written",
                      &persist->snapshot_tmp);
        return NGX_ERROR;
    }

    /* another writer has it, or it was renamed away meanwhile */
    if (ngx_trylock_fd(fd) != 0
        || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_info(persist->snapshot_tmp.data, &tfi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != ngx_file_uniq(&tfi))
    {
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    persist->cfd = fd;
    persist->id = ((uint64_t) ngx_random() << 32)
                  ^ ((uint64_t) ngx_random() << 8) ^ (uint64_t) ngx_pid
                  ^ (uint64_t) ngx_time();
    persist->id |= 1;                           /* never 0: 0 is "none" */

    ngx_http_thim_snapshot_header(header, NGX_HTTP_THIM_SNAPSHOT_MAGIC,
                                  persist->id);

    /* a file.tmp left by an older build: narrowed before it is written */
    if (((ngx_file_access(&fi) & ~NGX_HTTP_THIM_SNAPSHOT_MODE)
         && fchmod(fd, NGX_HTTP_THIM_SNAPSHOT_MODE) == -1)
        || ftruncate(fd, 0) == -1
        || write(fd, header, sizeof(header)) != (ssize_t) sizeof(header))
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "writing snapshot \"%V\" failed, previous one kept",
                      &persist->snapshot_tmp);
        ngx_http_thim_snapshot_give_up(persist);
        return NGX_ERROR;
    }

    persist->cursor.len = 0;
    persist->upto = ngx_http_thim_cache_gen(persist->shm_zone);
    persist->removed = ctx->sh->removed;
    persist->bytes = sizeof(header);

    ctx->sh->writing = 1;
    persist->run = NGX_HTTP_THIM_RUN_COMPACT;

    /* wall-clock ms: what is served meanwhile can be told from the logs */
    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "thim zone \"%V\": compaction into \"%V\" started at "
                  "%M ms", &ctx->name, &persist->snapshot, persist->started);

    return NGX_OK;
}


/* fsync, rename over the base, fsync of the directory; a new journal */

static ngx_int_t
ngx_http_thim_snapshot_finish_compaction(ngx_http_thim_persist_t *persist,
    ngx_log_t *log)
{
    ngx_file_info_t        fi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (fsync(persist->cfd) == -1
        || ngx_fd_info(persist->cfd, &fi) == NGX_FILE_ERROR
        || ngx_rename_file(persist->snapshot_tmp.data, persist->snapshot.data)
           == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "writing snapshot \"%V\" failed, previous one kept",
                      &persist->snapshot_tmp);
        ngx_http_thim_snapshot_give_up(persist);
        return NGX_ERROR;
    }

    (void) ngx_close_file(persist->cfd);
    persist->cfd = NGX_INVALID_FILE;

    (void) ngx_http_thim_snapshot_sync_dir(&persist->snapshot);

    ctx->sh->snapshot_id = persist->id;
    ctx->sh->snapshot_uniq = ngx_file_uniq(&fi);
    ctx->sh->snapshot_time = ngx_time();
    ctx->sh->compacted = persist->removed;

    ngx_http_thim_snapshot_done(persist, log);

    if (ngx_http_thim_snapshot_new_journal(persist, persist->id, log)
        != NGX_OK)
    {
        persist->run = NGX_HTTP_THIM_RUN_IDLE;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_thim_snapshot_done(ngx_http_thim_persist_t *persist, ngx_log_t *log)
{
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "thim zone \"%V\": snapshot of %ui records (%O bytes) "
                  "written to \"%V\" in %M ms (zone locked per record)",
                  &ctx->name, persist->records, persist->bytes,
                  &persist->snapshot,
                  ngx_http_thim_persist_now() - persist->started);
}


static void
ngx_http_thim_snapshot_give_up(ngx_http_thim_persist_t *persist)
{
    if (persist->cfd != NGX_INVALID_FILE) {
        (void) ngx_delete_file(persist->snapshot_tmp.data);
        (void) ngx_close_file(persist->cfd);
        persist->cfd = NGX_INVALID_FILE;
    }

    /* what a compaction left in the dirty queue is still there */
    persist->upto = 0;
    persist->run = NGX_HTTP_THIM_RUN_IDLE;
}


/*
 * The journal of the zone's base, open for appending: the one open if it
 * is still the file of that name, else that file if it names the base,
 * else a new one.
 */

static ngx_int_t
ngx_http_thim_snapshot_journal(ngx_http_thim_persist_t *persist,
    ngx_log_t *log)
{
    u_char                 header[NGX_HTTP_THIM_SNAPSHOT_HEADER];
    ngx_fd_t               fd;
    ngx_file_info_t        fi, jfi;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    if (ngx_file_info(persist->journal.data, &jfi) != NGX_FILE_ERROR) {

        if (persist->jfd != NGX_INVALID_FILE
            && ngx_fd_info(persist->jfd, &fi) != NGX_FILE_ERROR
            && ngx_file_uniq(&fi) == ngx_file_uniq(&jfi)
            && persist->jid == ctx->sh->snapshot_id)
        {
            return NGX_OK;
        }

        fd = ngx_open_file(persist->journal.data,
                           O_RDWR|O_APPEND, NGX_FILE_OPEN, 0);

        if (fd != NGX_INVALID_FILE) {
            if (pread(fd, header, sizeof(header), 0) == sizeof(header)
                && ngx_memcmp(header, NGX_HTTP_THIM_JOURNAL_MAGIC, 8) == 0
                && ngx_http_thim_get_le(header + 8, 4)
                   == NGX_HTTP_THIM_SNAPSHOT_VERSION
                && ngx_http_thim_get_le(header + 24, 8)
                   == ctx->sh->snapshot_id)
            {
                if (persist->jfd != NGX_INVALID_FILE) {
                    (void) ngx_close_file(persist->jfd);
                }

                persist->jfd = fd;
                persist->jid = ctx->sh->snapshot_id;
                return NGX_OK;
            }

            (void) ngx_close_file(fd);
        }
    }

    return ngx_http_thim_snapshot_new_journal(persist, ctx->sh->snapshot_id,
                                              log);
}


/* an empty journal of base "id": file.journal.tmp, fsync, rename */

static ngx_int_t
ngx_http_thim_snapshot_new_journal(ngx_http_thim_persist_t *persist,
    uint64_t id, ngx_log_t *log)
{
    u_char    header[NGX_HTTP_THIM_SNAPSHOT_HEADER];
    ngx_fd_t  fd;

    if (persist->jfd != NGX_INVALID_FILE) {
        (void) ngx_close_file(persist->jfd);
        persist->jfd = NGX_INVALID_FILE;
    }

    fd = ngx_open_file(persist->journal_tmp.data,
                       O_RDWR|O_APPEND, NGX_FILE_TRUNCATE,
                       NGX_HTTP_THIM_SNAPSHOT_MODE);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &persist->journal_tmp);
        return NGX_ERROR;
    }

    ngx_http_thim_snapshot_header(header, NGX_HTTP_THIM_JOURNAL_MAGIC, id);

    if (fchmod(fd, NGX_HTTP_THIM_SNAPSHOT_MODE) == -1
        || write(fd, header, sizeof(header)) != (ssize_t) sizeof(header)
        || fsync(fd) == -1
        || ngx_rename_file(persist->journal_tmp.data, persist->journal.data)
           == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "writing journal \"%V\" failed", &persist->journal_tmp);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    (void) ngx_http_thim_snapshot_sync_dir(&persist->journal);

    persist->jfd = fd;
    persist->jid = id;

    return NGX_OK;
}


/*
 * One record, from the zone's pinned blob, in one writev(): appended
 * whole or, on a full disk or a crash, torn at the end of the file,
 * where the loader skips it.
 */

static ngx_int_t
ngx_http_thim_snapshot_put(ngx_http_thim_persist_t *persist, ngx_fd_t fd,
    ngx_http_thim_entry_t *e)
{
    u_char        head[NGX_HTTP_THIM_SNAPSHOT_FIXED], tail[4], *p;
    size_t        len;
    ssize_t       n;
    uint32_t      crc;
    struct iovec  iov[4];

    len = NGX_HTTP_THIM_SNAPSHOT_FIXED + e->key.len + e->len + 4;

    p = ngx_cpymem(head, NGX_HTTP_THIM_SNAPSHOT_MARKER, 4);
    p = ngx_http_thim_put_le(p, len, 4);
    p = ngx_http_thim_put_le(p, e->key.len, 2);
    *p++ = 0;
    *p++ = 0;
    p = ngx_http_thim_put_le(p, (uint64_t) e->fetched, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->refresh_at, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->expires, 8);
    p = ngx_http_thim_put_le(p, (uint64_t) e->next_update, 8);
    (void) ngx_http_thim_put_le(p, e->len, 4);

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, head, sizeof(head));
    ngx_crc32_update(&crc, e->key.data, e->key.len);
    ngx_crc32_update(&crc, e->value, e->len);
    ngx_crc32_final(crc);

    (void) ngx_http_thim_put_le(tail, crc, 4);

    iov[0].iov_base = head;
    iov[0].iov_len = sizeof(head);
    iov[1].iov_base = e->key.data;
    iov[1].iov_len = e->key.len;
    iov[2].iov_base = e->value;
    iov[2].iov_len = e->len;
    iov[3].iov_base = tail;
    iov[3].iov_len = sizeof(tail);

    do {
        n = writev(fd, iov, 4);
    } while (n == -1 && ngx_errno == NGX_EINTR);

    if (n != (ssize_t) len) {
        if (n >= 0) {
            ngx_set_errno(NGX_ENOSPC);
        }

        return NGX_ERROR;
    }

    persist->records++;
    persist->bytes += len;

    return NGX_OK;
}


static void
ngx_http_thim_snapshot_header(u_char *p, char *magic, uint64_t id)
{
    p = ngx_cpymem(p, magic, 8);
    p = ngx_http_thim_put_le(p, NGX_HTTP_THIM_SNAPSHOT_VERSION, 4);
    p = ngx_http_thim_put_le(p, NGX_HTTP_THIM_SNAPSHOT_HEADER, 4);
    p = ngx_http_thim_put_le(p, (uint64_t) ngx_time(), 8);
    (void) ngx_http_thim_put_le(p, id, 8);
}


/* a rename itself must survive a crash */

static ngx_int_t
ngx_http_thim_snapshot_sync_dir(ngx_str_t *file)
{
    u_char    *slash, *dname;
    ngx_fd_t   dir;

    slash = (u_char *) strrchr((char *) file->data, '/');

    if (slash == NULL) {
        return NGX_DECLINED;
    }

    *slash = '\0';
    dname = (slash == file->data) ? (u_char *) "/" : file->data;
    dir = ngx_open_file(dname, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    *slash = '/';

    if (dir == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    (void) fsync(dir);
    (void) ngx_close_file(dir);

    return NGX_OK;
}


u_char *
ngx_http_thim_put_le(u_char *p, uint64_t v, ngx_uint_t n)
{
    while (n--) {
        *p++ = (u_char) (v & 0xff);
        v >>= 8;
    }

    return p;
}


uint64_t
ngx_http_thim_get_le(u_char *p, ngx_uint_t n)
{
    uint64_t  v;

    v = 0;

    while (n--) {
        v = (v << 8) | p[n];
    }

    return v;
}
