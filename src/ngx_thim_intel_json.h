
/*
 * ngx_thim: what Intel's signed JSON must say for the route it answers
 * (kind, id, version, FMSPC, evaluation number, dates, signature shape),
 * before its signature is checked (ngx_thim_verify.c).  The body must
 * pass ngx_http_thim_json_signed() (ngx_thim_strict_json.h) and every
 * field is read out of the signed object's own bytes.  Pure: bytes in,
 * NGX_OK or NGX_DECLINED with a reason out; the module and thimctl share
 * it.
 */


#ifndef _NGX_THIM_INTEL_JSON_H_INCLUDED_
#define _NGX_THIM_INTEL_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* more evaluation numbers than Intel has ever listed at once */
#define NGX_HTTP_THIM_EVAL_NUMBERS_MAX  64

#define NGX_HTTP_THIM_INTEL_ID_MAX      15


/* what a route expects of the signed object */
typedef struct {
    char                      *key;            /* "tcbInfo", ... */
    char                      *id;             /* its "id", or NULL */
    ngx_int_t                  version;        /* its "version", or 0 */
    u_char                    *fmspc;          /* 12 hex, or NULL */
    ngx_int_t                  eval;           /* the asked
                                                  tcbEvaluationDataNumber,
                                                  or -1 */
    ngx_int_t                  eval_min;       /* none older than this
                                                  (the cached one), or -1 */
} ngx_http_thim_intel_expect_t;


/* what the module reads of a signed document, all from its signed bytes */
typedef struct {
    u_char                    *signed_data;    /* in the body */
    size_t                     signed_len;
    u_char                    *signature;      /* 128 hex, in the body */
    char                       id[NGX_HTTP_THIM_INTEL_ID_MAX + 1];
                                               /* "" when it has none */
    ngx_int_t                  version;
    u_char                     fmspc[12];      /* lower case; */
    ngx_uint_t                 has_fmspc;      /*   when it has one */
    time_t                     issued;
    time_t                     next_update;
    ngx_int_t                  eval;           /* its
                                                  tcbEvaluationDataNumber
                                                  (the newest listed for
                                                  the numbers), or -1 */
    ngx_uint_t                 nnumbers;       /* the numbers' list, */
    ngx_int_t                  numbers[NGX_HTTP_THIM_EVAL_NUMBERS_MAX];
                                               /*   as listed */
    char                       text[160];      /* a reason naming values */
} ngx_http_thim_intel_doc_t;


ngx_int_t ngx_http_thim_intel_json_read(u_char *body, size_t len,
    char *key, ngx_http_thim_intel_doc_t *doc, char **reason);
ngx_int_t ngx_http_thim_intel_json_check(u_char *body, size_t len,
    ngx_http_thim_intel_expect_t *expect, ngx_http_thim_intel_doc_t *doc,
    char **reason);
ngx_int_t ngx_http_thim_intel_asked_eval(u_char *query, size_t len);


#endif /* _NGX_THIM_INTEL_JSON_H_INCLUDED_ */
