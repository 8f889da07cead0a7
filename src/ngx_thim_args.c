
/*
 * ngx_thim: query-string parsing and validation helpers (pure).
 */


#include "ngx_thim_args.h"


static ngx_int_t ngx_http_thim_hexval(u_char c);


/*
 * Split "a=1&b=2" into key/value pairs, in order.  Empty pairs ("&&") are
 * skipped; a key without "=" has an empty value.  Nothing is decoded here:
 * callers decode only the values they use, into their own buffers.
 */

ngx_int_t
ngx_http_thim_args_parse(u_char *p, size_t len, ngx_http_thim_args_t *args)
{
    u_char               *last, *amp, *eq;
    ngx_http_thim_arg_t  *arg;

    args->nargs = 0;

    if (len > NGX_HTTP_THIM_ARGS_MAX_LEN) {
        return NGX_DECLINED;
    }

    last = p + len;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        if (args->nargs == NGX_HTTP_THIM_ARGS_MAX) {
            return NGX_DECLINED;
        }

        arg = &args->args[args->nargs++];

        eq = ngx_strlchr(p, amp, '=');

        arg->key.data = p;

        if (eq == NULL) {
            arg->key.len = amp - p;
            arg->value.data = amp;
            arg->value.len = 0;

        } else {
            arg->key.len = eq - p;
            arg->value.data = eq + 1;
            arg->value.len = amp - (eq + 1);
        }

        p = amp + 1;
    }

    return NGX_OK;
}


/* the first occurrence wins, as PCCS does; keys are case-sensitive */

ngx_http_thim_arg_t *
ngx_http_thim_args_find(ngx_http_thim_args_t *args, u_char *key, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < args->nargs; i++) {
        if (args->args[i].key.len == len
            && ngx_memcmp(args->args[i].key.data, key, len) == 0)
        {
            return &args->args[i];
        }
    }

    return NULL;
}


/*
 * RFC 3986 percent-decoding.  Unlike form decoding, "+" stays "+": Azure
 * sends base64 with bare "+".  A malformed escape is an error, not a
 * literal, so "%zz" cannot smuggle anything past validation.  dst may be
 * src.
 */

ngx_int_t
ngx_http_thim_pct_decode(u_char *dst, u_char *src, size_t len, size_t *out)
{
    u_char     *d, *last;
    ngx_int_t   hi, lo;

    d = dst;
    last = src + len;

    while (src < last) {

        if (*src != '%') {
            *d++ = *src++;
            continue;
        }

        if (last - src < 3) {
            return NGX_ERROR;
        }

        hi = ngx_http_thim_hexval(src[1]);
        lo = ngx_http_thim_hexval(src[2]);

        if (hi < 0 || lo < 0) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (hi * 16 + lo);
        src += 3;
    }

    *out = d - dst;

    return NGX_OK;
}


/*
 * Percent-encoding as Intel applies it to issuer chains: every byte but
 * RFC 3986's unreserved ones as %XX, upper-case hex, so a space is %20,
 * never "+".  dst holds 3 * len bytes.
 */

u_char *
ngx_http_thim_pct_encode(u_char *dst, u_char *src, size_t len)
{
    u_char         c;
    static u_char  hex[] = "0123456789ABCDEF";

    while (len--) {
        c = *src++;

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            *dst++ = c;
            continue;
        }

        *dst++ = '%';
        *dst++ = hex[c >> 4];
        *dst++ = hex[c & 0xf];
    }

    return dst;
}


ngx_int_t
ngx_http_thim_is_hex(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (ngx_http_thim_hexval(p[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


/* an even number of hex digits, any case, to bytes */

ngx_int_t
ngx_http_thim_hex_decode(u_char *dst, u_char *src, size_t len)
{
    ngx_int_t  hi, lo;

    if (len % 2) {
        return NGX_ERROR;
    }

    while (len) {
        hi = ngx_http_thim_hexval(src[0]);
        lo = ngx_http_thim_hexval(src[1]);

        if (hi < 0 || lo < 0) {
            return NGX_ERROR;
        }

        *dst++ = (u_char) (hi * 16 + lo);
        src += 2;
        len -= 2;
    }

    return NGX_OK;
}


/*
 * Decimal digits only (no sign, no spaces), at most max_digits of them;
 * leading zeros are allowed ("teeSPL=00" is a real client's spelling).
 */

ngx_int_t
ngx_http_thim_parse_decimal(u_char *p, size_t len, size_t max_digits,
    uint64_t *value)
{
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > max_digits || max_digits > 19) {
        return NGX_ERROR;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (p[i] - '0');
    }

    *value = v;

    return NGX_OK;
}


void
ngx_http_thim_strlow(u_char *dst, u_char *src, size_t len)
{
    while (len--) {
        *dst++ = ngx_tolower(*src);
        src++;
    }
}


/* case-insensitive comparison of (p, len) with the NUL-terminated s */

ngx_int_t
ngx_http_thim_strcaseeq(u_char *p, size_t len, char *s)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || ngx_tolower(p[i]) != ngx_tolower((u_char) s[i])) {
            return 0;
        }
    }

    return s[len] == '\0';
}


static ngx_int_t
ngx_http_thim_hexval(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c = ngx_tolower(c);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
