
/*
 * ngx_thim: the configuration checks run once the http block is read
 * (ngx_thim_conf_check.c).
 */


#ifndef _NGX_THIM_CONF_CHECK_H_INCLUDED_
#define _NGX_THIM_CONF_CHECK_H_INCLUDED_


#include "ngx_thim.h"


/* what nginx -t could not check, said by the first worker at start */
typedef struct {
    ngx_uint_t                 level;
    ngx_str_t                  text;
    ngx_http_core_loc_conf_t  *location;        /* the origin location */
} ngx_http_thim_note_t;


ngx_int_t ngx_http_thim_conf_check(ngx_conf_t *cf);
void ngx_http_thim_conf_check_notes(ngx_cycle_t *cycle);


#endif /* _NGX_THIM_CONF_CHECK_H_INCLUDED_ */
