
/*
 * ngx_thim: AMD KDS-compatible routes.
 */


#ifndef _NGX_THIM_AMD_H_INCLUDED_
#define _NGX_THIM_AMD_H_INCLUDED_


#include "ngx_thim.h"


#include "ngx_thim_tcbm.h"


typedef struct {
    ngx_str_t                  name;            /* as the client says it */
    ngx_str_t                  kds;             /* as KDS knows it */
    ngx_uint_t                 turin;           /* Turin's TCB layout */
    ngx_uint_t                 trust;           /* its ARK: Milan 0, ... */
} ngx_http_thim_amd_product_t;


ngx_int_t ngx_http_thim_amd_handler(ngx_http_request_t *r);
ngx_http_thim_amd_product_t *ngx_http_thim_amd_product(ngx_str_t *name);
char *ngx_http_thim_amd_trust(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_thim_amd_hwid(ngx_http_thim_amd_product_t *product,
    ngx_str_t *hwid, char **reason);
ngx_int_t ngx_http_thim_amd_set_vcek(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    ngx_http_thim_spl_t *spl);
ngx_int_t ngx_http_thim_amd_set_chain(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product);
ngx_int_t ngx_http_thim_amd_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *path,
    ngx_str_t *query, char **reason);


#endif /* _NGX_THIM_AMD_H_INCLUDED_ */
