
/*
 * ngx_thim: reading an upper tier's Cache-Control, Age and X-Cache-Status
 * (pure; see ngx_thim_tier_cc.h).
 *
 * An edge that fetches from a regional ngx_thim (or from a mirror or a
 * caching proxy) may only shorten what the collateral's own dates allow:
 * the upper tier's max-age, less the Age a cache in between added, is an
 * upper bound on the copy's freshness, never a floor.  Anything that
 * cannot be read as RFC 9111 says is ignored (no bound), never guessed.
 */


#include "ngx_thim_tier_cc.h"
#include "ngx_thim_args.h"


/* delta-seconds larger than this count as this (RFC 9111 1.2.2) */
#define NGX_HTTP_THIM_DELTA_MAX  2147483647


static ngx_int_t ngx_http_thim_delta_seconds(u_char *p, u_char *last,
    time_t *value, u_char **end);


/*
 * max-age=N of a Cache-Control value (the directive name in any case, its
 * argument bare or quoted); s-maxage is a shared cache's, and an edge is
 * one: it wins over max-age.  NGX_OK with *max_age; NGX_DECLINED: none.
 */

ngx_int_t
ngx_http_thim_cc_max_age(u_char *p, size_t len, time_t *max_age)
{
    u_char     *last, *end;
    time_t      v, found, shared;
    ngx_uint_t  quoted, s;

    last = p + len;
    found = -1;
    shared = -1;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        s = 0;

        if (last - p > 8 && ngx_http_thim_strcaseeq(p, 9, "s-maxage=")) {
            s = 1;
            p += 9;

        } else if (last - p > 7 && ngx_http_thim_strcaseeq(p, 8, "max-age=")) {
            p += 8;

        } else {
            /* another directive: skip it, a quoted argument whole */
            quoted = 0;

            while (p < last && (quoted || *p != ',')) {
                if (*p == '"') {
                    quoted = !quoted;
                }

                p++;
            }

            continue;
        }

        quoted = (p < last && *p == '"');
        p += quoted;

        if (ngx_http_thim_delta_seconds(p, last, &v, &end) != NGX_OK) {
            return NGX_DECLINED;
        }

        p = end;

        if (quoted) {
            if (p == last || *p != '"') {
                return NGX_DECLINED;
            }

            p++;
        }

        if (s) {
            shared = (shared < 0) ? v : ngx_min(shared, v);

        } else {
            found = (found < 0) ? v : ngx_min(found, v);
        }
    }

    if (shared >= 0) {
        found = shared;
    }

    if (found < 0) {
        return NGX_DECLINED;
    }

    *max_age = found;

    return NGX_OK;
}


/* an Age header: delta-seconds alone.  NGX_DECLINED: not one */

ngx_int_t
ngx_http_thim_age(u_char *p, size_t len, time_t *age)
{
    u_char  *last, *end;

    last = p + len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (ngx_http_thim_delta_seconds(p, last, age, &end) != NGX_OK
        || end != last)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Whether an upper ngx_thim's X-Cache-Status says its copy is expired:
 * STALE (the origin failing or backing off) or UPDATING (expired, being
 * refreshed).  HIT, MISS and anything else are not.
 */

ngx_int_t
ngx_http_thim_cc_stale(u_char *p, size_t len)
{
    return ngx_http_thim_strcaseeq(p, len, "STALE")
           || ngx_http_thim_strcaseeq(p, len, "UPDATING");
}


static ngx_int_t
ngx_http_thim_delta_seconds(u_char *p, u_char *last, time_t *value,
    u_char **end)
{
    time_t  v;

    if (p == last || *p < '0' || *p > '9') {
        return NGX_DECLINED;
    }

    v = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        if (v < NGX_HTTP_THIM_DELTA_MAX) {
            v = v * 10 + (*p - '0');
        }

        p++;
    }

    *value = ngx_min(v, NGX_HTTP_THIM_DELTA_MAX);
    *end = p;

    return NGX_OK;
}
