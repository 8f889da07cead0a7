
/*
 * ngx_thim: seeding a zone from a bundle (docs/bundle.md), after the
 * snapshot, in the background load (ngx_thim_snapshot_load.c): in slices,
 * in one worker at a time.
 *
 * Each entry is an origin answer: its origin, path and query are mapped
 * to the key ngx_thim would use for that request and the body is checked
 * as that answer would be (ngx_http_thim_persist_recheck()), then stored
 * with the lifetime an origin answer gets now.  An entry never replaces a
 * record fetched later (from the snapshot).  A bad
 * entry is skipped with its reason; a missing bundle or a bad index is
 * logged and start-up goes on.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ngx_thim_persist.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_fetch.h"


#define NGX_HTTP_THIM_BUNDLE_FORMAT      "ngx_thim-bundle"
#define NGX_HTTP_THIM_BUNDLE_VERSION     1
#define NGX_HTTP_THIM_BUNDLE_MAX_INDEX   (64 * 1024 * 1024)


typedef struct {
    ngx_uint_t                 loaded;
    ngx_uint_t                 skipped;        /* bad, or not served */
    ngx_uint_t                 kept;           /* a newer copy was cached */
} ngx_http_thim_seed_stats_t;


/* origin paths a bundle may hold that this build does not serve (yet) */
typedef struct {
    ngx_str_t                  prefix;
    char                      *reason;
} ngx_http_thim_seed_unserved_t;


static json_t *ngx_http_thim_seed_index(ngx_http_thim_persist_t *persist,
    ngx_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_http_thim_seed_entry(ngx_http_thim_persist_t *persist,
    json_t *entry, ngx_pool_t *pool, ngx_http_thim_seed_stats_t *stats,
    ngx_log_t *log);
static ngx_int_t ngx_http_thim_seed_name(json_t *entry, ngx_pool_t *pool,
    ngx_str_t *origin, ngx_http_thim_recheck_t *check, ngx_str_t *what);
static char *ngx_http_thim_seed_where(ngx_str_t *origin,
    ngx_http_thim_recheck_t *check, ngx_uint_t *level);
static ngx_int_t ngx_http_thim_seed_store(ngx_http_thim_persist_t *persist,
    json_t *entry, ngx_pool_t *pool, ngx_http_thim_recheck_t *check,
    ngx_log_t *log);
static char *ngx_http_thim_seed_read(ngx_http_thim_persist_t *persist,
    json_t *entry, ngx_pool_t *pool, ngx_str_t *body);
static ngx_int_t ngx_http_thim_seed_chain(json_t *entry,
    ngx_http_thim_recheck_t *rc, ngx_http_thim_record_t *headers);
static const char *ngx_http_thim_seed_string(json_t *entry, const char *name);


/*
 * Origin answers a bundle may hold that the cache does not keep: Intel's
 * own choice of one PCK certificate (the cache keeps the platform's whole
 * set, pckcerts, and chooses itself); skipped at info, they are expected
 * in bundles made by other tools.
 */

static ngx_http_thim_seed_unserved_t  ngx_http_thim_seed_unserved[] = {
    { ngx_string("/sgx/certification/v4/pckcert"),
      "single PCK certificates are chosen from their set, not kept" },
    { ngx_string("/sgx/certification/v3/pckcert"),
      "single PCK certificates are chosen from their set, not kept" },
    { ngx_null_string, NULL }
};


static ngx_str_t  ngx_http_thim_seed_origins[] = {
    ngx_string("intel"),                      /* NGX_HTTP_THIM_ORIGIN_INTEL */
    ngx_string("intel-root"),            /* NGX_HTTP_THIM_ORIGIN_INTEL_ROOT */
    ngx_string("amd")                           /* NGX_HTTP_THIM_ORIGIN_AMD */
};


/*
 * Seeds entries until "until" (wall clock, ms), the loader's slice, so
 * that the worker's event loop keeps serving however large the bundle.
 * The index is parsed once per worker; the place reached and the counts
 * are in the zone (ngx_http_thim_load_t), so a worker that dies or exits
 * mid-way leaves the rest to another, which parses the index again and
 * goes on from there.  NGX_AGAIN: entries are left; NGX_OK: done (or no
 * bundle to seed: a missing bundle or a bad index is logged and start-up
 * goes on).
 */

ngx_int_t
ngx_http_thim_seed_step(ngx_http_thim_persist_t *persist, ngx_msec_t until,
    ngx_log_t *log)
{
    json_t                      *root, *entries, *entry;
    ngx_int_t                    rc;
    const char                  *s;
    ngx_pool_t                  *pool;
    ngx_http_thim_zone_t        *ctx;
    ngx_http_thim_load_t        *load;
    ngx_http_thim_seed_stats_t   stats;

    ctx = persist->shm_zone->data;
    load = &ctx->sh->load;

    if (load->seed_started == 0) {
        load->seed_started = ngx_http_thim_persist_now();
        load->seed_evicted = ctx->sh->evictions;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_AGAIN;
    }

    root = persist->seed_index;

    if (root == NULL) {
        root = ngx_http_thim_seed_index(persist, pool, log);

        if (root == NULL) {
            ngx_destroy_pool(pool);
            return NGX_OK;
        }

        persist->seed_index = root;
    }

    entries = json_object_get(root, "entries");
    rc = NGX_AGAIN;

    /*
     * The Intel root CA CRL first, wherever it is in the index: the
     * signers of the other entries are checked against it
     * (ngx_http_thim_intel_root_crl()).
     */

    while (ngx_http_thim_persist_now() < until) {

        if (load->seed_next >= json_array_size(entries)) {
            load->seed_next = 0;

            if (++load->seed_pass == 2) {
                rc = NGX_OK;
                break;
            }
        }

        entry = json_array_get(entries, load->seed_next++);

        s = ngx_http_thim_seed_string(entry, "origin");

        if ((s && ngx_strcmp(s, "intel-root") == 0) != (load->seed_pass == 0))
        {
            continue;
        }

        ngx_reset_pool(pool);
        ngx_memzero(&stats, sizeof(ngx_http_thim_seed_stats_t));

        if (ngx_http_thim_seed_entry(persist, entry, pool, &stats, log)
            == NGX_ERROR)
        {
            /* no memory: the rest is not seeded */
            rc = NGX_OK;
            break;
        }

        load->seed_loaded += stats.loaded;
        load->seed_skipped += stats.skipped;
        load->seed_kept += stats.kept;
    }

    ngx_destroy_pool(pool);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ngx_http_thim_seed_close(persist);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "thim zone \"%V\": %ui entries seeded from bundle \"%V\" "
                  "in %M ms (%ui skipped, %ui had a newer copy, "
                  "%uA evicted for room)",
                  &ctx->name, load->seed_loaded, &persist->seed,
                  ngx_http_thim_persist_now() - load->seed_started,
                  load->seed_skipped, load->seed_kept,
                  ctx->sh->evictions - load->seed_evicted);

    return NGX_OK;
}


/* the worker is done with the index (the seeding ended, or it exits) */

void
ngx_http_thim_seed_close(ngx_http_thim_persist_t *persist)
{
    if (persist->seed_index) {
        json_decref(persist->seed_index);
        persist->seed_index = NULL;
    }
}


/* the bundle's index.json, read and checked: its root, or NULL (logged) */

static json_t *
ngx_http_thim_seed_index(ngx_http_thim_persist_t *persist, ngx_pool_t *pool,
    ngx_log_t *log)
{
    json_t                *root, *entries, *v;
    ngx_int_t              rc;
    ngx_str_t              name, index;
    json_error_t           err;
    ngx_http_thim_zone_t  *ctx;

    ctx = persist->shm_zone->data;

    name.len = persist->seed.len + sizeof("/index.json") - 1;
    name.data = ngx_pnalloc(pool, name.len + 1);
    if (name.data == NULL) {
        return NULL;
    }

    ngx_sprintf(name.data, "%V/index.json%Z", &persist->seed);

    rc = ngx_http_thim_persist_read(&name, pool,
                                    NGX_HTTP_THIM_BUNDLE_MAX_INDEX, &index,
                                    log);
    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, log,
                      rc == NGX_ABORT ? 0 : ngx_errno,
                      "thim zone \"%V\": bundle \"%V\" not loaded: "
                      "cannot read \"%V\"", &ctx->name, &persist->seed,
                      &name);
        return NULL;
    }

    root = json_loadb((const char *) index.data, index.len, 0, &err);

    v = root ? json_object_get(root, "format") : NULL;
    entries = root ? json_object_get(root, "entries") : NULL;

    if (!json_is_string(v)
        || ngx_strcmp(json_string_value(v), NGX_HTTP_THIM_BUNDLE_FORMAT) != 0
        || !json_is_integer(json_object_get(root, "version"))
        || json_integer_value(json_object_get(root, "version"))
           != NGX_HTTP_THIM_BUNDLE_VERSION
        || !json_is_array(entries))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "thim zone \"%V\": bundle \"%V\" not loaded: "
                      "\"%V\" is not a version %d bundle index%s%s",
                      &ctx->name, &persist->seed, &name,
                      NGX_HTTP_THIM_BUNDLE_VERSION,
                      root ? "" : ": ", root ? "" : err.text);
        json_decref(root);
        return NULL;
    }

    return root;
}


static ngx_int_t
ngx_http_thim_seed_entry(ngx_http_thim_persist_t *persist, json_t *entry,
    ngx_pool_t *pool, ngx_http_thim_seed_stats_t *stats, ngx_log_t *log)
{
    char                     *reason;
    ngx_int_t                 rc;
    ngx_uint_t                level;
    const char               *s;
    ngx_str_t                 origin, what;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_recheck_t   check;
    ngx_http_thim_record_t    headers;

    ctx = persist->shm_zone->data;
    ngx_memzero(&check, sizeof(ngx_http_thim_recheck_t));

    if (ngx_http_thim_seed_name(entry, pool, &origin, &check, &what)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    level = NGX_LOG_WARN;

    reason = ngx_http_thim_seed_where(&origin, &check, &level);
    if (reason) {
        goto skip;
    }

    reason = ngx_http_thim_seed_read(persist, entry, pool, &check.body);
    if (reason) {
        goto skip;
    }

    if (ngx_http_thim_seed_chain(entry, &check, &headers) != NGX_OK) {
        reason = "headers is not an object of at most 8 strings";
        goto skip;
    }

    check.headers = &headers;

    s = ngx_http_thim_seed_string(entry, "qeid");
    check.qeid.data = (u_char *) (s ? s : "");
    check.qeid.len = ngx_strlen(check.qeid.data);

    rc = ngx_http_thim_persist_recheck(persist, pool, &check);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        reason = check.reason;
        goto skip;
    }

    rc = ngx_http_thim_seed_store(persist, entry, pool, &check, log);

    if (rc == NGX_ABORT) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "thim zone \"%V\": bundle entry \"%V\" not loaded: "
                      "a newer copy is cached", &ctx->name, &what);
        stats->kept++;
        return NGX_OK;
    }

    if (rc == NGX_OK) {
        stats->loaded++;

    } else {
        stats->skipped++;
    }

    return NGX_OK;

skip:

    ngx_log_error(level, log, 0,
                  "thim zone \"%V\": bundle entry \"%V\" skipped: %s",
                  &ctx->name, &what, reason);
    stats->skipped++;

    return NGX_OK;
}


/*
 * The entry's origin (check->origin) and path: the reason it is skipped,
 * or NULL; a path the module does not serve is skipped at *level INFO.
 */

static char *
ngx_http_thim_seed_where(ngx_str_t *origin, ngx_http_thim_recheck_t *check,
    ngx_uint_t *level)
{
    ngx_uint_t                      i;
    ngx_http_thim_seed_unserved_t  *u;

    for (i = 0; i < sizeof(ngx_http_thim_seed_origins) / sizeof(ngx_str_t);
         i++)
    {
        if (origin->len == ngx_http_thim_seed_origins[i].len
            && ngx_strncmp(origin->data, ngx_http_thim_seed_origins[i].data,
                           origin->len) == 0)
        {
            break;
        }
    }

    if (i == sizeof(ngx_http_thim_seed_origins) / sizeof(ngx_str_t)) {
        return "unknown origin";
    }

    check->origin = i;

    if (check->path.len == 0 || check->path.data[0] != '/') {
        return "path missing or not absolute";
    }

    for (u = ngx_http_thim_seed_unserved; u->prefix.len; u++) {
        if (check->path.len == u->prefix.len
            && ngx_strncmp(check->path.data, u->prefix.data, u->prefix.len)
               == 0)
        {
            *level = NGX_LOG_INFO;
            return u->reason;
        }
    }

    return NULL;
}


/*
 * What the entry is, for the log: its origin, path and query (a pckcerts
 * query carries an encrypted PPID: it is not shown); check gets the path
 * and the query.
 */

static ngx_int_t
ngx_http_thim_seed_name(json_t *entry, ngx_pool_t *pool, ngx_str_t *origin,
    ngx_http_thim_recheck_t *check, ngx_str_t *what)
{
    u_char      *p;
    const char  *s;

    s = ngx_http_thim_seed_string(entry, "origin");
    origin->data = (u_char *) (s ? s : "");
    origin->len = ngx_strlen(origin->data);

    s = ngx_http_thim_seed_string(entry, "path");
    check->path.data = (u_char *) (s ? s : "");
    check->path.len = ngx_strlen(check->path.data);

    s = ngx_http_thim_seed_string(entry, "query");
    check->query.data = (u_char *) (s ? s : "");
    check->query.len = ngx_strlen(check->query.data);

    what->len = origin->len + 1 + check->path.len + 1 + check->query.len;
    what->data = ngx_pnalloc(pool, what->len);
    if (what->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(what->data, "%V:%V", origin, &check->path);

    if (check->query.len) {
        p = ngx_sprintf(p, "?%V", &check->query);
    }

    what->len = p - what->data;

    ngx_http_thim_persist_show(pool, what, what);

    return NGX_OK;
}


/*
 * Stores a re-checked entry under its key (and a PCK certificate set
 * under its second key too): as ngx_http_thim_cache_import() returns, or
 * NGX_ABORT without memory.
 * Its fetch time is when the origin answered, never later than now;
 * without one, older than anything cached.  The lifetime is the one an
 * origin answer gets now.
 */

static ngx_int_t
ngx_http_thim_seed_store(ngx_http_thim_persist_t *persist, json_t *entry,
    ngx_pool_t *pool, ngx_http_thim_recheck_t *check, ngx_log_t *log)
{
    size_t                  len;
    time_t                  fetched;
    ngx_int_t               rc;
    const char             *s;
    ngx_http_thim_store_t   st;

    s = ngx_http_thim_seed_string(entry, "fetched");
    len = s ? ngx_strlen(s) : 0;

    if (s == NULL
        || ngx_http_thim_parse_iso8601((u_char *) s, len, &fetched) != NGX_OK
        || fetched < 1)
    {
        /*
         * unknown: older than any copy whose time is known, yet a time,
         * for the snapshot this record is written to refuses a record
         * without one
         */
        fetched = 1;
    }

    fetched = ngx_min(fetched, ngx_time());

    st.len = ngx_http_thim_record_size(&check->record);
    st.value = ngx_pnalloc(pool, st.len);
    if (st.value == NULL) {
        return NGX_ABORT;
    }

    (void) ngx_http_thim_record_write(st.value, &check->record);

    ngx_http_thim_lifetime(check->ctx, ngx_time(),
                           check->next_update - ngx_time(), 0, &st);

    rc = ngx_http_thim_cache_import(persist->shm_zone, &check->ctx->key, &st,
                                    fetched, log);

    /* a PCK certificate set: found by QE ID and by encrypted PPID */
    if (rc == NGX_OK && check->alt_key.len) {
        rc = ngx_http_thim_cache_import(persist->shm_zone, &check->alt_key,
                                        &st, fetched, log);
    }

    return rc;
}


/* the entry's file, within the bundle, matching its sha256: NULL or why */

static char *
ngx_http_thim_seed_read(ngx_http_thim_persist_t *persist, json_t *entry,
    ngx_pool_t *pool, ngx_str_t *body)
{
    u_char        *p, *last, md[EVP_MAX_MD_SIZE], hex[2 * EVP_MAX_MD_SIZE];
    size_t         len;
    ngx_int_t      rc;
    ngx_str_t      name;
    const char    *file, *sha;
    unsigned int   mdlen;

    file = ngx_http_thim_seed_string(entry, "file");
    sha = ngx_http_thim_seed_string(entry, "sha256");

    if (file == NULL || file[0] == '\0' || file[0] == '/') {
        return "file missing or absolute";
    }

    len = ngx_strlen(file);
    last = (u_char *) file + len;

    /* no ".." component */
    for (p = (u_char *) file; p < last; p++) {
        if (p[0] == '.' && p + 1 < last && p[1] == '.'
            && (p == (u_char *) file || p[-1] == '/')
            && (p + 2 == last || p[2] == '/'))
        {
            return "file leaves the bundle (\"..\")";
        }
    }

    if (sha == NULL || ngx_strlen(sha) != 64) {
        return "sha256 missing or not 64 hexadecimal digits";
    }

    name.len = persist->seed.len + 1 + len;
    name.data = ngx_pnalloc(pool, name.len + 1);
    if (name.data == NULL) {
        return "no memory";
    }

    ngx_sprintf(name.data, "%V/%s%Z", &persist->seed, file);

    rc = ngx_http_thim_persist_read(&name, pool,
                                    NGX_HTTP_THIM_PERSIST_MAX_BODY, body,
                                    persist->shm_zone->shm.log);
    if (rc != NGX_OK) {
        return (rc == NGX_ABORT) ? "file too large" : "file cannot be read";
    }

    if (EVP_Digest(body->data, body->len, md, &mdlen, EVP_sha256(), NULL)
        != 1)
    {
        return "sha256 cannot be computed";
    }

    ngx_hex_dump(hex, md, mdlen);

    if (ngx_strncasecmp(hex, (u_char *) sha, 2 * mdlen) != 0) {
        return "the file does not match its sha256";
    }

    return NULL;
}


/*
 * The issuer chain among the entry's headers: the one header whose name
 * ends in "-Issuer-Chain" (an origin answer has at most one).  The route's
 * check refuses a chain that is not its collateral's signer, whatever the
 * header was called.
 */

static ngx_int_t
ngx_http_thim_seed_chain(json_t *entry, ngx_http_thim_recheck_t *rc,
    ngx_http_thim_record_t *h)
{
    size_t       len;
    json_t      *headers, *value;
    const char  *name;

    ngx_memzero(h, sizeof(ngx_http_thim_record_t));

    headers = json_object_get(entry, "headers");

    if (headers == NULL) {
        return NGX_OK;
    }

    if (!json_is_object(headers)) {
        return NGX_ERROR;
    }

    json_object_foreach(headers, name, value) {

        if (!json_is_string(value)
            || h->nheaders == NGX_HTTP_THIM_RECORD_MAX_HEADERS)
        {
            return NGX_ERROR;
        }

        len = ngx_strlen(name);

        /* all of them, for the headers a route keeps (SGX-FMSPC, ...) */
        h->names[h->nheaders].data = (u_char *) name;
        h->names[h->nheaders].len = len;
        h->values[h->nheaders].data = (u_char *) json_string_value(value);
        h->values[h->nheaders].len = json_string_length(value);
        h->nheaders++;

        if (len > sizeof("-Issuer-Chain") - 1
            && ngx_strcasecmp((u_char *) name + len
                              - (sizeof("-Issuer-Chain") - 1),
                              (u_char *) "-Issuer-Chain") == 0)
        {
            rc->chain.data = (u_char *) json_string_value(value);
            rc->chain.len = json_string_length(value);
        }
    }

    return NGX_OK;
}


static const char *
ngx_http_thim_seed_string(json_t *entry, const char *name)
{
    json_t  *v;

    v = json_object_get(entry, name);

    return json_is_string(v) ? json_string_value(v) : NULL;
}
