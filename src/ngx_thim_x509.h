
/*
 * ngx_thim: certificate and CRL helpers (OpenSSL), and the date format of
 * Intel's signed JSON.  Pure: bytes in, results out, no nginx runtime.
 */


#ifndef _NGX_THIM_X509_H_INCLUDED_
#define _NGX_THIM_X509_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_http_thim_crl_next_update(u_char *der, size_t len,
    time_t *next_update);
ngx_int_t ngx_http_thim_cert_not_after(u_char *der, size_t len,
    time_t *not_after);
ngx_int_t ngx_http_thim_pem_certs_not_after(u_char *pem, size_t len,
    ngx_uint_t count, time_t *not_after);
size_t ngx_http_thim_pem_size(size_t der_len, char *label);
u_char *ngx_http_thim_pem_encode(u_char *dst, u_char *der, size_t len,
    char *label);
ngx_int_t ngx_http_thim_parse_iso8601(u_char *p, size_t len, time_t *t);
void ngx_http_thim_x509_free(void *data);


#endif /* _NGX_THIM_X509_H_INCLUDED_ */
