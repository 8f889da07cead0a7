
/*
 * ngx_thim: the thim_origin_rate directive (ngx_thim_budget_conf.c).
 */


#ifndef _NGX_THIM_BUDGET_CONF_H_INCLUDED_
#define _NGX_THIM_BUDGET_CONF_H_INCLUDED_


#include "ngx_thim.h"


char *ngx_http_thim_origin_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_thim_origin_rate_init(ngx_http_thim_loc_conf_t *tlcf);
void ngx_http_thim_origin_rate_merge(ngx_http_thim_loc_conf_t *conf,
    ngx_http_thim_loc_conf_t *prev);


#endif /* _NGX_THIM_BUDGET_CONF_H_INCLUDED_ */
