
/*
 * ngx_thim: choosing a platform's PCK certificate for a raw TCB, as Intel
 * PCS does (and as PCCS does locally), from the platform's certificate set
 * and its FMSPC's TCB info, and reading both from Intel's JSON (jansson).
 * Pure: no nginx runtime, no OpenSSL.
 */


#ifndef _NGX_THIM_PCK_H_INCLUDED_
#define _NGX_THIM_PCK_H_INCLUDED_


#include <jansson.h>

#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_THIM_TCB_COMPONENTS   16

/* SGX-TCBm: CPUSVN (16 bytes) and PCESVN (2, little-endian), as hex */
#define NGX_HTTP_THIM_TCBM_LEN         36

/* the most certificates (and TCB levels) one platform is taken to have */
#define NGX_HTTP_THIM_PCK_MAX          128


/* a TCB: the 16 SGX TCB component SVNs (the CPUSVN bytes) and PCESVN */
typedef struct {
    u_char                     comp[NGX_HTTP_THIM_TCB_COMPONENTS];
    ngx_uint_t                 pcesvn;
} ngx_http_thim_tcb_t;


/* one entry of Intel's pckcerts list */
typedef struct {
    ngx_http_thim_tcb_t        tcb;
    u_char                    *tcbm;            /* NGX_HTTP_THIM_TCBM_LEN */
    const char                *cert;            /* percent-encoded PEM, or
                                                   NULL: "Not available" */
} ngx_http_thim_pck_entry_t;


ngx_int_t ngx_http_thim_pck_entry(json_t *item,
    ngx_http_thim_pck_entry_t *entry);
ngx_int_t ngx_http_thim_pck_levels(json_t *root, ngx_http_thim_tcb_t *levels,
    ngx_uint_t max, ngx_uint_t *n);
ngx_int_t ngx_http_thim_tcbm_of(u_char *tcbm, ngx_http_thim_tcb_t *tcb,
    u_char *cpusvn);
ngx_int_t ngx_http_thim_tcb_le(ngx_http_thim_tcb_t *a, ngx_http_thim_tcb_t *b);
ngx_int_t ngx_http_thim_pck_select(ngx_http_thim_tcb_t *raw,
    ngx_http_thim_tcb_t *certs, ngx_uint_t ncerts,
    ngx_http_thim_tcb_t *levels, ngx_uint_t nlevels, ngx_uint_t *chosen);


#endif /* _NGX_THIM_PCK_H_INCLUDED_ */
