
/*
 * ngx_thim: the check of a whole PCK certificate set, Intel's pckcerts
 * answer, before it is trusted (the module's cache and thimctl alike).
 * Pure: bytes in, a verdict out, no nginx runtime.
 */


#ifndef _NGX_THIM_PCK_SET_H_INCLUDED_
#define _NGX_THIM_PCK_SET_H_INCLUDED_


#include <openssl/x509.h>

#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    u_char                    *body;           /* the JSON list */
    size_t                     len;
    u_char                    *chain;          /* the issuer chain, PEM */
    size_t                     chain_len;
    X509                      *root;           /* the pinned Intel root */
    ngx_str_t                  root_crl;       /* its CRL (DER), if known */
    time_t                     at;             /* when to judge validity */

    /* what the answer must agree with; empty or NULL: one for all */
    ngx_str_t                  ca_type;        /* processor | platform */
    ngx_str_t                  fmspc;          /* SGX-FMSPC, 12 hex */
    u_char                    *pceid;          /* 2 bytes */
} ngx_http_thim_pck_set_t;


ngx_int_t ngx_http_thim_verify_pck_set(ngx_http_thim_pck_set_t *set,
    time_t *not_after, char **reason);


#endif /* _NGX_THIM_PCK_SET_H_INCLUDED_ */
