
/*
 * ngx_thim: one strict reading of the JSON an origin sends (pure; see
 * ngx_thim_strict_json.h).
 */


#include <stdlib.h>

#include "ngx_thim_strict_json.h"


/* names kept on the stack; an object with more moves them to the heap */
#define NGX_HTTP_THIM_JSON_NAMES  32


typedef struct {
    u_char                    *p;
    u_char                    *last;
    char                      *reason;
} ngx_http_thim_json_t;


typedef struct {
    u_char                    *data;
    size_t                     len;
} ngx_http_thim_json_name_t;


static ngx_int_t ngx_http_thim_json_value(ngx_http_thim_json_t *j,
    ngx_uint_t depth);
static ngx_int_t ngx_http_thim_json_object(ngx_http_thim_json_t *j,
    ngx_uint_t depth);
static ngx_int_t ngx_http_thim_json_names(ngx_http_thim_json_name_t *names,
    ngx_uint_t n);
static int ngx_http_thim_json_name_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_thim_json_array(ngx_http_thim_json_t *j,
    ngx_uint_t depth);
static ngx_int_t ngx_http_thim_json_string(ngx_http_thim_json_t *j,
    ngx_uint_t name);
static ngx_int_t ngx_http_thim_json_escape(ngx_http_thim_json_t *j);
static ngx_int_t ngx_http_thim_json_hex4(u_char *p, ngx_uint_t *v);
static ngx_int_t ngx_http_thim_json_utf8(ngx_http_thim_json_t *j);
static ngx_int_t ngx_http_thim_json_number(ngx_http_thim_json_t *j);
static ngx_int_t ngx_http_thim_json_literal(ngx_http_thim_json_t *j,
    char *word);
static void ngx_http_thim_json_ws(ngx_http_thim_json_t *j);
static ngx_int_t ngx_http_thim_json_fail(ngx_http_thim_json_t *j,
    char *reason);


/*
 * The whole input is exactly one JSON value, with the refusals of
 * ngx_thim_strict_json.h.  NGX_DECLINED with a reason otherwise.
 */

ngx_int_t
ngx_http_thim_json_strict(u_char *p, size_t len, char **reason)
{
    ngx_http_thim_json_t  j;

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        *reason = "the body starts with a byte order mark";
        return NGX_DECLINED;
    }

    /* said first and by name: it is how parsers are told apart */
    if (len && memchr(p, '\0', len) != NULL) {
        *reason = "the body holds a NUL byte";
        return NGX_DECLINED;
    }

    j.p = p;
    j.last = p + len;
    j.reason = NULL;

    ngx_http_thim_json_ws(&j);

    if (ngx_http_thim_json_value(&j, 0) != NGX_OK) {
        *reason = j.reason;
        return NGX_DECLINED;
    }

    ngx_http_thim_json_ws(&j);

    if (j.p != j.last) {
        *reason = "the body has data after the JSON document";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A strict document that is an object of exactly two members, "key"
 * (an object: the bytes the signature covers) and "signature" (a
 * string); their values' bytes, exactly as sent.
 */

ngx_int_t
ngx_http_thim_json_signed(u_char *body, size_t len, char *key,
    u_char **value, size_t *value_len, u_char **sig, size_t *sig_len,
    char **reason)
{
    u_char                *name, *v;
    size_t                 klen, nlen;
    ngx_http_thim_json_t   j;

    if (ngx_http_thim_json_strict(body, len, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    *value = NULL;
    *sig = NULL;
    klen = ngx_strlen(key);

    j.p = body;
    j.last = body + len;

    ngx_http_thim_json_ws(&j);

    if (*j.p != '{') {
        *reason = "the body is not a JSON object";
        return NGX_DECLINED;
    }

    j.p++;

    /* valid already: only where each member starts and ends is read */
    for ( ;; ) {
        ngx_http_thim_json_ws(&j);

        if (*j.p == '}') {
            break;
        }

        if (*j.p == ',') {
            j.p++;
            ngx_http_thim_json_ws(&j);
        }

        name = j.p + 1;
        (void) ngx_http_thim_json_string(&j, 1);
        nlen = j.p - 1 - name;

        ngx_http_thim_json_ws(&j);
        j.p++;                                      /* ':' */
        ngx_http_thim_json_ws(&j);

        v = j.p;
        (void) ngx_http_thim_json_value(&j, 1);

        if (nlen == klen && ngx_memcmp(name, key, klen) == 0) {
            *value = v;
            *value_len = j.p - v;

        } else if (nlen == sizeof("signature") - 1
                   && ngx_memcmp(name, "signature", nlen) == 0)
        {
            *sig = v;
            *sig_len = j.p - v;

        } else {
            *reason = "the body has a top-level member that is neither "
                      "the signed object nor its signature";
            return NGX_DECLINED;
        }
    }

    if (*value == NULL || **value != '{') {
        *reason = "the signed object is missing";
        return NGX_DECLINED;
    }

    if (*sig == NULL || **sig != '"') {
        *reason = "the signature is missing";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_json_value(ngx_http_thim_json_t *j, ngx_uint_t depth)
{
    if (j->p == j->last) {
        return ngx_http_thim_json_fail(j, "the JSON document is cut short");
    }

    switch (*j->p) {

    case '{':
        return ngx_http_thim_json_object(j, depth + 1);

    case '[':
        return ngx_http_thim_json_array(j, depth + 1);

    case '"':
        return ngx_http_thim_json_string(j, 0);

    case 't':
        return ngx_http_thim_json_literal(j, "true");

    case 'f':
        return ngx_http_thim_json_literal(j, "false");

    case 'n':
        return ngx_http_thim_json_literal(j, "null");

    default:
        return ngx_http_thim_json_number(j);
    }
}


static ngx_int_t
ngx_http_thim_json_object(ngx_http_thim_json_t *j, ngx_uint_t depth)
{
    ngx_int_t                   rc;
    ngx_uint_t                  n, size;
    ngx_http_thim_json_name_t  *names, *more, local[NGX_HTTP_THIM_JSON_NAMES];

    if (depth > NGX_HTTP_THIM_JSON_DEPTH) {
        return ngx_http_thim_json_fail(j, "the JSON is nested too deep");
    }

    j->p++;
    ngx_http_thim_json_ws(j);

    names = local;
    size = NGX_HTTP_THIM_JSON_NAMES;
    n = 0;
    rc = NGX_DECLINED;

    if (j->p < j->last && *j->p == '}') {
        j->p++;
        return NGX_OK;
    }

    for ( ;; ) {
        if (j->p == j->last || *j->p != '"') {
            ngx_http_thim_json_fail(j, "a JSON object member has no name");
            goto done;
        }

        if (n == size) {
            more = malloc(2 * size * sizeof(ngx_http_thim_json_name_t));
            if (more == NULL) {
                ngx_http_thim_json_fail(j, "out of memory");
                goto done;
            }

            ngx_memcpy(more, names, n * sizeof(ngx_http_thim_json_name_t));

            if (names != local) {
                free(names);
            }

            names = more;
            size *= 2;
        }

        names[n].data = j->p + 1;

        if (ngx_http_thim_json_string(j, 1) != NGX_OK) {
            goto done;
        }

        names[n].len = j->p - 1 - names[n].data;
        n++;

        ngx_http_thim_json_ws(j);

        if (j->p == j->last || *j->p != ':') {
            ngx_http_thim_json_fail(j, "a JSON object member has no ':'");
            goto done;
        }

        j->p++;
        ngx_http_thim_json_ws(j);

        if (ngx_http_thim_json_value(j, depth) != NGX_OK) {
            goto done;
        }

        ngx_http_thim_json_ws(j);

        if (j->p < j->last && *j->p == ',') {
            j->p++;
            ngx_http_thim_json_ws(j);
            continue;
        }

        if (j->p < j->last && *j->p == '}') {
            j->p++;
            break;
        }

        ngx_http_thim_json_fail(j, "a JSON object is not closed");
        goto done;
    }

    if (ngx_http_thim_json_names(names, n) != NGX_OK) {
        ngx_http_thim_json_fail(j, "a JSON object has a member name twice");
        goto done;
    }

    rc = NGX_OK;

done:

    if (names != local) {
        free(names);
    }

    return rc;
}


/* NGX_DECLINED when a name is there twice (names have no escapes) */

static ngx_int_t
ngx_http_thim_json_names(ngx_http_thim_json_name_t *names, ngx_uint_t n)
{
    ngx_uint_t  i;

    qsort(names, n, sizeof(ngx_http_thim_json_name_t),
          ngx_http_thim_json_name_cmp);

    for (i = 1; i < n; i++) {
        if (ngx_http_thim_json_name_cmp(&names[i - 1], &names[i]) == 0) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static int
ngx_http_thim_json_name_cmp(const void *a, const void *b)
{
    const ngx_http_thim_json_name_t  *x = a, *y = b;

    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }

    return x->len ? ngx_memcmp(x->data, y->data, x->len) : 0;
}


static ngx_int_t
ngx_http_thim_json_array(ngx_http_thim_json_t *j, ngx_uint_t depth)
{
    if (depth > NGX_HTTP_THIM_JSON_DEPTH) {
        return ngx_http_thim_json_fail(j, "the JSON is nested too deep");
    }

    j->p++;
    ngx_http_thim_json_ws(j);

    if (j->p < j->last && *j->p == ']') {
        j->p++;
        return NGX_OK;
    }

    for ( ;; ) {
        if (ngx_http_thim_json_value(j, depth) != NGX_OK) {
            return NGX_DECLINED;
        }

        ngx_http_thim_json_ws(j);

        if (j->p < j->last && *j->p == ',') {
            j->p++;
            ngx_http_thim_json_ws(j);
            continue;
        }

        if (j->p < j->last && *j->p == ']') {
            j->p++;
            return NGX_OK;
        }

        return ngx_http_thim_json_fail(j, "a JSON array is not closed");
    }
}


/*
 * At the opening quote; past the closing one on NGX_OK.  A member name
 * ("name") may not be written with an escape: "tcb\u0049nfo" would be
 * "tcbInfo" to one parser and another name to a byte comparison.
 */

static ngx_int_t
ngx_http_thim_json_string(ngx_http_thim_json_t *j, ngx_uint_t name)
{
    j->p++;

    while (j->p < j->last) {

        if (*j->p == '"') {
            j->p++;
            return NGX_OK;
        }

        if (*j->p < 0x20) {
            return ngx_http_thim_json_fail(j,
                                 "a JSON string holds a control byte");
        }

        if (*j->p == '\\') {
            if (name) {
                return ngx_http_thim_json_fail(j,
                                 "a JSON member name is written with an "
                                 "escape");
            }

            if (ngx_http_thim_json_escape(j) != NGX_OK) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (*j->p >= 0x80) {
            if (ngx_http_thim_json_utf8(j) != NGX_OK) {
                return NGX_DECLINED;
            }

            continue;
        }

        j->p++;
    }

    return ngx_http_thim_json_fail(j, "a JSON string is not closed");
}


/* at the backslash; \u0000 is refused as a NUL byte is */

static ngx_int_t
ngx_http_thim_json_escape(ngx_http_thim_json_t *j)
{
    ngx_uint_t  c, low;

    if (j->last - j->p < 2) {
        return ngx_http_thim_json_fail(j, "a JSON string is not closed");
    }

    switch (j->p[1]) {

    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        j->p += 2;
        return NGX_OK;

    case 'u':
        break;

    default:
        return ngx_http_thim_json_fail(j, "a JSON string has a bad escape");
    }

    if (j->last - j->p < 6 || ngx_http_thim_json_hex4(j->p + 2, &c) != NGX_OK)
    {
        return ngx_http_thim_json_fail(j, "a JSON string has a bad escape");
    }

    j->p += 6;

    if (c == 0) {
        return ngx_http_thim_json_fail(j, "a JSON string holds an escaped "
                                          "NUL");
    }

    if (c >= 0xdc00 && c <= 0xdfff) {
        return ngx_http_thim_json_fail(j, "a JSON string has a lone "
                                          "surrogate");
    }

    if (c >= 0xd800 && c <= 0xdbff) {
        if (j->last - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u'
            || ngx_http_thim_json_hex4(j->p + 2, &low) != NGX_OK
            || low < 0xdc00 || low > 0xdfff)
        {
            return ngx_http_thim_json_fail(j, "a JSON string has a lone "
                                              "surrogate");
        }

        j->p += 6;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_json_hex4(u_char *p, ngx_uint_t *v)
{
    u_char      c;
    ngx_uint_t  i;

    *v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        *v = *v * 16 + c;
    }

    return NGX_OK;
}


/* one UTF-8 sequence: shortest form, no surrogates, at most U+10FFFF */

static ngx_int_t
ngx_http_thim_json_utf8(ngx_http_thim_json_t *j)
{
    u_char      c, lo, hi;
    size_t      n, i;

    c = *j->p;
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return ngx_http_thim_json_fail(j, "the body is not valid UTF-8");
    }

    if ((size_t) (j->last - j->p) <= n) {
        return ngx_http_thim_json_fail(j, "the body is not valid UTF-8");
    }

    for (i = 1; i <= n; i++) {
        c = j->p[i];

        if (c < lo || c > hi) {
            return ngx_http_thim_json_fail(j, "the body is not valid UTF-8");
        }

        lo = 0x80;
        hi = 0xbf;
    }

    j->p += n + 1;

    return NGX_OK;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static ngx_int_t
ngx_http_thim_json_number(ngx_http_thim_json_t *j)
{
    u_char  *p, *last;

    p = j->p;
    last = j->last;

    if (p < last && *p == '-') {
        p++;
    }

    if (p < last && *p == '0') {
        p++;

    } else if (p < last && *p >= '1' && *p <= '9') {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return ngx_http_thim_json_fail(j, "the body is not JSON");
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return ngx_http_thim_json_fail(j, "a JSON number is malformed");
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return ngx_http_thim_json_fail(j, "a JSON number is malformed");
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    j->p = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_json_literal(ngx_http_thim_json_t *j, char *word)
{
    size_t  n;

    n = ngx_strlen(word);

    if ((size_t) (j->last - j->p) < n || ngx_memcmp(j->p, word, n) != 0) {
        return ngx_http_thim_json_fail(j, "the body is not JSON");
    }

    j->p += n;

    return NGX_OK;
}


static void
ngx_http_thim_json_ws(ngx_http_thim_json_t *j)
{
    while (j->p < j->last
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


static ngx_int_t
ngx_http_thim_json_fail(ngx_http_thim_json_t *j, char *reason)
{
    j->reason = reason;
    return NGX_DECLINED;
}
