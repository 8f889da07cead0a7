
/*
 * ngx_thim: Intel PCK certificates (pckcert, pckcerts and Azure's form).
 */


#ifndef _NGX_THIM_PCKCERT_H_INCLUDED_
#define _NGX_THIM_PCKCERT_H_INCLUDED_


#include "ngx_thim.h"


ngx_int_t ngx_http_thim_pckcert_handler(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
ngx_uint_t ngx_http_thim_pckcert_is_set(ngx_str_t *path);
ngx_int_t ngx_http_thim_pckcert_rekey(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *qeid, ngx_str_t *alt,
    char **reason);


#endif /* _NGX_THIM_PCKCERT_H_INCLUDED_ */
