
/*
 * ngx_thim: PCCS's own routes, as Intel's PCCS has them, so that Intel's
 * PCK ID retrieval tool and PCCS admin tool work against the module:
 *
 *   POST /sgx/certification/v3|v4/platforms        user-token
 *       a platform's registration (ngx_thim_pccs_reg.c)
 *   GET  /sgx/certification/v3|v4/platforms?source= admin-token
 *       registered platforms, for the admin tool's offline fetch
 *   PUT  /sgx/certification/v3|v4/platformcollateral admin-token
 *       the admin tool's upload (ngx_thim_pccs_upload.c)
 *   GET|POST /sgx/certification/v3|v4/refresh       admin-token
 *       collateral made due for the refresh sweep (ngx_thim_pccs_refresh.c)
 *   PUT|GET  /sgx/certification/v3|v4/appraisalpolicy
 *       (ngx_thim_policy.c)
 *
 * A token is checked as PCCS checks it: the lower-case hex SHA-512 of the
 * header's value against the configured hash (PCCS's UserTokenHash,
 * AdminTokenHash), compared in constant time; no hash configured, no
 * access.  The admin routes are meant to be restricted further with
 * nginx's own allow/deny or auth_request in front of them.  Answers are
 * PCCS's, byte for byte; a request PCCS would refuse with its plain
 * "Invalid request parameters." also names the field in a
 * Thim-Error-Parameter header.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_thim_args.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_pccs.h"


#define NGX_HTTP_THIM_SHA512_HEX       128

#define NGX_HTTP_THIM_PCCS_REGISTER    0
#define NGX_HTTP_THIM_PCCS_PLATFORMS   1
#define NGX_HTTP_THIM_PCCS_COLLATERAL  2
#define NGX_HTTP_THIM_PCCS_REFRESH     3
#define NGX_HTTP_THIM_PCCS_POLICY      4


typedef struct {
    ngx_str_t                  name;           /* after /vN/ */
    ngx_uint_t                 methods;        /* NGX_HTTP_* */
    ngx_uint_t                 body_methods;   /* those with a body */
    ngx_uint_t                 user;           /* user-token for these
                                                  (appraisalpolicy: GET is
                                                  QCNL's, no token) */
} ngx_http_thim_pccs_route_t;


static ngx_int_t ngx_http_thim_pccs_route(ngx_http_request_t *r,
    ngx_uint_t *route);
static ngx_int_t ngx_http_thim_pccs_token(ngx_http_request_t *r,
    ngx_http_thim_loc_conf_t *tlcf, ngx_uint_t who);
static void ngx_http_thim_pccs_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_thim_pccs_dispatch(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_uint_t route, ngx_str_t *body);


/* indexed by NGX_HTTP_THIM_PCCS_* */
static ngx_http_thim_pccs_route_t  ngx_http_thim_pccs_routes[] = {
    { ngx_string("platforms"), NGX_HTTP_POST, NGX_HTTP_POST, NGX_HTTP_POST },
    { ngx_string("platforms"), NGX_HTTP_GET, 0, 0 },
    { ngx_string("platformcollateral"), NGX_HTTP_PUT, NGX_HTTP_PUT, 0 },
    { ngx_string("refresh"), NGX_HTTP_GET|NGX_HTTP_POST, 0, 0 },
    { ngx_string("appraisalpolicy"), NGX_HTTP_GET|NGX_HTTP_PUT,
      NGX_HTTP_PUT, 0 },
    { ngx_null_string, 0, 0, 0 }
};


/* NGX_DECLINED: not one of PCCS's own routes */

ngx_int_t
ngx_http_thim_pccs_handler(ngx_http_request_t *r, ngx_str_t *query)
{
    ngx_int_t                    rc;
    ngx_str_t                   *q;
    ngx_uint_t                   route;
    ngx_http_thim_ctx_t         *ctx;
    ngx_http_thim_loc_conf_t    *tlcf;
    ngx_http_thim_pccs_route_t  *pr;

    if (ngx_http_thim_pccs_route(r, &route) != NGX_OK) {
        return NGX_DECLINED;
    }

    pr = &ngx_http_thim_pccs_routes[route];
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);

    ctx = ngx_http_thim_ctx_create(r);
    q = ngx_palloc(r->pool, sizeof(ngx_str_t));

    if (ctx == NULL || q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the query as it came (r->args lost what may name a machine) */
    *q = *query;
    ctx->data = q;

    rc = (route == NGX_HTTP_THIM_PCCS_POLICY && r->method == NGX_HTTP_GET)
         ? NGX_OK
         : (r->method & pr->methods)
         ? ngx_http_thim_pccs_token(r, tlcf,
                                    (r->method & pr->user)
                                    ? NGX_HTTP_THIM_PCCS_USER
                                    : NGX_HTTP_THIM_PCCS_ADMIN)
         : NGX_HTTP_NOT_ALLOWED;

    if (rc != NGX_OK || !(r->method & pr->body_methods)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_HTTP_NOT_ALLOWED) {
            return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                            "method not allowed here", NULL);
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                           NGX_HTTP_THIM_PCCS_UNAUTH, NULL);
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_thim_pccs_dispatch(r, ctx, route, NULL);
    }

    /* the whole body, in memory or in one file: it is parsed at once */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_thim_pccs_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* a parameter of the request's query, still percent-encoded */

ngx_int_t
ngx_http_thim_pccs_arg(ngx_http_thim_ctx_t *ctx, char *name,
    ngx_str_t *value)
{
    ngx_str_t             *q;
    ngx_http_thim_arg_t   *a;
    ngx_http_thim_args_t   args;

    q = ctx->data;

    if (q == NULL || q->len == 0
        || ngx_http_thim_args_parse(q->data, q->len, &args) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    a = ngx_http_thim_args_find(&args, (u_char *) name, ngx_strlen(name));
    if (a == NULL) {
        return NGX_DECLINED;
    }

    *value = a->value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_pccs_route(ngx_http_request_t *r, ngx_uint_t *route)
{
    u_char                      *p;
    size_t                       len;
    ngx_uint_t                   i;
    ngx_http_thim_pccs_route_t  *pr;

    static u_char  prefix[] = "/sgx/certification/v";

    len = sizeof(prefix) - 1;

    if (r->uri.len < len + 3
        || ngx_strncmp(r->uri.data, prefix, len) != 0
        || (r->uri.data[len] != '3' && r->uri.data[len] != '4')
        || r->uri.data[len + 1] != '/')
    {
        return NGX_DECLINED;
    }

    p = r->uri.data + len + 2;
    len = r->uri.len - len - 2;

    for (i = 0; ngx_http_thim_pccs_routes[i].name.len; i++) {
        pr = &ngx_http_thim_pccs_routes[i];

        if (len == pr->name.len && ngx_strncmp(p, pr->name.data, len) == 0
            && (r->method & pr->methods))
        {
            *route = i;
            return NGX_OK;
        }
    }

    /* a known name asked with a method it does not take */
    for (i = 0; ngx_http_thim_pccs_routes[i].name.len; i++) {
        pr = &ngx_http_thim_pccs_routes[i];

        if (len == pr->name.len && ngx_strncmp(p, pr->name.data, len) == 0) {
            *route = i;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * NGX_OK: the header's SHA-512 is the configured hash; NGX_DECLINED: no
 * header, another token, or no hash configured (as PCCS, which compares
 * with its empty setting and fails).
 */

static ngx_int_t
ngx_http_thim_pccs_token(ngx_http_request_t *r,
    ngx_http_thim_loc_conf_t *tlcf, ngx_uint_t who)
{
    u_char            md[EVP_MAX_MD_SIZE], hex[NGX_HTTP_THIM_SHA512_HEX];
    unsigned int      n;
    ngx_str_t        *want;
    ngx_table_elt_t  *h;

    want = (who == NGX_HTTP_THIM_PCCS_USER) ? &tlcf->pccs_user_hash
                                            : &tlcf->pccs_admin_hash;

    h = ngx_http_thim_request_header(r, (who == NGX_HTTP_THIM_PCCS_USER)
                                        ? "user-token" : "admin-token");

    if (want->len != NGX_HTTP_THIM_SHA512_HEX || h == NULL
        || h->value.len == 0)
    {
        return NGX_DECLINED;
    }

    if (EVP_Digest(h->value.data, h->value.len, md, &n, EVP_sha512(), NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, md, n);

    return CRYPTO_memcmp(hex, want->data, NGX_HTTP_THIM_SHA512_HEX) == 0
           ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_thim_pccs_body(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             body;
    ngx_uint_t            route;
    ngx_http_thim_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);

    if (ctx == NULL
        || ngx_http_thim_pccs_route(r, &route) != NGX_OK
        || ngx_http_thim_pccs_read_body(r, &body) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_thim_pccs_dispatch(r, ctx, route, &body);

    ngx_http_finalize_request(r, rc);
}


/*
 * the request body in one piece, from memory or its temporary file (read
 * with request_body_in_single_buf), NUL-terminated
 */

ngx_int_t
ngx_http_thim_pccs_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;
    *p = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_pccs_dispatch(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t route, ngx_str_t *body)
{
    switch (route) {

    case NGX_HTTP_THIM_PCCS_REGISTER:
        return ngx_http_thim_pccs_register(r, ctx, body);

    case NGX_HTTP_THIM_PCCS_PLATFORMS:
        return ngx_http_thim_pccs_platforms(r, ctx);

    case NGX_HTTP_THIM_PCCS_COLLATERAL:
        return ngx_http_thim_pccs_upload(r, ctx, body);

    case NGX_HTTP_THIM_PCCS_REFRESH:
        return ngx_http_thim_pccs_refresh(r, ctx);

    case NGX_HTTP_THIM_PCCS_POLICY:
        return (r->method == NGX_HTTP_PUT)
               ? ngx_http_thim_policy_put(r, ctx, body)
               : ngx_http_thim_policy_get(r, ctx);

    default:
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "unknown PCCS route", NULL);
    }
}


/*
 * An answer with a body of its own (PCCS's text, or JSON), sent as a
 * record is: Request-ID, Cache-Control; and Thim-Error-Parameter naming
 * the field PCCS's plain answer does not name.
 */

ngx_int_t
ngx_http_thim_pccs_send(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body, char *parameter)
{
    ngx_http_thim_record_t  *rec;

    rec = &ctx->record;

    ngx_memzero(rec, sizeof(ngx_http_thim_record_t));

    rec->status = status;
    rec->content_type = *type;
    rec->body = *body;

    if (parameter) {
        ngx_str_set(&rec->names[rec->nheaders], "Thim-Error-Parameter");
        rec->values[rec->nheaders].data = (u_char *) parameter;
        rec->values[rec->nheaders].len = ngx_strlen(parameter);
        rec->nheaders++;
    }

    ctx->form = NGX_HTTP_THIM_FORM_STORED;
    ctx->expires = ngx_time();

    return ngx_http_thim_send_record(r, ctx);
}


/* PCCS's plain answers, with the content type its Express sends */

ngx_int_t
ngx_http_thim_pccs_text(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, char *text, char *parameter)
{
    ngx_str_t  body;

    static ngx_str_t  type = ngx_string("text/html; charset=utf-8");

    body.data = (u_char *) text;
    body.len = ngx_strlen(text);

    return ngx_http_thim_pccs_send(r, ctx, status, &type, &body, parameter);
}


/* thim_pccs_user_token_hash, thim_pccs_admin_token_hash: SHA-512 hex */

char *
ngx_http_thim_pccs_token_hash(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) ((u_char *) conf + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len != NGX_HTTP_THIM_SHA512_HEX
        || !ngx_http_thim_is_hex(value[1].data, value[1].len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be the 128 hexadecimal digits of a "
                           "token's SHA-512, as PCCS's UserTokenHash and "
                           "AdminTokenHash are", &cmd->name);
        return NGX_CONF_ERROR;
    }

    field->len = value[1].len;
    field->data = ngx_pnalloc(cf->pool, field->len);
    if (field->data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_thim_strlow(field->data, value[1].data, field->len);

    return NGX_CONF_OK;
}
