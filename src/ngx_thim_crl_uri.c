
/*
 * ngx_thim: recognising Intel CRL distribution point URLs (pure).
 *
 * The value is percent-decoded until no escape is left (Azure encodes it
 * twice), then compared case-insensitively with what Intel publishes:
 *
 *   https://certificates.trustedservices.intel.com/IntelSGXRootCA.der  DER
 *   https://certificates.trustedservices.intel.com/IntelSGXRootCA.crl  PEM
 *   https://certificates.trustedservices.intel.com/IntelSGXPCKProcessor.crl
 *   https://api.trustedservices.intel.com/sgx/certification/vN/pckcrl
 *       ?ca=processor|platform[&encoding=der|pem]   (DER with encoding=der)
 */


#include "ngx_thim_args.h"
#include "ngx_thim_crl_uri.h"


/* Azure encodes twice; more rounds than this is an attempt at something */
#define NGX_HTTP_THIM_CRL_URI_DECODE_ROUNDS  4


#define NGX_HTTP_THIM_CERTS_HOST                                              \
    "https://certificates.trustedservices.intel.com/"
#define NGX_HTTP_THIM_PCS_HOST                                                \
    "https://api.trustedservices.intel.com/sgx/certification/v"


static ngx_int_t ngx_http_thim_crl_uri_pcs(u_char *p, size_t len,
    ngx_http_thim_crl_uri_t *target);
static ngx_int_t ngx_http_thim_has_prefix(u_char *p, size_t len, char *s);


ngx_int_t
ngx_http_thim_crl_uri_parse(u_char *uri, size_t len,
    ngx_http_thim_crl_uri_t *target)
{
    u_char      buf[NGX_HTTP_THIM_CRL_URI_MAX], *p;
    size_t      n;
    ngx_uint_t  i;

    if (len == 0 || len > NGX_HTTP_THIM_CRL_URI_MAX) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, uri, len);

    for (i = 0; ngx_strlchr(buf, buf + len, '%') != NULL; i++) {

        if (i == NGX_HTTP_THIM_CRL_URI_DECODE_ROUNDS
            || ngx_http_thim_pct_decode(buf, buf, len, &n) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        len = n;
    }

    for (i = 0; i < len; i++) {
        if (buf[i] <= ' ' || buf[i] >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    p = buf;

    if (ngx_http_thim_has_prefix(p, len, NGX_HTTP_THIM_CERTS_HOST)) {
        n = sizeof(NGX_HTTP_THIM_CERTS_HOST) - 1;
        p += n;
        len -= n;

        if (ngx_http_thim_strcaseeq(p, len, "IntelSGXRootCA.der")) {
            target->crl = NGX_HTTP_THIM_CRL_ROOT;
            target->encoding = NGX_HTTP_THIM_CRL_DER;
            return NGX_OK;
        }

        if (ngx_http_thim_strcaseeq(p, len, "IntelSGXRootCA.crl")) {
            target->crl = NGX_HTTP_THIM_CRL_ROOT;
            target->encoding = NGX_HTTP_THIM_CRL_PEM;
            return NGX_OK;
        }

        if (ngx_http_thim_strcaseeq(p, len, "IntelSGXPCKProcessor.crl")) {
            target->crl = NGX_HTTP_THIM_CRL_PROCESSOR;
            target->encoding = NGX_HTTP_THIM_CRL_PEM;
            return NGX_OK;
        }

        return NGX_DECLINED;
    }

    if (ngx_http_thim_has_prefix(p, len, NGX_HTTP_THIM_PCS_HOST)) {
        n = sizeof(NGX_HTTP_THIM_PCS_HOST) - 1;
        return ngx_http_thim_crl_uri_pcs(p + n, len - n, target);
    }

    return NGX_DECLINED;
}


/* after ".../sgx/certification/v": "4/pckcrl?ca=processor&encoding=der" */

static ngx_int_t
ngx_http_thim_crl_uri_pcs(u_char *p, size_t len,
    ngx_http_thim_crl_uri_t *target)
{
    u_char                *q;
    ngx_uint_t             i;
    ngx_http_thim_args_t   args;

    if (len < 2 || p[0] < '1' || p[0] > '4') {
        return NGX_DECLINED;
    }

    p++;
    len--;

    q = ngx_strlchr(p, p + len, '?');

    if (q == NULL || !ngx_http_thim_strcaseeq(p, q - p, "/pckcrl")) {
        return NGX_DECLINED;
    }

    q++;

    if (ngx_http_thim_args_parse(q, p + len - q, &args) != NGX_OK) {
        return NGX_DECLINED;
    }

    target->crl = 0;
    target->encoding = NGX_HTTP_THIM_CRL_PEM;

    for (i = 0; i < args.nargs; i++) {

        if (ngx_http_thim_strcaseeq(args.args[i].key.data,
                                    args.args[i].key.len, "ca"))
        {
            if (target->crl) {
                return NGX_DECLINED;
            }

            if (ngx_http_thim_strcaseeq(args.args[i].value.data,
                                        args.args[i].value.len, "processor"))
            {
                target->crl = NGX_HTTP_THIM_CRL_PROCESSOR;

            } else if (ngx_http_thim_strcaseeq(args.args[i].value.data,
                                               args.args[i].value.len,
                                               "platform"))
            {
                target->crl = NGX_HTTP_THIM_CRL_PLATFORM;

            } else {
                return NGX_DECLINED;
            }

            continue;
        }

        if (ngx_http_thim_strcaseeq(args.args[i].key.data,
                                    args.args[i].key.len, "encoding"))
        {
            if (ngx_http_thim_strcaseeq(args.args[i].value.data,
                                        args.args[i].value.len, "der"))
            {
                target->encoding = NGX_HTTP_THIM_CRL_DER;

            } else if (!ngx_http_thim_strcaseeq(args.args[i].value.data,
                                                args.args[i].value.len,
                                                "pem"))
            {
                return NGX_DECLINED;
            }

            continue;
        }

        /* Azure appends its own clientid; nothing else is Intel's */
        if (!ngx_http_thim_strcaseeq(args.args[i].key.data,
                                     args.args[i].key.len, "clientid"))
        {
            return NGX_DECLINED;
        }
    }

    return target->crl ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_thim_has_prefix(u_char *p, size_t len, char *s)
{
    size_t  n;

    n = ngx_strlen(s);

    return len >= n && ngx_http_thim_strcaseeq(p, n, s);
}
