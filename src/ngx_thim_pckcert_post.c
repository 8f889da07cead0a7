
/*
 * ngx_thim: a client's own PCS POST forms, for multi-package platforms
 * (PROTOCOLS.md 1a; Intel PCS API v4):
 *
 *   POST /sgx/certification/v4/pckcerts
 *        {"platformManifest": "<hex>", "pceid": "<4 hex>"}
 *   POST /sgx/certification/v3|v4/pckcert
 *        {"platformManifest", "cpusvn" (32 hex), "pcesvn" (4 hex),
 *         "pceid" (4 hex), "qeid" (32 hex, optional)}
 *
 * The body is read whole (at most NGX_HTTP_THIM_POST_BODY_MAX) and
 * validated strictly: a JSON object, no duplicate and no unknown member,
 * every value hex of its length, the manifest hex of an even length.  A
 * refusal is a 400 with a JSON error naming the member.  Only then is the
 * request served as its GET form (ngx_http_thim_pckcert_post()): the
 * origin gets the module's own JSON, made of the validated hex only.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "ngx_thim_args.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_POST_MANIFEST_MAX  (256 * 1024)
#define NGX_HTTP_THIM_POST_BODY_MAX      (NGX_HTTP_THIM_POST_MANIFEST_MAX \
                                          + 1024)
#define NGX_HTTP_THIM_POST_NAME_MAX      32


typedef struct {
    char                      *name;
    size_t                     len;            /* 0: the manifest */
    ngx_uint_t                 pckcert_only;
    ngx_uint_t                 required;
    size_t                     offset;         /* in the platform */
} ngx_http_thim_post_field_t;


static ngx_uint_t ngx_http_thim_pckcert_post_json(ngx_http_request_t *r);
static void ngx_http_thim_pckcert_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_thim_pckcert_post_parse(ngx_pool_t *pool,
    ngx_str_t *body, ngx_uint_t set, ngx_http_thim_platform_t *pf,
    char **reason, char **parameter);
static ngx_int_t ngx_http_thim_pckcert_post_member(ngx_pool_t *pool,
    const char *name, json_t *v, ngx_uint_t set,
    ngx_http_thim_platform_t *pf, char **reason, char **parameter);
static char *ngx_http_thim_pckcert_post_name(ngx_pool_t *pool,
    const char *name);


static ngx_http_thim_post_field_t  ngx_http_thim_post_fields[] = {
    { "platformManifest", 0, 0, 1,
      offsetof(ngx_http_thim_platform_t, manifest) },
    { "pceid", 4, 0, 1, offsetof(ngx_http_thim_platform_t, pceid) },
    { "cpusvn", 32, 1, 1, offsetof(ngx_http_thim_platform_t, cpusvn) },
    { "pcesvn", 4, 1, 1, offsetof(ngx_http_thim_platform_t, pcesvn) },
    { "qeid", 32, 1, 0, offsetof(ngx_http_thim_platform_t, qeid) },
    { NULL, 0, 0, 0, 0 }
};


static ngx_str_t  ngx_http_thim_post_uris[] = {
    ngx_string("/sgx/certification/v4/pckcerts"),
    ngx_string("/sgx/certification/v4/pckcert"),
    ngx_string("/sgx/certification/v3/pckcert"),
    ngx_null_string
};


/* NGX_DECLINED: not a POST of a PCK certificate route */

ngx_int_t
ngx_http_thim_pckcert_post_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t            *uri;
    ngx_http_thim_ctx_t  *ctx;

    if (r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    for (uri = ngx_http_thim_post_uris; uri->len; uri++) {
        if (r->uri.len == uri->len
            && ngx_strncmp(r->uri.data, uri->data, uri->len) == 0)
        {
            break;
        }
    }

    if (uri->len == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_thim_ctx_create(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the origin request says application/json: so must the client's */
    if (!ngx_http_thim_pckcert_post_json(r)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_thim_send_error(r, ctx,
                                        NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "the body must be application/json",
                                        "Content-Type");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_THIM_POST_BODY_MAX) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_thim_send_error(r, ctx,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "the body is too large",
                                        "platformManifest");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_thim_pckcert_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* "application/json", perhaps with parameters ("; charset=utf-8") */

static ngx_uint_t
ngx_http_thim_pckcert_post_json(ngx_http_request_t *r)
{
    size_t      len;
    ngx_str_t  *type;

    static char  json[] = "application/json";

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = &r->headers_in.content_type->value;
    len = sizeof(json) - 1;

    return type->len >= len
           && ngx_strncasecmp(type->data, (u_char *) json, len) == 0
           && (type->len == len || type->data[len] == ';'
               || type->data[len] == ' ');
}


static void
ngx_http_thim_pckcert_post_body(ngx_http_request_t *r)
{
    char                      *reason, *parameter;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_uint_t                 set;
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_platform_t   pf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);

    if (ctx == NULL || ngx_http_thim_pccs_read_body(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    set = (r->uri.data[r->uri.len - 1] == 's');

    if (body.len > NGX_HTTP_THIM_POST_BODY_MAX) {
        rc = ngx_http_thim_send_error(r, ctx,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "the body is too large",
                                      "platformManifest");
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_thim_pckcert_post_parse(r->pool, &body, set, &pf,
                                          &reason, &parameter);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST, reason,
                                      parameter);

    } else if (rc != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_http_thim_pckcert_post(r, ctx, &pf);
    }

    ngx_http_finalize_request(r, rc);
}


/* NGX_DECLINED with *reason and *parameter: the body is refused */

static ngx_int_t
ngx_http_thim_pckcert_post_parse(ngx_pool_t *pool, ngx_str_t *body,
    ngx_uint_t set, ngx_http_thim_platform_t *pf, char **reason,
    char **parameter)
{
    json_t                      *root, *v;
    ngx_int_t                    rc;
    ngx_str_t                   *value;
    const char                  *name;
    json_error_t                 err;
    ngx_http_thim_post_field_t  *f;

    ngx_memzero(pf, sizeof(ngx_http_thim_platform_t));

    *parameter = "body";
    *reason = "the body must be one JSON object, no member twice";

    if (body->len == 0) {
        return NGX_DECLINED;
    }

    root = json_loadb((char *) body->data, body->len,
                      JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        return NGX_DECLINED;
    }

    rc = json_is_object(root) ? NGX_OK : NGX_DECLINED;

    json_object_foreach(root, name, v) {
        if (rc != NGX_OK) {
            break;
        }

        rc = ngx_http_thim_pckcert_post_member(pool, name, v, set, pf,
                                               reason, parameter);
    }

    json_decref(root);

    if (rc != NGX_OK) {
        return rc;
    }

    for (f = ngx_http_thim_post_fields; f->name; f++) {
        value = (ngx_str_t *) ((u_char *) pf + f->offset);

        if (f->required && (set ? !f->pckcert_only : 1) && value->len == 0) {
            *parameter = f->name;
            *reason = "a required member is missing";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_pckcert_post_member(ngx_pool_t *pool, const char *name,
    json_t *v, ngx_uint_t set, ngx_http_thim_platform_t *pf, char **reason,
    char **parameter)
{
    size_t                       len;
    ngx_str_t                   *value;
    const char                  *s;
    ngx_http_thim_post_field_t  *f;

    for (f = ngx_http_thim_post_fields; f->name; f++) {
        if (ngx_strcmp(name, f->name) == 0 && !(set && f->pckcert_only)) {
            break;
        }
    }

    if (f->name == NULL) {
        *parameter = ngx_http_thim_pckcert_post_name(pool, name);
        *reason = "not a member of this request";
        return (*parameter == NULL) ? NGX_ERROR : NGX_DECLINED;
    }

    *parameter = f->name;

    s = json_string_value(v);
    len = json_string_length(v);

    if (f->len) {
        *reason = "must be a string of hexadecimal digits of its length";

        if (s == NULL || len != f->len
            || !ngx_http_thim_is_hex((u_char *) s, len))
        {
            return NGX_DECLINED;
        }

    } else {
        *reason = "must be a string of hexadecimal digits, an even number, "
                  "at most 524288";

        if (s == NULL || len == 0 || len % 2
            || len > 2 * NGX_HTTP_THIM_POST_MANIFEST_MAX
            || !ngx_http_thim_is_hex((u_char *) s, len))
        {
            return NGX_DECLINED;
        }
    }

    value = (ngx_str_t *) ((u_char *) pf + f->offset);

    /* upper case, as a registration keeps it: the same origin body */
    value->data = ngx_pnalloc(pool, len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    value->len = len;
    ngx_memcpy(value->data, s, len);

    if (f->len == 0) {
        for (len = 0; len < value->len; len++) {
            value->data[len] = ngx_toupper(value->data[len]);
        }
    }

    return NGX_OK;
}


/* an unknown member is named only when it is a short plain name */

static char *
ngx_http_thim_pckcert_post_name(ngx_pool_t *pool, const char *name)
{
    u_char  *p, c;
    size_t   len, i;

    len = ngx_strlen(name);

    for (i = 0; i < len && len <= NGX_HTTP_THIM_POST_NAME_MAX; i++) {
        c = name[i];

        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
            && !(c >= '0' && c <= '9') && c != '_' && c != '-')
        {
            break;
        }
    }

    if (len == 0 || i != len) {
        return "body";
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, name, len + 1);

    return (char *) p;
}
