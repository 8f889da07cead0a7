
/*
 * ngx_thim: Intel PCS v4 / PCCS-compatible routes.
 */


#ifndef _NGX_THIM_INTEL_H_INCLUDED_
#define _NGX_THIM_INTEL_H_INCLUDED_


#include "ngx_thim.h"


ngx_int_t ngx_http_thim_intel_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_thim_intel_set_tcb(ngx_http_thim_ctx_t *ctx, u_char *fmspc,
    ngx_uint_t version);
ngx_int_t ngx_http_thim_intel_root_crl(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *der);
ngx_int_t ngx_http_thim_intel_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *uri,
    ngx_str_t *query, char **reason);


#endif /* _NGX_THIM_INTEL_H_INCLUDED_ */
