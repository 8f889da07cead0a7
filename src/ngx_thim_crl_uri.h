
/*
 * ngx_thim: which Intel CRL a client's "uri=" names.
 *
 * The Azure DCAP client (pckcrl?uri=) and PCCS clients (crl?uri=) pass
 * the CRL distribution point URL they found in a certificate.  Only the
 * few URLs Intel publishes are recognised; everything else is refused, so
 * a "uri" can never make the cache fetch anything else (no open proxy).
 * Pure: bytes in, result out.
 */


#ifndef _NGX_THIM_CRL_URI_H_INCLUDED_
#define _NGX_THIM_CRL_URI_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_THIM_CRL_URI_MAX      2048

#define NGX_HTTP_THIM_CRL_ROOT         1
#define NGX_HTTP_THIM_CRL_PROCESSOR    2
#define NGX_HTTP_THIM_CRL_PLATFORM     3

#define NGX_HTTP_THIM_CRL_DER          1    /* published as DER */
#define NGX_HTTP_THIM_CRL_PEM          2    /* published as PEM */


typedef struct {
    ngx_uint_t                 crl;         /* NGX_HTTP_THIM_CRL_ROOT, ... */
    ngx_uint_t                 encoding;    /* as the URL publishes it */
} ngx_http_thim_crl_uri_t;


ngx_int_t ngx_http_thim_crl_uri_parse(u_char *uri, size_t len,
    ngx_http_thim_crl_uri_t *target);


#endif /* _NGX_THIM_CRL_URI_H_INCLUDED_ */
