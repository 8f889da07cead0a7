
/*
 * ngx_thim: tiers.
 *
 * An edge ngx_thim proxies its origin locations to a regional ngx_thim
 * (or a pool of them, a mirror, a PCCS) under the same PCS and KDS paths.
 * Nothing changes in what it trusts: every answer goes through the same
 * checks as the origin's.  What this file adds:
 *
 *  - $thim_key: the canonical key of the fetch (or of the request's
 *    current key), the string the zone is keyed by; PCK sets are keyed by
 *    a digest, so no PPID is in it.  "hash $thim_key consistent" in the
 *    upstream of the regional pool fetches each key on one node;
 *  - an upper tier (an answer with X-Cache-Status: another ngx_thim, a
 *    caching mirror) can only shorten a copy's life: its Cache-Control
 *    max-age (or s-maxage), less Age, bounds the freshness the
 *    collateral's own dates give (ngx_http_thim_tier_bound());
 *  - an upper ngx_thim that answers with an expired copy says so
 *    (X-Cache-Status: STALE or UPDATING); the edge keeps such a copy as
 *    expired too: served STALE, refreshed, never fresh; the same copy
 *    again is a failed refresh (the key backs off);
 *  - a PCCS, or an ngx_thim, serves the Intel root CA CRL at
 *    /sgx/certification/v4/rootcacrl as hex; the root CRL check takes that
 *    form too (ngx_http_thim_tier_unhex()) and keeps the DER.
 */


#include "ngx_thim_tier.h"
#include "ngx_thim_tier_cc.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_args.h"


ngx_int_t
ngx_http_thim_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_thim_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);

    if (ctx == NULL || ctx->key.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->key.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = ctx->key.data;

    return NGX_OK;
}


/*
 * What the answer's carrier says about its copy, read from the origin
 * location's upstream headers once the checks passed: a bound on its
 * freshness (ctx->tier_ttl) and whether it is expired (ctx->tier_stale).
 * Only a caching tier is read so: an answer with X-Cache-Status (every
 * ngx_thim answer; an nginx proxy_cache mirror's with "add_header
 * X-Cache-Status $upstream_cache_status").  Intel's and AMD's own headers
 * change nothing: a max-age=0 there must not turn into a fetch per
 * request.
 */

void
ngx_http_thim_tier_read(ngx_http_request_t *sr, ngx_http_thim_ctx_t *ctx)
{
    time_t            max_age, age;
    ngx_table_elt_t  *h;

    ctx->tier_capped = 0;
    ctx->tier_stale = 0;

    h = ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                    ngx_string("X-Cache-Status"));

    if (h == NULL) {
        return;
    }

    if (ngx_http_thim_cc_stale(h->value.data, h->value.len)) {
        ctx->tier_stale = 1;
        return;
    }

    h = ngx_http_thim_origin_header(sr, &(ngx_str_t)
                                    ngx_string("Cache-Control"));

    if (h == NULL
        || ngx_http_thim_cc_max_age(h->value.data, h->value.len, &max_age)
           != NGX_OK)
    {
        return;
    }

    h = ngx_http_thim_origin_header(sr, &(ngx_str_t) ngx_string("Age"));

    if (h == NULL
        || ngx_http_thim_age(h->value.data, h->value.len, &age) != NGX_OK)
    {
        age = 0;
    }

    ctx->tier_capped = 1;
    ctx->tier_ttl = (max_age > age) ? max_age - age : 0;
}


/*
 * Whether an upper tier's stale answer is the copy held here already
 * (fresh or not): then it brings nothing, and the refresh failed.  A
 * different answer passed the checks like any fetch (no downgrade of
 * Intel's evaluation numbers among them) and replaces the copy, expired.
 */

ngx_int_t
ngx_http_thim_tier_held(ngx_http_thim_ctx_t *ctx, ngx_str_t *body)
{
    ngx_str_t  held;

    if (ngx_http_thim_cache_body(ctx->zone, &ctx->key, ctx->pool, &held)
        != NGX_OK)
    {
        return 0;
    }

    return held.len == body->len
           && ngx_memcmp(held.data, body->data, body->len) == 0;
}


/*
 * A record's times as ngx_http_thim_lifetime() made them (from the
 * collateral's dates and thim_cache_valid), bounded by what the upper
 * tier said: never later, and already expired for a stale copy.
 */

void
ngx_http_thim_tier_bound(ngx_http_thim_ctx_t *ctx, time_t fetched,
    ngx_http_thim_store_t *st)
{
    if (st->negative) {
        return;
    }

    if (ctx->tier_stale) {
        st->expires = fetched;
        st->refresh_at = fetched;
        return;
    }

    if (ctx->tier_capped && st->expires > fetched + ctx->tier_ttl) {
        st->expires = fetched + ctx->tier_ttl;
        st->refresh_at = st->expires - ctx->tier_ttl / 4;
    }
}


/*
 * The PCCS form of a CRL (rootcacrl): the DER as hex digits, any case, an
 * end of line tolerated.  A body in that form is replaced by its DER, in
 * the pool; any other body is left as it is for the DER checks.
 */

ngx_int_t
ngx_http_thim_tier_unhex(ngx_pool_t *pool, ngx_str_t *body)
{
    u_char  *der;
    size_t   len;

    len = body->len;

    while (len && (body->data[len - 1] == '\n' || body->data[len - 1] == '\r'))
    {
        len--;
    }

    if (len == 0 || len % 2 || !ngx_http_thim_is_hex(body->data, len)) {
        return NGX_OK;
    }

    der = ngx_pnalloc(pool, len / 2);
    if (der == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_thim_hex_decode(der, body->data, len) != NGX_OK) {
        return NGX_ERROR;
    }

    body->data = der;
    body->len = len / 2;

    return NGX_OK;
}
