
/*
 * ngx_thim: query-string parsing and validation helpers.
 *
 * Pure functions over (u_char *, size_t): no request, no pool, no nginx
 * function that lives in a .c file, so the C unit tests and fuzzers link
 * them alone.
 */


#ifndef _NGX_THIM_ARGS_H_INCLUDED_
#define _NGX_THIM_ARGS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a longer query string is refused outright: no real client sends one */
#define NGX_HTTP_THIM_ARGS_MAX_LEN     4096
#define NGX_HTTP_THIM_ARGS_MAX         32


typedef struct {
    ngx_str_t                  key;
    ngx_str_t                  value;     /* still percent-encoded */
} ngx_http_thim_arg_t;


typedef struct {
    ngx_uint_t                 nargs;
    ngx_http_thim_arg_t        args[NGX_HTTP_THIM_ARGS_MAX];
} ngx_http_thim_args_t;


ngx_int_t ngx_http_thim_args_parse(u_char *p, size_t len,
    ngx_http_thim_args_t *args);
ngx_http_thim_arg_t *ngx_http_thim_args_find(ngx_http_thim_args_t *args,
    u_char *key, size_t len);
ngx_int_t ngx_http_thim_pct_decode(u_char *dst, u_char *src, size_t len,
    size_t *out);
u_char *ngx_http_thim_pct_encode(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_thim_is_hex(u_char *p, size_t len);
ngx_int_t ngx_http_thim_hex_decode(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_thim_parse_decimal(u_char *p, size_t len,
    size_t max_digits, uint64_t *value);
void ngx_http_thim_strlow(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_thim_strcaseeq(u_char *p, size_t len, char *s);


#endif /* _NGX_THIM_ARGS_H_INCLUDED_ */
