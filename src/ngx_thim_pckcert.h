
/*
 * ngx_thim: Intel PCK certificates (pckcert, pckcerts and Azure's form).
 */


#ifndef _NGX_THIM_PCKCERT_H_INCLUDED_
#define _NGX_THIM_PCKCERT_H_INCLUDED_


#include "ngx_thim.h"


ngx_int_t ngx_http_thim_pckcert_init(ngx_conf_t *cf);
ngx_int_t ngx_http_thim_pckcert_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_thim_pckcert_hide(ngx_http_request_t *r, ngx_uint_t known,
    ngx_str_t *query);
ngx_int_t ngx_http_thim_pckcert_handler(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *query);
ngx_uint_t ngx_http_thim_pckcert_is_set(ngx_str_t *path);
ngx_int_t ngx_http_thim_pckcert_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *uri, ngx_str_t *query, ngx_str_t *qeid, ngx_str_t *alt,
    char **reason);


#endif /* _NGX_THIM_PCKCERT_H_INCLUDED_ */
