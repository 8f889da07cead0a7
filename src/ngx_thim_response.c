
/*
 * ngx_thim: writing responses.
 *
 * Every answer carries Request-ID (G7); every collateral 200 carries
 * Cache-Control: max-age from the remaining freshness (G8); no header is
 * ever sent with an empty value (G2: the Azure DCAP client aborts on one).
 * Errors are small JSON bodies with Intel-style Error-Code/Error-Message
 * headers (G4).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/rand.h>

#include "ngx_thim_args.h"
#include "ngx_thim_response.h"
#include "ngx_thim_x509.h"


#define NGX_HTTP_THIM_REQUEST_ID_MAX   64


typedef struct {
    ngx_uint_t                 status;
    char                      *code;
} ngx_http_thim_error_code_t;


static ngx_int_t ngx_http_thim_add_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_thim_add_common(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_send(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_record_t *rec, ngx_str_t *body,
    ngx_str_t *type);
static ngx_int_t ngx_http_thim_form(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_thim_valid_request_id(ngx_str_t *id);
static ngx_int_t ngx_http_thim_new_request_id(u_char *dst);
static uint64_t ngx_http_thim_splitmix64(uint64_t x);


static ngx_str_t  ngx_http_thim_cache_status_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("STALE"),
    ngx_string("UPDATING")
};


static ngx_http_thim_error_code_t  ngx_http_thim_error_codes[] = {
    { NGX_HTTP_BAD_REQUEST, "InvalidRequestSyntax" },
    { NGX_HTTP_FORBIDDEN, "Forbidden" },
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
    ngx_table_elt_t  *h;

    h = ngx_http_thim_request_header(r, "Request-ID");

    if (h && ngx_http_thim_valid_request_id(&h->value) == NGX_OK) {
        *id = h->value;
        return NGX_OK;
    }

    id->data = ngx_pnalloc(r->pool, 32);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_thim_new_request_id(id->data) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "thim: RAND_bytes() failed");
        return NGX_ERROR;
    }

    id->len = 32;

    return NGX_OK;
}


/* a request header by name, case-insensitively (G5); the first one */

ngx_table_elt_t *
ngx_http_thim_request_header(ngx_http_request_t *r, char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * 32 hex digits, unique: a per-process 128-bit seed from RAND_bytes()
 * (once; the DRBG on every request costs a tenth of a cache hit) and a
 * counter, mixed by splitmix64 so that IDs do not look sequential.
 * Request IDs correlate logs; they are not secrets.
 */

static ngx_int_t
ngx_http_thim_new_request_id(u_char *dst)
{
    uint64_t         v[2];
    ngx_uint_t       i, k;
    static uint64_t  seed[2], counter;
    static ngx_pid_t  seeded;
    static u_char    hex[] = "0123456789abcdef";

    if (seeded != ngx_pid) {
        /* a forked worker must not repeat its parent's sequence */
        if (RAND_bytes((u_char *) seed, sizeof(seed)) != 1) {
            return NGX_ERROR;
        }

        seeded = ngx_pid;
    }

    counter++;

    v[0] = ngx_http_thim_splitmix64(seed[0] + counter);
    v[1] = ngx_http_thim_splitmix64(seed[1] ^ counter);

    for (k = 0; k < 2; k++) {
        for (i = 0; i < 16; i++) {
            *dst++ = hex[(v[k] >> (60 - 4 * i)) & 0xf];
        }
    }

    return NGX_OK;
}


static uint64_t
ngx_http_thim_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;

    return x ^ (x >> 31);
}


ngx_int_t
ngx_http_thim_send_record(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx)
{
    ngx_str_t                  name, body, type;
    ngx_http_thim_loc_conf_t  *tlcf;

    body = ctx->record.body;
    type = ctx->record.content_type;

    if (ctx->record.status == NGX_HTTP_OK
        && ctx->form != NGX_HTTP_THIM_FORM_STORED)
    {
        if (ngx_http_thim_form(r, ctx, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        type = ctx->form_type;
    }

    if (ctx->root_chain) {
        tlcf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);
        ngx_str_set(&name, "SGX-PCK-CRL-Issuer-Chain");

        if (ngx_http_thim_add_header(r, &name, &tlcf->intel_root_chain)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_thim_send(r, ctx, &ctx->record, &body, &type);
}


/*
 * {"error":"<reason>","parameter":"<name>"}; reason and parameter are the
 * module's own strings, escaped all the same.
 */

ngx_int_t
ngx_http_thim_send_error(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_uint_t status, char *reason, char *parameter)
{
    ngx_http_thim_record_t  rec;

    if (ngx_http_thim_error_record(r, status, reason, parameter, &rec)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_send(r, ctx, &rec, &rec.body, &rec.content_type);
}


/*
 * An error as a record: what send_error() sends, and what the cache keeps
 * as a negative entry for an origin 404.
 */

ngx_int_t
ngx_http_thim_error_record(ngx_http_request_t *r, ngx_uint_t status,
    char *reason, char *parameter, ngx_http_thim_record_t *rec)
{
    u_char                      *p;
    size_t                       len, rlen, plen;
    ngx_http_thim_error_code_t  *ec;

    rlen = ngx_strlen(reason);
    plen = parameter ? ngx_strlen(parameter) : 0;

    len = sizeof("{\"error\":\"\",\"parameter\":\"\"}\n") - 1
          + rlen + ngx_escape_json(NULL, (u_char *) reason, rlen)
          + plen + ngx_escape_json(NULL, (u_char *) parameter, plen);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(rec, sizeof(ngx_http_thim_record_t));

    rec->body.data = p;

    p = ngx_cpymem(p, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) reason, rlen);

    if (parameter) {
        p = ngx_cpymem(p, "\",\"parameter\":\"",
                       sizeof("\",\"parameter\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, (u_char *) parameter, plen);
    }

    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    rec->body.len = p - rec->body.data;
    rec->status = status;
    ngx_str_set(&rec->content_type, "application/json");

    for (ec = ngx_http_thim_error_codes; ec->code; ec++) {
        if (ec->status == status) {
            break;
        }
    }

    ngx_str_set(&rec->names[0], "Error-Code");
    rec->values[0].data = (u_char *) (ec->code ? ec->code : "Error");
    rec->values[0].len = ngx_strlen(rec->values[0].data);

    ngx_str_set(&rec->names[1], "Error-Message");
    rec->values[1].data = (u_char *) reason;
    rec->values[1].len = rlen;

    rec->nheaders = 2;

    return NGX_OK;
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
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *name;
    h->value = *value;

    return NGX_OK;
}


/*
 * The one way out: status, content type and the record's headers;
 * Cache-Control (max-age from the remaining freshness on a 200, no-store
 * otherwise); Retry-After after a 429; Request-ID and X-Cache-Status;
 * then the body unless this is HEAD.
 */

static ngx_int_t
ngx_http_thim_send(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_record_t *rec, ngx_str_t *body, ngx_str_t *type)
{
    time_t       age;
    u_char      *p;
    ngx_int_t    rc;
    ngx_str_t    name, value;
    ngx_buf_t   *b;
    ngx_uint_t   i;
    ngx_chain_t  out;

    r->headers_out.status = rec->status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    for (i = 0; i < rec->nheaders; i++) {
        if (ngx_http_thim_add_header(r, &rec->names[i], &rec->values[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_pnalloc(r->pool, sizeof("max-age=") + 2 * NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&name, "Cache-Control");

    if (rec->status == NGX_HTTP_OK) {
        age = ctx->expires - ngx_time();

        if (age <= 0) {
            age = NGX_HTTP_THIM_STALE_MAX_AGE;

        } else if (age > NGX_HTTP_THIM_MAX_AGE) {
            age = NGX_HTTP_THIM_MAX_AGE;
        }

        value.data = p;
        value.len = ngx_sprintf(p, "max-age=%T", age) - p;
        p += value.len;

    } else {
        ngx_str_set(&value, "no-store");
    }

    if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->retry_after > 0 && rec->status != NGX_HTTP_OK) {
        ngx_str_set(&name, "Retry-After");
        value.data = p;
        value.len = ngx_sprintf(p, "%T", ctx->retry_after) - p;

        if (ngx_http_thim_add_header(r, &name, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_thim_add_common(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (body->len == 0) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* a CRL stored as DER, in the form this request asked for */

static ngx_int_t
ngx_http_thim_form(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body)
{
    u_char  *p;
    size_t   len;

    if (ctx->form == NGX_HTTP_THIM_FORM_HEX) {
        len = 2 * body->len;

    } else {
        len = ngx_http_thim_pem_size(body->len, "X509 CRL");
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ctx->form == NGX_HTTP_THIM_FORM_HEX) {
        body->len = ngx_hex_dump(p, body->data, body->len) - p;

    } else {
        body->len = ngx_http_thim_pem_encode(p, body->data, body->len,
                                             "X509 CRL")
                    - p;
    }

    body->data = p;

    return NGX_OK;
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


/* "Metadata: true", any case, as the Azure metadata service wants it */

ngx_int_t
ngx_http_thim_metadata_true(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_thim_request_header(r, "Metadata");

    if (h && ngx_http_thim_strcaseeq(h->value.data, h->value.len, "true")) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}
