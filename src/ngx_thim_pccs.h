
/*
 * ngx_thim: PCCS's own surface (platform registration, the admin API,
 * appraisal policies), so that PCCS's tools work against the module.
 */


#ifndef _NGX_THIM_PCCS_H_INCLUDED_
#define _NGX_THIM_PCCS_H_INCLUDED_


#include <jansson.h>

#include "ngx_thim.h"
#include "ngx_thim_pckcert.h"


/* PCCS's answers, byte for byte (constants/pccs_status_code.js) */
#define NGX_HTTP_THIM_PCCS_OK          "Operation successful."
#define NGX_HTTP_THIM_PCCS_INVALID     "Invalid request parameters."
#define NGX_HTTP_THIM_PCCS_UNAUTH      "Authentication failed."
#define NGX_HTTP_THIM_PCCS_INTEGRITY   "The integrity of the data can't be " \
                                       "verified."
#define NGX_HTTP_THIM_PCCS_NO_DATA     "No cache data for this platform."

#define NGX_HTTP_THIM_PCCS_INTEGRITY_ERROR  460

/* what an operator or a tool gave lasts as long as the zone keeps it */
#define NGX_HTTP_THIM_PCCS_LIFETIME    (20 * 365 * 86400)

/* how a platform's JSON is read (ngx_http_thim_pccs_platform_read()) */
#define NGX_HTTP_THIM_PCCS_REGISTERED  0
#define NGX_HTTP_THIM_PCCS_UPLOADED    1
#define NGX_HTTP_THIM_PCCS_STORED      2

#define NGX_HTTP_THIM_PCCS_USER        0
#define NGX_HTTP_THIM_PCCS_ADMIN       1


ngx_int_t ngx_http_thim_pccs_handler(ngx_http_request_t *r,
    ngx_str_t *query);
ngx_int_t ngx_http_thim_pccs_arg(ngx_http_thim_ctx_t *ctx, char *name,
    ngx_str_t *value);
char *ngx_http_thim_pccs_token_hash(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_thim_pccs_reg.c */
ngx_int_t ngx_http_thim_pccs_register(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_thim_pccs_platforms(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
ngx_int_t ngx_http_thim_pccs_reg_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *path, char **reason);
ngx_int_t ngx_http_thim_pccs_reg_set(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *digest, char **reason);
ngx_int_t ngx_http_thim_pccs_platform_read(ngx_pool_t *pool, json_t *obj,
    ngx_http_thim_platform_t *pf, ngx_uint_t mode, char **parameter);
ngx_int_t ngx_http_thim_pccs_dump(ngx_pool_t *pool, json_t *v,
    ngx_str_t *text);
ngx_int_t ngx_http_thim_pccs_keep(ngx_http_thim_ctx_t *ctx, ngx_str_t *key,
    const ngx_http_thim_route_t *route, ngx_str_t *body, ngx_log_t *log);
ngx_int_t ngx_http_thim_pccs_reg_store(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_platform_t *pf, ngx_log_t *log);

/* ngx_thim_pccs_upload.c */
ngx_int_t ngx_http_thim_pccs_upload(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *body);

/* ngx_thim_pccs_refresh.c */
ngx_int_t ngx_http_thim_pccs_refresh(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);

/* ngx_thim_policy.c */
ngx_int_t ngx_http_thim_policy_put(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_thim_policy_get(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
ngx_int_t ngx_http_thim_policy_rekey(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *path, char **reason);

/* ngx_thim_pccs_admin.c */
ngx_int_t ngx_http_thim_pccs_send(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status, ngx_str_t *type,
    ngx_str_t *body, char *parameter);
ngx_int_t ngx_http_thim_pccs_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
ngx_int_t ngx_http_thim_pccs_text(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status, char *text,
    char *parameter);


#endif /* _NGX_THIM_PCCS_H_INCLUDED_ */
