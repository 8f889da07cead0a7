
/*
 * ngx_thim: the status endpoint (thim_status;), JSON or Prometheus text.
 */


#ifndef _NGX_THIM_STATUS_H_INCLUDED_
#define _NGX_THIM_STATUS_H_INCLUDED_


#include "ngx_thim.h"


char *ngx_http_thim_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_THIM_STATUS_H_INCLUDED_ */
