
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


/*
 * Who must have signed Intel collateral: the certificate of that role,
 * issued directly by the pinned root, not listed in the root CA CRL.
 */
typedef enum {
    NGX_HTTP_THIM_SIGNER_ROOT = 0,       /* the pinned root itself */
    NGX_HTTP_THIM_SIGNER_TCB,            /* Intel SGX TCB Signing */
    NGX_HTTP_THIM_SIGNER_PCK_PROCESSOR,  /* Intel SGX PCK Processor CA */
    NGX_HTTP_THIM_SIGNER_PCK_PLATFORM,   /* Intel SGX PCK Platform CA */
    NGX_HTTP_THIM_SIGNER_PCK_ANY         /* either PCK CA */
} ngx_http_thim_signer_e;


ngx_int_t ngx_http_thim_json_member(u_char *p, size_t len, char *key,
    u_char **value, size_t *value_len);
ngx_int_t ngx_http_thim_verify_intel_json(u_char *body, size_t len,
    char *key, u_char *chain, size_t chain_len, X509 *anchor,
    ngx_str_t *root_crl, time_t at, char **reason);
ngx_int_t ngx_http_thim_verify_chain(STACK_OF(X509) *certs, X509 *anchor,
    time_t at, char **reason);
ngx_int_t ngx_http_thim_verify_signer(STACK_OF(X509) *certs, X509 *anchor,
    ngx_http_thim_signer_e role, ngx_str_t *root_crl, time_t at,
    char **reason);
ngx_int_t ngx_http_thim_verify_crl(u_char *der, size_t len, u_char *chain,
    size_t chain_len, X509 *anchor, ngx_http_thim_signer_e role,
    ngx_str_t *root_crl, char **reason);
ngx_int_t ngx_http_thim_verify_vcek(u_char *der, size_t len, X509 *ask,
    u_char *hwid, size_t hwid_len, ngx_http_thim_spl_t *spl,
    ngx_uint_t turin, char **reason);
ngx_int_t ngx_http_thim_verify_amd_chain(u_char *pem, size_t len, X509 *ask,
    X509 *ark, char *product, ngx_uint_t vlek, char **reason);
ngx_int_t ngx_http_thim_amd_trust_read(char *file, char *product, X509 **ask,
    X509 **ark);
ngx_int_t ngx_http_thim_verify_amd_crl(u_char *der, size_t len, X509 *ark,
    char **reason);
STACK_OF(X509) *ngx_http_thim_pem_certs(u_char *pem, size_t len);
ngx_int_t ngx_http_thim_same_key(X509 *a, X509 *b);
void ngx_http_thim_verify_memo(ngx_uint_t on, ngx_uint_t clear);


#endif /* _NGX_THIM_VERIFY_H_INCLUDED_ */
