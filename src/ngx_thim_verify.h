
/*
 * ngx_thim: signature and chain verification of collateral (OpenSSL).
 *
 * Pure functions over bytes: the trust anchor, the time to verify at and
 * the material come in, NGX_OK or NGX_DECLINED with a reason come out.
 * No nginx runtime, so the unit tests and fuzzers drive them directly.
 */


#ifndef _NGX_THIM_VERIFY_H_INCLUDED_
#define _NGX_THIM_VERIFY_H_INCLUDED_


#include <openssl/x509.h>

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_thim_tcbm.h"


ngx_int_t ngx_http_thim_json_member(u_char *p, size_t len, char *key,
    u_char **value, size_t *value_len);
ngx_int_t ngx_http_thim_verify_intel_json(u_char *body, size_t len,
    char *key, u_char *chain, size_t chain_len, X509 *anchor, time_t at,
    char **reason);
ngx_int_t ngx_http_thim_verify_chain(STACK_OF(X509) *certs, X509 *anchor,
    time_t at, char **reason);
ngx_int_t ngx_http_thim_verify_crl(u_char *der, size_t len, u_char *chain,
    size_t chain_len, X509 *anchor, char **reason);
ngx_int_t ngx_http_thim_verify_vcek(u_char *der, size_t len, X509 *ask,
    u_char *hwid, size_t hwid_len, ngx_http_thim_spl_t *spl,
    ngx_uint_t turin, char **reason);
ngx_int_t ngx_http_thim_verify_amd_chain(u_char *pem, size_t len, X509 *ark,
    char **reason);
ngx_int_t ngx_http_thim_amd_trust_read(char *file, X509 **ask, X509 **ark);
ngx_int_t ngx_http_thim_verify_amd_crl(u_char *der, size_t len, X509 *ark,
    char **reason);
STACK_OF(X509) *ngx_http_thim_pem_certs(u_char *pem, size_t len);
ngx_int_t ngx_http_thim_leaf_cn_is(u_char *pem, size_t len, char *cn);
ngx_int_t ngx_http_thim_same_key(X509 *a, X509 *b);


#endif /* _NGX_THIM_VERIFY_H_INCLUDED_ */
