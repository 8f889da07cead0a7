
/*
 * ngx_thim: platform registration, as PCCS has it (PROTOCOLS.md 1a).
 *
 *   POST /sgx/certification/v3|v4/platforms[?update=standard|early|all]
 *        {"qe_id", "pce_id", "cpu_svn", "pce_svn", "enc_ppid",
 *         "platform_manifest"}
 *
 * PCCS's validation (services/pccs_schemas.js, platformsRegService.js):
 * qe_id 1-260 characters, pce_id 4 hex, cpu_svn 32 hex, pce_svn 4 hex,
 * enc_ppid 768 hex, platform_manifest a string; with a manifest the other
 * three are ignored, without one they are required.  The manifest, which
 * goes to Intel, must be hex here as well.
 *
 * The registration is kept as a zone record of its own,
 * "intel-reg:<digest>", the digest being the one the platform's PCK set
 * is kept under ("intel-pck:<digest>", its QE ID and PCE ID): snapshots
 * keep it (0600) and read it back through its own check, and the refresh
 * sweep finds in it what refetching the set needs (the encrypted PPID or
 * the manifest), which no client's pckcert request carries.  No plaintext
 * PPID exists anywhere: the encrypted PPID is an RSA-OAEP ciphertext for
 * Intel's key, kept only in this record.
 *
 * Then the set is served as a pckcert request serves it: a hit costs
 * nothing, a miss fetches it once (GET pckcerts with the encrypted PPID,
 * POST pckcerts with the manifest), checks all of it and caches it.  With
 * thim_pccs_offline on, nothing is fetched: the registration waits for
 * the admin tool (GET /platforms, then PUT /platformcollateral).
 */


#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_response.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_QE_ID_MAX        260
#define NGX_HTTP_THIM_MANIFEST_MAX     (256 * 1024)


/* the most registrations GET /platforms lists */
#define NGX_HTTP_THIM_REG_LIST_MAX     8192


typedef struct {
    ngx_str_t                 *keys;
    ngx_uint_t                 n;
} ngx_http_thim_reg_list_t;


static ngx_int_t ngx_http_thim_pccs_hex_field(ngx_pool_t *pool, json_t *obj,
    char *name, size_t len, ngx_uint_t empty, ngx_str_t *value);
static ngx_int_t ngx_http_thim_pccs_reg_done(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_pccs_reg_key(ngx_pool_t *pool,
    ngx_http_thim_platform_t *pf, ngx_str_t *key);
static ngx_int_t ngx_http_thim_pccs_reg_body(ngx_pool_t *pool,
    ngx_http_thim_platform_t *pf, ngx_str_t *body);
static ngx_int_t ngx_http_thim_pccs_reg_check(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_int_t ngx_http_thim_pccs_reg_parse(ngx_pool_t *pool,
    ngx_str_t *body, ngx_uint_t mode, ngx_http_thim_platform_t *pf,
    char **parameter);
static ngx_int_t ngx_http_thim_pccs_reg_pick(ngx_http_thim_entry_t *e,
    void *data);
static ngx_int_t ngx_http_thim_pccs_reg_listed(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *key, ngx_uint_t na, json_t *list);


/* a registration: PCCS's JSON, re-checked when read back */
static ngx_http_thim_route_t  ngx_http_thim_pccs_reg_route = {
    ngx_string("platform registration"), NGX_HTTP_THIM_ORIGIN_INTEL,
    ngx_string("application/json"),
    ngx_null_string,
    { ngx_null_string, ngx_null_string },
    ngx_http_thim_pccs_reg_check, 1,
    ngx_http_thim_route_plain
};


ngx_int_t
ngx_http_thim_pccs_register(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body)
{
    char                      *parameter;
    ngx_int_t                  rc;
    ngx_str_t                  update;
    ngx_http_thim_platform_t   pf;

    if (ngx_http_thim_pccs_arg(ctx, "update", &update) == NGX_OK
        && !ngx_http_thim_strcaseeq(update.data, update.len, "standard")
        && !ngx_http_thim_strcaseeq(update.data, update.len, "early")
        && !ngx_http_thim_strcaseeq(update.data, update.len, "all"))
    {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID, "update");
    }

    rc = ngx_http_thim_pccs_reg_parse(r->pool, body,
                                      NGX_HTTP_THIM_PCCS_REGISTERED, &pf,
                                      &parameter);

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID,
                                       parameter);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* kept first: an origin that fails leaves it for the admin tool */
    if (ngx_http_thim_pccs_reg_store(ctx, &pf, r->connection->log)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->conf->pccs_offline) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_OK,
                                       NGX_HTTP_THIM_PCCS_OK, NULL);
    }

    if (ngx_http_thim_pckcert_registered(ctx, &pf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = ngx_http_thim_pccs_reg_done;

    return ngx_http_thim_serve(r, ctx);
}


/* the platform's set is cached: PCCS's 200 */

static ngx_int_t
ngx_http_thim_pccs_reg_done(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_ctx_next_key(ctx);
    ctx->next = NULL;

    return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_OK,
                                   NGX_HTTP_THIM_PCCS_OK, NULL);
}


/* body -> pf in the pool; NGX_DECLINED names the field PCCS would refuse */

static ngx_int_t
ngx_http_thim_pccs_reg_parse(ngx_pool_t *pool, ngx_str_t *body,
    ngx_uint_t mode, ngx_http_thim_platform_t *pf, char **parameter)
{
    json_t       *root;
    ngx_int_t     rc;
    json_error_t  err;

    *parameter = "body";

    if (body == NULL || body->len == 0) {
        return NGX_DECLINED;
    }

    root = json_loadb((char *) body->data, body->len,
                      JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_pccs_platform_read(pool, root, pf, mode, parameter);

    json_decref(root);

    return rc;
}


/*
 * One platform of a registration (NGX_HTTP_THIM_PCCS_REGISTERED), of the
 * admin tool's upload (_UPLOADED: cpu_svn, pce_svn and enc_ppid may be
 * empty there, and need not be given), or a registration as kept
 * (_STORED: empty where a manifest made them useless), PCCS's rules; the
 * hex upper-cased as PCCS keeps it.
 */

ngx_int_t
ngx_http_thim_pccs_platform_read(ngx_pool_t *pool, json_t *obj,
    ngx_http_thim_platform_t *pf, ngx_uint_t mode, char **parameter)
{
    ngx_uint_t  empty;

    size_t       i, n, len;
    json_t      *v;
    ngx_int_t    rc;
    const char  *s;

    empty = (mode != NGX_HTTP_THIM_PCCS_REGISTERED);

    ngx_memzero(pf, sizeof(ngx_http_thim_platform_t));

    if (!json_is_object(obj)) {
        *parameter = "body";
        return NGX_DECLINED;
    }

    /* 1-260 characters, counted as code points */
    *parameter = "qe_id";
    v = json_object_get(obj, "qe_id");

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    for (i = 0, n = 0; i < len; i++) {
        n += ((u_char) s[i] & 0xc0) != 0x80;
    }

    if (n < 1 || n > NGX_HTTP_THIM_QE_ID_MAX) {
        return NGX_DECLINED;
    }

    pf->qeid.data = ngx_pnalloc(pool, len);
    if (pf->qeid.data == NULL) {
        return NGX_ERROR;
    }

    /* toUpperCase(), as PCCS keeps it: the ASCII letters */
    for (i = 0; i < len; i++) {
        pf->qeid.data[i] = ngx_toupper((u_char) s[i]);
    }

    pf->qeid.len = len;

    rc = NGX_OK;

#define ngx_http_thim_pccs_field(name, field, hex, empty)                     \
    if (rc == NGX_OK) {                                                       \
        *parameter = name;                                                    \
        rc = ngx_http_thim_pccs_hex_field(pool, obj, name, hex, empty,        \
                                          &pf->field);                        \
    }

    ngx_http_thim_pccs_field("pce_id", pceid, 4, 0);
    ngx_http_thim_pccs_field("cpu_svn", cpusvn, 32, empty);
    ngx_http_thim_pccs_field("pce_svn", pcesvn, 4, empty);
    ngx_http_thim_pccs_field("enc_ppid", ppid, 768, empty);
    ngx_http_thim_pccs_field("platform_manifest", manifest, 0, 1);

#undef ngx_http_thim_pccs_field

    if (rc != NGX_OK) {
        return rc;
    }

    if (pf->pceid.len == 0) {
        *parameter = "pce_id";
        return NGX_DECLINED;
    }

    if (pf->manifest.len) {
        /* PCCS: "other parameters are useless" */
        ngx_str_null(&pf->cpusvn);
        ngx_str_null(&pf->pcesvn);
        ngx_str_null(&pf->ppid);
        return NGX_OK;
    }

    if (mode == NGX_HTTP_THIM_PCCS_UPLOADED) {
        return NGX_OK;
    }

    *parameter = pf->cpusvn.len == 0 ? "cpu_svn"
                 : pf->pcesvn.len == 0 ? "pce_svn"
                 : pf->ppid.len == 0 ? "enc_ppid" : NULL;

    return *parameter ? NGX_DECLINED : NGX_OK;
}


/*
 * An optional string member of len hex digits (len 0: any even number,
 * the manifest), upper-cased into the pool; empty only where PCCS's
 * pattern admits "" (empty).  Absent: an empty value.
 */

static ngx_int_t
ngx_http_thim_pccs_hex_field(ngx_pool_t *pool, json_t *obj, char *name,
    size_t len, ngx_uint_t empty, ngx_str_t *value)
{
    size_t       i, n;
    json_t      *v;
    const char  *s;

    ngx_str_null(value);

    v = json_object_get(obj, name);

    if (v == NULL) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0) {
        /* PCCS's patterns refuse "", but the upload's and a manifest */
        return empty ? NGX_OK : NGX_DECLINED;
    }

    if ((len && n != len)
        || (len == 0 && (n % 2 || n > NGX_HTTP_THIM_MANIFEST_MAX))
        || !ngx_http_thim_is_hex((u_char *) s, n))
    {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(pool, n);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        value->data[i] = ngx_toupper((u_char) s[i]);
    }

    value->len = n;

    return NGX_OK;
}


/* "intel-reg:" + the digest of the platform's set key */

static ngx_int_t
ngx_http_thim_pccs_reg_key(ngx_pool_t *pool, ngx_http_thim_platform_t *pf,
    ngx_str_t *key)
{
    u_char     hex[NGX_HTTP_THIM_PLATFORM_DIGEST_HEX];
    ngx_str_t  digest;

    if (ngx_http_thim_pckcert_platform_digest(hex, &pf->qeid, &pf->pceid)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    digest.data = hex;
    digest.len = sizeof(hex);

    return ngx_http_thim_key(pool, NGX_HTTP_THIM_KEY_PCCS_REG, &digest, NULL,
                             key);
}


/* PCCS's row of the platform, as GET /platforms lists it */

static ngx_int_t
ngx_http_thim_pccs_reg_body(ngx_pool_t *pool, ngx_http_thim_platform_t *pf,
    ngx_str_t *body)
{
    json_t     *obj;
    ngx_int_t   rc;

    obj = json_pack("{s:s%,s:s%,s:s%,s:s%,s:s%,s:s%}",
                    "qe_id", pf->qeid.data, pf->qeid.len,
                    "pce_id", pf->pceid.data, pf->pceid.len,
                    "cpu_svn", pf->cpusvn.data ? (char *) pf->cpusvn.data
                                               : "", pf->cpusvn.len,
                    "pce_svn", pf->pcesvn.data ? (char *) pf->pcesvn.data
                                               : "", pf->pcesvn.len,
                    "enc_ppid", pf->ppid.data ? (char *) pf->ppid.data
                                              : "", pf->ppid.len,
                    "platform_manifest",
                    pf->manifest.data ? (char *) pf->manifest.data : "",
                    pf->manifest.len);
    if (obj == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_pccs_dump(pool, obj, body);
    json_decref(obj);

    return rc;
}


/* jansson's compact text of a value, in the pool */

ngx_int_t
ngx_http_thim_pccs_dump(ngx_pool_t *pool, json_t *v, ngx_str_t *text)
{
    char  *s;

    s = json_dumps(v, JSON_COMPACT|JSON_PRESERVE_ORDER|JSON_ENCODE_ANY);
    if (s == NULL) {
        return NGX_ERROR;
    }

    text->len = ngx_strlen(s);
    text->data = ngx_pnalloc(pool, text->len);

    if (text->data) {
        ngx_memcpy(text->data, s, text->len);
    }

    free(s);

    return text->data ? NGX_OK : NGX_ERROR;
}


/* the registration as a record of its own key, for as long as it lasts */

ngx_int_t
ngx_http_thim_pccs_reg_store(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_platform_t *pf, ngx_log_t *log)
{
    ngx_str_t  key, body;

    if (ngx_http_thim_pccs_reg_key(ctx->pool, pf, &key) != NGX_OK
        || ngx_http_thim_pccs_reg_body(ctx->pool, pf, &body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a zone too full logs it; the registration is still answered */
    (void) ngx_http_thim_pccs_keep(ctx, &key, &ngx_http_thim_pccs_reg_route,
                                   &body, log);

    return NGX_OK;
}


/*
 * What an operator or a tool gave (a registration, an appraisal policy),
 * kept as the route's record of the key as long as the zone keeps it:
 * never fetched nor refreshed, read back from a snapshot by its check
 */

ngx_int_t
ngx_http_thim_pccs_keep(ngx_http_thim_ctx_t *ctx, ngx_str_t *key,
    const ngx_http_thim_route_t *route, ngx_str_t *body, ngx_log_t *log)
{
    u_char                       *last;
    ngx_http_thim_record_t        rec;
    ngx_http_thim_store_t         st;
    const ngx_http_thim_route_t  *was;

    was = ctx->route;
    ctx->route = route;
    ngx_http_thim_make_record(ctx, body, &rec);
    ctx->route = was;

    st.len = ngx_http_thim_record_size(&rec);
    st.value = ngx_pnalloc(ctx->pool, st.len);
    if (st.value == NULL) {
        return NGX_ERROR;
    }

    last = ngx_http_thim_record_write(st.value, &rec);

    st.len = last - st.value;
    st.next_update = ngx_time() + NGX_HTTP_THIM_PCCS_LIFETIME;
    st.expires = st.next_update;
    st.refresh_at = st.next_update;
    st.lease = 0;
    st.negative = 0;
    st.derived = 0;
    st.loaded = 0;
    st.import = 0;

    return ngx_http_thim_cache_store(ctx->zone, key, &st, log);
}


/* a snapshot's "intel-reg:<digest>": its route and key, to be checked */

ngx_int_t
ngx_http_thim_pccs_reg_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *path,
    char **reason)
{
    ngx_str_t  *digest;

    if (path->len != NGX_HTTP_THIM_PLATFORM_DIGEST_HEX
        || !ngx_http_thim_is_hex(path->data, path->len))
    {
        *reason = "not the key of a platform registration";
        return NGX_DECLINED;
    }

    digest = ngx_palloc(ctx->pool, sizeof(ngx_str_t));
    if (digest == NULL) {
        return NGX_ERROR;
    }

    *digest = *path;

    ctx->route = &ngx_http_thim_pccs_reg_route;
    ctx->expect = digest;

    return ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_PCCS_REG, path,
                             NULL, &ctx->key);
}


/* a registration read back: PCCS's rules again, and its own key's */

static ngx_int_t
ngx_http_thim_pccs_reg_check(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    char                      *parameter;
    ngx_str_t                  key, *digest;
    ngx_http_thim_platform_t   pf;

    digest = ctx->expect;

    if (ngx_http_thim_pccs_reg_parse(ctx->pool, body,
                                     NGX_HTTP_THIM_PCCS_STORED, &pf,
                                     &parameter)
        != NGX_OK)
    {
        *reason = "not a valid platform registration";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_pccs_reg_key(ctx->pool, &pf, &key) != NGX_OK) {
        *reason = "the registration's key cannot be made";
        return NGX_DECLINED;
    }

    if (digest == NULL
        || key.len != sizeof(NGX_HTTP_THIM_PCCS_REG_TAG) - 1 + digest->len
        || ngx_strncasecmp(key.data + sizeof(NGX_HTTP_THIM_PCCS_REG_TAG) - 1,
                           digest->data, digest->len) != 0)
    {
        *reason = "the registration is another platform's";
        return NGX_DECLINED;
    }

    *next_update = ngx_time() + NGX_HTTP_THIM_PCCS_LIFETIME;

    return NGX_OK;
}


/*
 * thim_refresh of "intel-pck:<digest>": the set is fetched again with
 * what its platform's registration holds.  NGX_DECLINED: nobody
 * registered it (a client's pckcert request refreshes it on access).
 */

ngx_int_t
ngx_http_thim_pccs_reg_set(ngx_http_thim_ctx_t *ctx, ngx_str_t *digest,
    char **reason)
{
    char                      *parameter;
    ngx_int_t                  rc;
    ngx_str_t                  key, body;
    ngx_http_thim_platform_t   pf;

    if (ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_PCCS_REG, digest, NULL,
                          &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_cache_body(ctx->zone, &key, ctx->pool, &body);

    if (rc == NGX_DECLINED) {
        *reason = "no platform registration for this PCK certificate set";
        return NGX_DECLINED;
    }

    if (rc != NGX_OK
        || ngx_http_thim_pccs_reg_parse(ctx->pool, &body,
                                        NGX_HTTP_THIM_PCCS_STORED, &pf,
                                        &parameter)
           != NGX_OK
        || ngx_http_thim_pckcert_registered(ctx, &pf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->conf->pccs_offline) {
        ctx->cache_only = 1;
        ctx->miss_reason = "thim_pccs_offline: the set comes from the "
                           "admin tool's upload only";
    }

    return NGX_OK;
}


/*
 * GET /platforms?source=reg|reg_na: the registered platforms whose PCK
 * certificates are not cached (reg, the default), or whose cached set
 * has certificates Intel marks "Not available" (reg_na): what the admin
 * tool fetches for on a connected machine.  Unlike PCCS, listing does
 * not forget them: a platform leaves the list when its set arrives.
 */

ngx_int_t
ngx_http_thim_pccs_platforms(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    u_char                    *p;
    json_t                    *list;
    ngx_int_t                  rc;
    ngx_str_t                  source, body, type;
    ngx_uint_t                 i, na;
    ngx_table_elt_t           *h;
    ngx_http_thim_reg_list_t   rl;

    na = 0;

    if (ngx_http_thim_pccs_arg(ctx, "source", &source) == NGX_OK) {
        if (source.len == 6 && ngx_strncmp(source.data, "reg_na", 6) == 0) {
            na = 1;

        } else if (source.len != 3
                   || ngx_strncmp(source.data, "reg", 3) != 0)
        {
            /* PCCS's [FMSPC,...] lists its platform table: none here */
            return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_THIM_PCCS_INVALID,
                                           "source");
        }
    }

    rl.n = 0;
    rl.keys = ngx_palloc(r->pool,
                         NGX_HTTP_THIM_REG_LIST_MAX * sizeof(ngx_str_t));
    if (rl.keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_THIM_REG_LIST_MAX; i++) {
        rl.keys[i].data = NULL;
    }

    rl.keys[0].data = ngx_pnalloc(r->pool, NGX_HTTP_THIM_REG_LIST_MAX
                                  * (sizeof(NGX_HTTP_THIM_PCCS_REG_TAG)
                                     + NGX_HTTP_THIM_PLATFORM_DIGEST_HEX));
    if (rl.keys[0].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_thim_cache_walk(ctx->zone, ngx_http_thim_pccs_reg_pick,
                                    &rl);

    list = json_array();
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < rl.n; i++) {
        rc = ngx_http_thim_pccs_reg_listed(ctx, &rl.keys[i], na, list);

        if (rc == NGX_ERROR) {
            json_decref(list);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_thim_pccs_dump(r->pool, list, &body);
    rl.n = json_array_size(list);
    json_decref(list);

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

    if (rc != NGX_OK || h == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "platform-count");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%ui", rl.n) - p;

    ngx_str_set(&type, "application/json; charset=utf-8");

    return ngx_http_thim_pccs_send(r, ctx, NGX_HTTP_OK, &type, &body, NULL);
}


/* under the zone lock: copies the registrations' keys, nothing else */

static ngx_int_t
ngx_http_thim_pccs_reg_pick(ngx_http_thim_entry_t *e, void *data)
{
    ngx_http_thim_reg_list_t  *rl = data;

    size_t      tag;
    ngx_str_t  *k;

    tag = sizeof(NGX_HTTP_THIM_PCCS_REG_TAG) - 1;

    if (e->negative
        || e->key.len != tag + NGX_HTTP_THIM_PLATFORM_DIGEST_HEX
        || ngx_strncmp(e->key.data, NGX_HTTP_THIM_PCCS_REG_TAG, tag) != 0)
    {
        return NGX_OK;
    }

    k = &rl->keys[rl->n];
    k->data = rl->keys[0].data + rl->n * e->key.len;
    k->len = e->key.len;
    ngx_memcpy(k->data, e->key.data, e->key.len);

    return (++rl->n < NGX_HTTP_THIM_REG_LIST_MAX) ? NGX_OK : NGX_DONE;
}


/* appends the registration if its set is missing (na: not available) */

static ngx_int_t
ngx_http_thim_pccs_reg_listed(ngx_http_thim_ctx_t *ctx, ngx_str_t *key,
    ngx_uint_t na, json_t *list)
{
    json_t     *row;
    ngx_int_t   rc;
    ngx_str_t   body, set_key, digest, set;

    rc = ngx_http_thim_cache_body(ctx->zone, key, ctx->pool, &body);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : NGX_ERROR;
    }

    digest.data = key->data + sizeof(NGX_HTTP_THIM_PCCS_REG_TAG) - 1;
    digest.len = NGX_HTTP_THIM_PLATFORM_DIGEST_HEX;

    if (ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_PCK_SET, &digest, NULL,
                          &set_key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_cache_body(ctx->zone, &set_key, ctx->pool, &set);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (na ? (rc == NGX_DECLINED
              || ngx_strnstr(set.data, "\"Not available\"", set.len) == NULL)
           : rc == NGX_OK)
    {
        return NGX_OK;
    }

    row = json_loadb((char *) body.data, body.len, 0, NULL);
    if (row == NULL) {
        return NGX_OK;
    }

    return json_array_append_new(list, row) == 0 ? NGX_OK : NGX_ERROR;
}
