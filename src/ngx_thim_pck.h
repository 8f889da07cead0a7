
/*
 * ngx_thim: choosing a platform's PCK certificate for a raw TCB, as Intel
 * PCS does (and as PCCS does locally), from the platform's certificate set
 * and its FMSPC's TCB info.  Pure: no nginx runtime, no OpenSSL.
 */


#ifndef _NGX_THIM_PCK_H_INCLUDED_
#define _NGX_THIM_PCK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_THIM_TCB_COMPONENTS   16


/* a TCB: the 16 SGX TCB component SVNs (the CPUSVN bytes) and PCESVN */
typedef struct {
    u_char                     comp[NGX_HTTP_THIM_TCB_COMPONENTS];
    ngx_uint_t                 pcesvn;
} ngx_http_thim_tcb_t;


ngx_int_t ngx_http_thim_tcb_le(ngx_http_thim_tcb_t *a, ngx_http_thim_tcb_t *b);
ngx_int_t ngx_http_thim_pck_select(ngx_http_thim_tcb_t *raw,
    ngx_http_thim_tcb_t *certs, ngx_uint_t ncerts,
    ngx_http_thim_tcb_t *levels, ngx_uint_t nlevels, ngx_uint_t *chosen);


#endif /* _NGX_THIM_PCK_H_INCLUDED_ */
