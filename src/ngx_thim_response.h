
/*
 * ngx_thim: writing responses (cached records and JSON errors).
 */


#ifndef _NGX_THIM_RESPONSE_H_INCLUDED_
#define _NGX_THIM_RESPONSE_H_INCLUDED_


#include "ngx_thim.h"


/* max-age of a stale copy: clients come back soon, when it may be fresh */
#define NGX_HTTP_THIM_STALE_MAX_AGE    60

/* G8: Azure's DCAP client ignores a max-age above one day */
#define NGX_HTTP_THIM_MAX_AGE          86400


ngx_int_t ngx_http_thim_request_id(ngx_http_request_t *r, ngx_str_t *id);
ngx_table_elt_t *ngx_http_thim_request_header(ngx_http_request_t *r,
    char *name);
ngx_int_t ngx_http_thim_metadata_true(ngx_http_request_t *r);
ngx_int_t ngx_http_thim_send_record(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
ngx_int_t ngx_http_thim_send_error(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t status, char *reason,
    char *parameter);
ngx_int_t ngx_http_thim_error_record(ngx_http_request_t *r,
    ngx_uint_t status, char *reason, char *parameter,
    ngx_http_thim_record_t *rec);
char *ngx_http_thim_status_reason(ngx_uint_t status);
ngx_str_t *ngx_http_thim_cache_status_name(ngx_uint_t cache_status);


#endif /* _NGX_THIM_RESPONSE_H_INCLUDED_ */
