
/*
 * ngx_thim: the cached form of one origin answer.
 *
 * A record is what the cache stores for a key: the status, the content
 * type, the origin headers that must be replayed (issuer chains), and the
 * body, byte for byte.  It is one flat, pointer-free blob so that it can
 * live in shared memory, be copied out with one memcpy, and later be
 * written to a snapshot file unchanged.  Pure functions: no nginx runtime.
 *
 * Layout (integers little-endian):
 *
 *     u8  version (1)   u8  nheaders   u16 status   u16 content_type_len
 *     u32 body_len
 *     nheaders * { u16 name_len  u32 value_len }
 *     content_type, then each header name and value, then the body
 */


#ifndef _NGX_THIM_RECORD_H_INCLUDED_
#define _NGX_THIM_RECORD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_THIM_RECORD_VERSION      1
#define NGX_HTTP_THIM_RECORD_MAX_HEADERS  8


typedef struct {
    ngx_uint_t                 status;
    ngx_str_t                  content_type;
    ngx_uint_t                 nheaders;
    ngx_str_t                  names[NGX_HTTP_THIM_RECORD_MAX_HEADERS];
    ngx_str_t                  values[NGX_HTTP_THIM_RECORD_MAX_HEADERS];
    ngx_str_t                  body;
} ngx_http_thim_record_t;


size_t ngx_http_thim_record_size(ngx_http_thim_record_t *rec);
u_char *ngx_http_thim_record_write(u_char *p, ngx_http_thim_record_t *rec);
ngx_int_t ngx_http_thim_record_read(u_char *p, size_t len,
    ngx_http_thim_record_t *rec);
ngx_str_t *ngx_http_thim_record_header(ngx_http_thim_record_t *rec,
    u_char *name, size_t len);


#endif /* _NGX_THIM_RECORD_H_INCLUDED_ */
