
/*
 * ngx_thim: what an upper tier's answer says about its own copy
 * (ngx_thim_tier_cc.c).  Pure functions: no request, no pool, so that
 * t/unit links them alone.
 */


#ifndef _NGX_THIM_TIER_CC_H_INCLUDED_
#define _NGX_THIM_TIER_CC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_http_thim_cc_max_age(u_char *p, size_t len, time_t *max_age);
ngx_int_t ngx_http_thim_age(u_char *p, size_t len, time_t *age);
ngx_int_t ngx_http_thim_cc_stale(u_char *p, size_t len);


#endif /* _NGX_THIM_TIER_CC_H_INCLUDED_ */
