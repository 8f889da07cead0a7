
/*
 * ngx_thim: writing responses.
 *
 * Every answer carries Request-ID (G7); every collateral 200 carries
 * Cache-Control: max-age from the remaining freshness (G8); no header is
 * ever sent with an empty value (G2: the Azure DCAP client aborts on one).
 * Errors are small JSON bodies with Intel-style Error-Code/Error-Message
 * headers (G4).
 */


#include <openssl/rand.h>

#include "ngx_thim_response.h"


#define NGX_HTTP_THIM_REQUEST_ID_MAX   64


typedef struct {
    ngx_uint_t                 status;
    char                      *code;
} ngx_http_thim_error_code_t;


static ngx_int_t ngx_http_thim_add_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_thim_add_common(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_send(ngx_http_request_t *r, ngx_buf_t *b);
static ngx_int_t ngx_http_thim_valid_request_id(ngx_str_t *id);


static ngx_str_t  ngx_http_thim_cache_status_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("EXPIRED"),
    ngx_string("STALE"),
    ngx_string("UPDATING"),
    ngx_string("BYPASS")
};


static ngx_http_thim_error_code_t  ngx_http_thim_error_codes[] = {
    { NGX_HTTP_BAD_REQUEST, "InvalidRequestSyntax" },
    { NGX_HTTP_NOT_FOUND, "NotFound" },
    { NGX_HTTP_NOT_ALLOWED, "MethodNotAllowed" },
    { 410, "Gone" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "InternalError" },
    { NGX_HTTP_BAD_GATEWAY, "OriginError" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "OriginUnavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "OriginTimeout" },
    { 0, NULL }
};


/* a client's own Request-ID is echoed when sane, else a fresh one is made */

ngx_int_t
ngx_http_thim_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char            raw[16];
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Request-ID") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Request-ID",
                               sizeof("Request-ID") - 1) == 0
            && ngx_http_thim_valid_request_id(&h[i].value) == NGX_OK)
        {
            *id = h[i].value;
            return NGX_OK;
        }
    }

    id->data = ngx_pnalloc(r->pool, 2 * sizeof(raw));
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "thim: RAND_bytes() failed");
        return NGX_ERROR;
    }

    id->len = ngx_hex_dump(id->data, raw, sizeof(raw)) - id->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_thim_send_record(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    time_t                   age;
    u_char                  *p;
    ngx_str_t                name, value;
    ngx_buf_t               *b;
    ngx_uint_t               i;
    ngx_http_thim_record_t  *rec;

    rec = &ctx->record;

    r->headers_out.status = rec->status;
    r->headers_out.content_type = rec->content_type;
    r->headers_out.content_type_len = rec->content_type.len;
    r->headers_out.content_length_n = rec->body.len;

    for (i = 0; i < rec->nheaders; i++) {
        if (ngx_http_thim_add_header(r, &rec->names[i], &rec->values[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    age = ctx->expires - ngx_time();

    if (age <= 0) {
        age = NGX_HTTP_THIM_STALE_MAX_AGE;

    } else if (age > NGX_HTTP_THIM_MAX_AGE) {
        age = NGX_HTTP_THIM_MAX_AGE;
    }

    p = ngx_pnalloc(r->pool, sizeof("max-age=") + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&name, "Cache-Control");
    value.data = p;
    value.len = ngx_sprintf(p, "max-age=%T", age) - p;

    if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK
        || ngx_http_thim_add_common(r, ctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = rec->body.data;
    b->last = rec->body.data + rec->body.len;
    b->memory = 1;

    return ngx_http_thim_send(r, b);
}


/*
 * {"error":"<reason>","parameter":"<name>"}; reason and parameter are the
 * module's own strings, escaped all the same.
 */

ngx_int_t
ngx_http_thim_send_error(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, char *reason, char *parameter)
{
    size_t                       len, rlen, plen;
    ngx_str_t                    name, value;
    ngx_buf_t                   *b;
    ngx_http_thim_error_code_t  *ec;

    rlen = ngx_strlen(reason);
    plen = parameter ? ngx_strlen(parameter) : 0;

    len = sizeof("{\"error\":\"\",\"parameter\":\"\"}\n") - 1
          + rlen + ngx_escape_json(NULL, (u_char *) reason, rlen)
          + plen + ngx_escape_json(NULL, (u_char *) parameter, plen);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    b->last = (u_char *) ngx_escape_json(b->last, (u_char *) reason, rlen);

    if (parameter) {
        b->last = ngx_cpymem(b->last, "\",\"parameter\":\"",
                             sizeof("\",\"parameter\":\"") - 1);
        b->last = (u_char *) ngx_escape_json(b->last, (u_char *) parameter,
                                             plen);
    }

    b->last = ngx_cpymem(b->last, "\"}\n", sizeof("\"}\n") - 1);

    r->headers_out.status = status;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    for (ec = ngx_http_thim_error_codes; ec->code; ec++) {
        if (ec->status == status) {
            break;
        }
    }

    ngx_str_set(&name, "Error-Code");
    value.data = (u_char *) (ec->code ? ec->code : "Error");
    value.len = ngx_strlen(value.data);

    if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&name, "Error-Message");
    value.data = (u_char *) reason;
    value.len = rlen;

    if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->retry_after > 0) {
        value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        value.len = ngx_sprintf(value.data, "%T", ctx->retry_after)
                    - value.data;
        ngx_str_set(&name, "Retry-After");

        if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&name, "Cache-Control");
    ngx_str_set(&value, "no-store");

    if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK
        || ngx_http_thim_add_common(r, ctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_send(r, b);
}


/* what an origin failure means to a client, by the status we answer */

char *
ngx_http_thim_status_reason(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_NOT_FOUND:
        return "the origin has no such collateral";

    case 410:
        return "the origin no longer serves this collateral";

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "the origin is rate-limiting requests and nothing is cached";

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "the origin did not answer in time and nothing is cached";

    default:
        return "the origin fetch failed and nothing is cached";
    }
}


ngx_str_t *
ngx_http_thim_cache_status_name(ngx_uint_t cache_status)
{
    return &ngx_http_thim_cache_status_names[cache_status];
}


static ngx_int_t
ngx_http_thim_add_common(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    ngx_str_t  name;

    ngx_str_set(&name, "Request-ID");

    if (ngx_http_thim_add_header(r, &name, &ctx->request_id) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->cache_status == NGX_HTTP_THIM_CACHE_NONE) {
        return NGX_OK;
    }

    ngx_str_set(&name, "X-Cache-Status");

    return ngx_http_thim_add_header(r, &name,
                         ngx_http_thim_cache_status_name(ctx->cache_status));
}


/* G2: a header with an empty value is never sent */

static ngx_int_t
ngx_http_thim_add_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    if (value->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;

    return NGX_OK;
}


/* headers are set: send them, then the body in b unless this is HEAD */

static ngx_int_t
ngx_http_thim_send(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (b->last == b->pos) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_thim_valid_request_id(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len == 0 || id->len > NGX_HTTP_THIM_REQUEST_ID_MAX) {
        return NGX_DECLINED;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z') || c == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}
