
/*
 * ngx_thim: appraisal policies, as PCCS keeps them (its
 * appraisalPolicyService.js):
 *
 *   PUT /sgx/certification/v4/appraisalpolicy       admin-token
 *       {"policy": "<JWT>", "is_default": true|false, "fmspc": "<12 hex>"}
 *       -> 200, the policy's id: SHA-384 hex of the JWT text
 *   GET /sgx/certification/v4/appraisalpolicy?fmspc=F
 *       -> the FMSPC's default policies, joined by ",", as QCNL's
 *          tee_qcnl_get_default_platform_policy() asks for them; 404
 *          "No cache data for this platform." when there is none
 *
 * The policy's payload must name its environment's class_id as PCCS
 * reads it (SGX, TDX 1.0, TDX 1.5; the TD QE's is skipped): that is its
 * type, and a default policy is kept per FMSPC and type, as a zone record
 * "intel-policy:<FMSPC>:<type>" (in the snapshot, re-checked the same way
 * when read back).  A policy that is not a default is answered with its
 * id and not kept: PCCS never serves those either.  The JWT's signature
 * is the verifier's to check (QvE/QAE with the policy owner's key), not
 * the cache's.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>

#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_response.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_POLICY_MAX       (64 * 1024)
#define NGX_HTTP_THIM_POLICY_TYPES     3


static ngx_int_t ngx_http_thim_policy_type(ngx_pool_t *pool,
    ngx_str_t *jwt, ngx_uint_t *type);
static ngx_int_t ngx_http_thim_policy_key(ngx_pool_t *pool, u_char *fmspc,
    ngx_uint_t type, ngx_str_t *key);
static ngx_int_t ngx_http_thim_policy_check(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);


static ngx_str_t  html = ngx_string("text/html; charset=utf-8");

static char  *ngx_http_thim_policy_classes[] = {
    "3123ec35-8d38-4ea5-87a5-d6c48b567570",        /* SGX */
    "9eec018b-7481-4b1c-8e1a-9f7c0c8c777f",        /* TDX 1.0 */
    "f708b97f-0fb2-4e6b-8b03-8a5bcd1221d3"         /* TDX 1.5 */
};

#define NGX_HTTP_THIM_TDQE_CLASS  "3769258c-75e6-4bc7-8d72-d2b0e224cad2"


static ngx_http_thim_route_t  ngx_http_thim_policy_route = {
    ngx_string("appraisal policy"), NGX_HTTP_THIM_ORIGIN_INTEL,
    ngx_string("text/plain"),
    ngx_null_string,
    { ngx_null_string, ngx_null_string },
    ngx_http_thim_policy_check, 1,
    ngx_http_thim_route_plain
};


ngx_int_t
ngx_http_thim_policy_put(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body)
{
    u_char                  md[EVP_MAX_MD_SIZE], fmspc[12], *id;
    json_t                 *root, *v;
    unsigned int            n;
    ngx_str_t               jwt, key, text;
    ngx_uint_t              type, dflt;
    const char             *f;

    root = (body && body->len) ? json_loadb((char *) body->data, body->len,
                                            JSON_REJECT_DUPLICATES, NULL)
                               : NULL;

    v = root ? json_object_get(root, "policy") : NULL;
    f = root ? json_string_value(json_object_get(root, "fmspc")) : NULL;

    jwt.data = (u_char *) json_string_value(v);
    jwt.len = jwt.data ? json_string_length(v) : 0;
    dflt = root ? json_is_true(json_object_get(root, "is_default")) : 0;

    if (jwt.len == 0 || jwt.len > NGX_HTTP_THIM_POLICY_MAX
        || f == NULL || ngx_strlen(f) != 12
        || !ngx_http_thim_is_hex((u_char *) f, 12)
        || (json_object_get(root, "is_default")
            && !json_is_boolean(json_object_get(root, "is_default"))))
    {
        if (root) {
            json_decref(root);
        }

        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID, "policy");
    }

    /* copies: the JSON goes before the policy is stored */
    text.len = jwt.len;
    text.data = ngx_pnalloc(r->pool, jwt.len);
    id = ngx_pnalloc(r->pool, 2 * 48);

    if (text.data == NULL || id == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text.data, jwt.data, jwt.len);

    for (n = 0; n < 12; n++) {
        fmspc[n] = ngx_toupper((u_char) f[n]);
    }

    json_decref(root);

    if (ngx_http_thim_policy_type(r->pool, &text, &type) != NGX_OK) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID, "policy");
    }

    if (EVP_Digest(text.data, text.len, md, &n, EVP_sha384(), NULL) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(id, md, n);

    if (dflt) {
        if (ngx_http_thim_policy_key(r->pool, fmspc, type, &key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_thim_pccs_keep(ctx, &key, &ngx_http_thim_policy_route,
                                    &text, r->connection->log)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    text.data = id;
    text.len = 2 * n;

    return ngx_http_thim_pccs_send(r, ctx, NGX_HTTP_OK, &html, &text, NULL);
}


/*
 * GET ?fmspc=F: the FMSPC's default policies, one per type, joined by
 * ",", as PCCS answers QCNL
 */

ngx_int_t
ngx_http_thim_policy_get(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    u_char      fmspc[12], *p;
    ngx_int_t   rc;
    ngx_str_t   f, key, body[NGX_HTTP_THIM_POLICY_TYPES], out;
    ngx_uint_t  i, n;

    if (ngx_http_thim_pccs_arg(ctx, "fmspc", &f) != NGX_OK
        || f.len != 12 || !ngx_http_thim_is_hex(f.data, 12))
    {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID, "fmspc");
    }

    for (i = 0; i < 12; i++) {
        fmspc[i] = ngx_toupper(f.data[i]);
    }

    out.len = 0;

    for (i = 0, n = 0; i < NGX_HTTP_THIM_POLICY_TYPES; i++) {
        if (ngx_http_thim_policy_key(r->pool, fmspc, i, &key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_thim_cache_body(ctx->zone, &key, r->pool, &body[n]);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            out.len += body[n].len + (n ? 1 : 0);
            n++;
        }
    }

    if (n == 0) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_THIM_PCCS_NO_DATA, NULL);
    }

    out.data = ngx_pnalloc(r->pool, out.len);
    if (out.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0, p = out.data; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, body[i].data, body[i].len);
    }

    return ngx_http_thim_pccs_send(r, ctx, NGX_HTTP_OK, &html, &out, NULL);
}


/*
 * The policy's type from its payload (PCCS's getPolicyTypeByClassId()):
 * the JWT's second part, base64url JSON whose "policy_payload" is JSON
 * with a "policy_array" of {"environment": {"class_id"}}.
 */

static ngx_int_t
ngx_http_thim_policy_type(ngx_pool_t *pool, ngx_str_t *jwt, ngx_uint_t *type)
{
    u_char      *dot, *end;
    json_t      *payload, *inner, *arr, *item;
    size_t       i;
    ngx_int_t    rc;
    ngx_str_t    src, dst;
    ngx_uint_t   k;
    const char  *cls, *pp;

    dot = ngx_strlchr(jwt->data, jwt->data + jwt->len, '.');
    if (dot == NULL) {
        return NGX_DECLINED;
    }

    end = ngx_strlchr(dot + 1, jwt->data + jwt->len, '.');
    if (end == NULL) {
        return NGX_DECLINED;
    }

    src.data = dot + 1;
    src.len = end - src.data;

    dst.data = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len) + 1);
    if (dst.data == NULL || ngx_decode_base64url(&dst, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    payload = json_loadb((char *) dst.data, dst.len, 0, NULL);
    pp = json_string_value(json_object_get(payload, "policy_payload"));
    inner = pp ? json_loads(pp, 0, NULL) : NULL;
    arr = json_object_get(inner, "policy_array");

    rc = NGX_DECLINED;

    json_array_foreach(arr, i, item) {
        cls = json_string_value(json_object_get(json_object_get(item,
                                                    "environment"),
                                                "class_id"));
        if (cls == NULL) {
            break;
        }

        for (k = 0; k < NGX_HTTP_THIM_POLICY_TYPES; k++) {
            if (ngx_strcasecmp((u_char *) cls,
                               (u_char *) ngx_http_thim_policy_classes[k])
                == 0)
            {
                *type = k;
                rc = NGX_OK;
                break;
            }
        }

        if (rc == NGX_OK
            || ngx_strcasecmp((u_char *) cls,
                              (u_char *) NGX_HTTP_THIM_TDQE_CLASS) != 0)
        {
            break;
        }
    }

    if (inner) {
        json_decref(inner);
    }

    if (payload) {
        json_decref(payload);
    }

    return rc;
}


/* "intel-policy:<FMSPC>:<type>" */

static ngx_int_t
ngx_http_thim_policy_key(ngx_pool_t *pool, u_char *fmspc, ngx_uint_t type,
    ngx_str_t *key)
{
    u_char     buf[16];
    ngx_str_t  path;

    path.data = buf;
    path.len = ngx_sprintf(buf, "%*s:%ui", (size_t) 12, fmspc, type) - buf;

    return ngx_http_thim_key(pool, NGX_HTTP_THIM_KEY_POLICY, &path, NULL,
                             key);
}


/* a snapshot's "intel-policy:<FMSPC>:<type>", to be re-checked */

ngx_int_t
ngx_http_thim_policy_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *path,
    char **reason)
{
    ngx_uint_t  *type;

    if (path->len != 14 || path->data[12] != ':'
        || path->data[13] < '0'
        || path->data[13] >= '0' + NGX_HTTP_THIM_POLICY_TYPES
        || !ngx_http_thim_is_hex(path->data, 12))
    {
        *reason = "not the key of an appraisal policy";
        return NGX_DECLINED;
    }

    type = ngx_palloc(ctx->pool, sizeof(ngx_uint_t));
    if (type == NULL) {
        return NGX_ERROR;
    }

    *type = path->data[13] - '0';

    ctx->route = &ngx_http_thim_policy_route;
    ctx->expect = type;

    return ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_POLICY, path, NULL,
                             &ctx->key);
}


static ngx_int_t
ngx_http_thim_policy_check(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    ngx_uint_t   type, *want;

    want = ctx->expect;

    if (ngx_http_thim_policy_type(ctx->pool, body, &type) != NGX_OK
        || want == NULL || type != *want)
    {
        *reason = "not an appraisal policy of its key's type";
        return NGX_DECLINED;
    }

    *next_update = ngx_time() + NGX_HTTP_THIM_PCCS_LIFETIME;

    return NGX_OK;
}
