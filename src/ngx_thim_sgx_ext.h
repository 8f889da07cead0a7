
/*
 * ngx_thim: what an Intel PCK certificate says about its platform (the
 * SGX extension, OID 1.2.840.113741.1.13.1), and its verification against
 * the PCK CA that issued it.  Pure: bytes in, results out, no nginx
 * runtime.
 */


#ifndef _NGX_THIM_SGX_EXT_H_INCLUDED_
#define _NGX_THIM_SGX_EXT_H_INCLUDED_


#include <openssl/x509.h>

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_thim_pck.h"


#define NGX_HTTP_THIM_PPID_LEN     16
#define NGX_HTTP_THIM_FMSPC_BYTES  6
#define NGX_HTTP_THIM_PCEID_BYTES  2


typedef struct {
    u_char                     ppid[NGX_HTTP_THIM_PPID_LEN];
    ngx_http_thim_tcb_t        tcb;            /* .2.1-.2.16 and .2.17 */
    u_char                     cpusvn[NGX_HTTP_THIM_TCB_COMPONENTS];
    u_char                     pceid[NGX_HTTP_THIM_PCEID_BYTES];
    u_char                     fmspc[NGX_HTTP_THIM_FMSPC_BYTES];
    time_t                     not_after;      /* of the certificate */
} ngx_http_thim_sgx_ext_t;


ngx_int_t ngx_http_thim_sgx_ext(X509 *cert, ngx_http_thim_sgx_ext_t *ext);
ngx_int_t ngx_http_thim_verify_pck(u_char *pem, size_t len, X509 *ca,
    time_t at, ngx_http_thim_sgx_ext_t *ext, char **reason);


#endif /* _NGX_THIM_SGX_EXT_H_INCLUDED_ */
