
/*
 * ngx_thim: Intel PCK certificates (pckcert, pckcerts and Azure's form).
 */


#ifndef _NGX_THIM_PCKCERT_H_INCLUDED_
#define _NGX_THIM_PCKCERT_H_INCLUDED_


#include "ngx_thim.h"


/* a registered platform (ngx_thim_pccs_reg.c), its fields validated */
typedef struct {
    ngx_str_t                  qeid;
    ngx_str_t                  pceid;          /* 4 hex */
    ngx_str_t                  cpusvn;         /* 32 hex, or empty */
    ngx_str_t                  pcesvn;         /* 4 hex, or empty */
    ngx_str_t                  ppid;           /* 768 hex, or empty */
    ngx_str_t                  manifest;       /* hex, or empty */
} ngx_http_thim_platform_t;


#define NGX_HTTP_THIM_PLATFORM_DIGEST_HEX  64


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

ngx_int_t ngx_http_thim_pckcert_registered(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_platform_t *pf);
ngx_int_t ngx_http_thim_pckcert_post(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_platform_t *pf);
ngx_int_t ngx_http_thim_pckcert_post_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_thim_pckcert_platform_digest(u_char *hex,
    ngx_str_t *qeid, ngx_str_t *pceid);


#endif /* _NGX_THIM_PCKCERT_H_INCLUDED_ */
