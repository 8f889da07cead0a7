
/*
 * ngx_thim: Azure's forms of AMD collateral (THIM JSON, ACC cache).
 */


#ifndef _NGX_THIM_AMD_AZURE_H_INCLUDED_
#define _NGX_THIM_AMD_AZURE_H_INCLUDED_


#include "ngx_thim.h"


ngx_int_t ngx_http_thim_amd_azure_handler(ngx_http_request_t *r);


#endif /* _NGX_THIM_AMD_AZURE_H_INCLUDED_ */
