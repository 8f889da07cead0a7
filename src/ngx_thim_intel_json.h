
/*
 * ngx_thim: what Intel's signed JSON must say for the route it answers
 * (kind, id, version, FMSPC, dates, signature shape), before its
 * signature is checked (ngx_thim_verify.c).  Pure: bytes in, NGX_OK or
 * NGX_DECLINED with a reason out; the module and thimctl share it.
 */


#ifndef _NGX_THIM_INTEL_JSON_H_INCLUDED_
#define _NGX_THIM_INTEL_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what a route expects of the signed object */
typedef struct {
    char                      *key;            /* "tcbInfo", ... */
    char                      *id;             /* its "id", or NULL */
    ngx_int_t                  version;        /* its "version", or 0 */
    u_char                    *fmspc;          /* 12 hex, or NULL */
} ngx_http_thim_intel_expect_t;


ngx_int_t ngx_http_thim_intel_json_check(u_char *body, size_t len,
    ngx_http_thim_intel_expect_t *expect, time_t *issued,
    time_t *next_update, char **reason);


#endif /* _NGX_THIM_INTEL_JSON_H_INCLUDED_ */
