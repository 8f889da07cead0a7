
/*
 * ngx_thim: Intel PCS v4 / PCCS-compatible routes.
 *
 * Each route validates its query strictly, derives one canonical form of
 * it (the cache key and the origin query are the same string, so
 * equivalent requests share an entry and the origin only ever sees
 * validated, canonical input), and hands over to the serving core.
 *
 * Served so far: the enclave identities (QE, QvE, TD QE) of PCS v4.
 */


#include <jansson.h>

#include "ngx_thim_args.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_intel.h"


/* PROTOCOLS.md 1a: at most 10 digits */
#define NGX_HTTP_THIM_EVAL_NUMBER_DIGITS  10

/* the longest raw (percent-encoded) value worth decoding */
#define NGX_HTTP_THIM_SHORT_ARG_MAX       32


typedef struct {
    ngx_str_t                  uri;
    ngx_http_thim_route_t      route;
    char                      *id;          /* enclaveIdentity.id */
} ngx_http_thim_intel_identity_t;


static ngx_int_t ngx_http_thim_intel_update_args(ngx_http_request_t *r,
    ngx_str_t *canonical, char **reason, char **parameter);
static ngx_int_t ngx_http_thim_intel_set_fetch(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *path, ngx_str_t *canonical);
static ngx_int_t ngx_http_thim_intel_check_identity(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason);
static ngx_int_t ngx_http_thim_intel_check_signed(json_t *root, char *key,
    char *id, char **reason);


#define ngx_http_thim_identity(path, name, id)                               \
    { ngx_string(path),                                                       \
      { ngx_string(name), ngx_string("application/json"),                     \
        ngx_string("SGX-Enclave-Identity-Issuer-Chain"),                      \
        ngx_http_thim_intel_check_identity },                                 \
      id }

static ngx_http_thim_intel_identity_t  ngx_http_thim_intel_identities[] = {
    ngx_http_thim_identity("/sgx/certification/v4/qe/identity",
                           "sgx qe identity", "QE"),
    ngx_http_thim_identity("/sgx/certification/v4/qve/identity",
                           "sgx qve identity", "QVE"),
    ngx_http_thim_identity("/tdx/certification/v4/qe/identity",
                           "tdx qe identity", "TD_QE"),
    { ngx_null_string, { ngx_null_string, ngx_null_string, ngx_null_string,
                         NULL }, NULL }
};


ngx_int_t
ngx_http_thim_intel_handler(ngx_http_request_t *r)
{
    char                            *reason, *parameter;
    ngx_int_t                        rc;
    ngx_str_t                        canonical;
    ngx_http_thim_ctx_t             *ctx;
    ngx_http_thim_intel_identity_t  *ident;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_thim_ctx_create(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                        "only GET and HEAD are served", NULL);
    }

    for (ident = ngx_http_thim_intel_identities; ident->uri.len; ident++) {
        if (r->uri.len == ident->uri.len
            && ngx_strncmp(r->uri.data, ident->uri.data, r->uri.len) == 0)
        {
            break;
        }
    }

    if (ident->uri.len == 0) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "unknown collateral route", NULL);
    }

    ctx->route = &ident->route;

    parameter = NULL;

    rc = ngx_http_thim_intel_update_args(r, &canonical, &reason, &parameter);

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST, reason,
                                        parameter);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_thim_intel_set_fetch(r, ctx, &ident->uri, &canonical)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * "update=early|standard" (any case; default standard) or
 * "tcbEvaluationDataNumber=N", never both (as PCS).  Other keys are
 * ignored (G6: clientid, api-version).  The canonical form is always
 * explicit: "update=standard" or "tcbEvaluationDataNumber=17".
 * Returns NGX_OK, NGX_DECLINED with *reason (and *parameter) for a 400,
 * or NGX_ERROR.
 */

static ngx_int_t
ngx_http_thim_intel_update_args(ngx_http_request_t *r, ngx_str_t *canonical,
    char **reason, char **parameter)
{
    u_char                buf[NGX_HTTP_THIM_SHORT_ARG_MAX];
    size_t                len;
    uint64_t              number;
    ngx_http_thim_arg_t  *update, *eval;
    ngx_http_thim_args_t  args;

    if (ngx_http_thim_args_parse(r->args.data, r->args.len, &args) != NGX_OK) {
        *reason = "query string too long or too many parameters";
        return NGX_DECLINED;
    }

    update = ngx_http_thim_args_find(&args, (u_char *) "update",
                                     sizeof("update") - 1);
    eval = ngx_http_thim_args_find(&args,
                                   (u_char *) "tcbEvaluationDataNumber",
                                   sizeof("tcbEvaluationDataNumber") - 1);

    if (update && eval) {
        *reason = "update and tcbEvaluationDataNumber are exclusive";
        *parameter = "update";
        return NGX_DECLINED;
    }

    if (eval) {
        if (eval->value.len > sizeof(buf)
            || ngx_http_thim_pct_decode(buf, eval->value.data,
                                        eval->value.len, &len)
               != NGX_OK
            || ngx_http_thim_parse_decimal(buf, len,
                                           NGX_HTTP_THIM_EVAL_NUMBER_DIGITS,
                                           &number)
               != NGX_OK)
        {
            *reason = "tcbEvaluationDataNumber must be a decimal number "
                      "of at most 10 digits";
            *parameter = "tcbEvaluationDataNumber";
            return NGX_DECLINED;
        }

        canonical->data = ngx_pnalloc(r->pool,
                                      sizeof("tcbEvaluationDataNumber=")
                                      + NGX_INT64_LEN);
        if (canonical->data == NULL) {
            return NGX_ERROR;
        }

        canonical->len = ngx_sprintf(canonical->data,
                                     "tcbEvaluationDataNumber=%uL", number)
                         - canonical->data;
        return NGX_OK;
    }

    if (update == NULL
        || ngx_http_thim_strcaseeq(update->value.data, update->value.len,
                                   "standard"))
    {
        ngx_str_set(canonical, "update=standard");
        return NGX_OK;
    }

    if (ngx_http_thim_strcaseeq(update->value.data, update->value.len,
                                "early"))
    {
        ngx_str_set(canonical, "update=early");
        return NGX_OK;
    }

    *reason = "update must be early or standard";
    *parameter = "update";

    return NGX_DECLINED;
}


/*
 * key = "intel:" origin path "?" canonical query;
 * subrequest = thim_intel_origin prefix + origin path, canonical query.
 */

static ngx_int_t
ngx_http_thim_intel_set_fetch(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *path, ngx_str_t *canonical)
{
    u_char                    *p;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);

    ctx->key.len = sizeof("intel:") - 1 + path->len + 1 + canonical->len;
    ctx->key.data = ngx_pnalloc(r->pool, ctx->key.len);
    if (ctx->key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->key.data, "intel:", sizeof("intel:") - 1);
    p = ngx_cpymem(p, path->data, path->len);
    *p++ = '?';
    ngx_memcpy(p, canonical->data, canonical->len);

    ctx->origin_uri.len = tlcf->intel_origin.len + path->len;
    ctx->origin_uri.data = ngx_pnalloc(r->pool, ctx->origin_uri.len);
    if (ctx->origin_uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->origin_uri.data, tlcf->intel_origin.data,
                   tlcf->intel_origin.len);
    ngx_memcpy(p, path->data, path->len);

    ctx->origin_args = *canonical;

    return NGX_OK;
}


/*
 * Structure only: a JSON object with the signed "enclaveIdentity" of the
 * route's id and a 64-byte hex signature.  Signature and chain checks
 * belong to the trust layer.
 */

static ngx_int_t
ngx_http_thim_intel_check_identity(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason)
{
    json_t                          *root;
    ngx_int_t                        rc;
    json_error_t                     err;
    ngx_http_thim_intel_identity_t  *ident;

    ident = (ngx_http_thim_intel_identity_t *)
                ((u_char *) ctx->route
                 - offsetof(ngx_http_thim_intel_identity_t, route));

    root = json_loadb((const char *) body->data, body->len, 0, &err);
    if (root == NULL) {
        *reason = "body is not JSON";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_intel_check_signed(root, "enclaveIdentity", ident->id,
                                          reason);

    json_decref(root);

    return rc;
}


static ngx_int_t
ngx_http_thim_intel_check_signed(json_t *root, char *key, char *id,
    char **reason)
{
    json_t      *body, *value;
    const char  *s;

    body = json_object_get(root, key);
    if (!json_is_object(body)) {
        *reason = "signed object missing";
        return NGX_DECLINED;
    }

    value = json_object_get(body, "id");
    if (!json_is_string(value) || ngx_strcmp(json_string_value(value), id) != 0)
    {
        *reason = "collateral id does not match the route";
        return NGX_DECLINED;
    }

    value = json_object_get(root, "signature");
    s = json_is_string(value) ? json_string_value(value) : NULL;

    if (s == NULL
        || ngx_strlen(s) != 128
        || !ngx_http_thim_is_hex((u_char *) s, 128))
    {
        *reason = "signature is not 64 bytes of hex";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
