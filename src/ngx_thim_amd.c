
/*
 * ngx_thim: AMD KDS-compatible routes (PROTOCOLS.md 1c).
 *
 *   /vcek/v1/{product}/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=[&fmcSPL=]
 *   /vcek/v1/{product}/cert_chain    /vlek/v1/{product}/cert_chain
 *   /vcek/v1/{product}/crl           /vlek/v1/{product}/crl
 *
 * KDS clients disagree on spelling (zero-padded SPLs or not, any order,
 * hwid in either case), so every request is brought to one canonical KDS
 * URL, which is also the cache key: KDS rate-limits hard, and the same
 * VCEK asked for three ways must cost one KDS request.
 */


#include "ngx_thim_args.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_response.h"
#include "ngx_thim_tcbm.h"

#include "ngx_thim_x509.h"
#include "ngx_thim_verify.h"
#include "ngx_thim_amd.h"


typedef struct {
    char                      *name;
    ngx_uint_t                 max;
    size_t                     offset;          /* in ngx_http_thim_spl_t */
} ngx_http_thim_amd_spl_t;


static ngx_int_t ngx_http_thim_amd_route(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *path, ngx_str_t *query, char **reason, char **parameter);
static ngx_int_t ngx_http_thim_amd_vcek(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *query, ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    char **reason, char **parameter);
static ngx_int_t ngx_http_thim_amd_set_path(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *family, ngx_http_thim_amd_product_t *product, ngx_str_t *rest,
    ngx_http_thim_route_t *route);
static ngx_int_t ngx_http_thim_amd_spls(ngx_str_t *query,
    ngx_http_thim_amd_product_t *product, ngx_http_thim_spl_t *spl,
    char **reason, char **parameter);
static ngx_int_t ngx_http_thim_amd_check_vcek(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_int_t ngx_http_thim_amd_check_chain(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_int_t ngx_http_thim_amd_check_crl(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_http_thim_amd_trust_t *ngx_http_thim_amd_trusted(
    ngx_http_thim_ctx_t *ctx, char **reason);
static ngx_int_t ngx_http_thim_amd_expect(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    ngx_http_thim_spl_t *spl);


/* Bergamo and Siena are Genoa-family parts: KDS knows them as Genoa */
static ngx_http_thim_amd_product_t  ngx_http_thim_amd_products[] = {
    { ngx_string("Milan"), ngx_string("Milan"), 0, 0 },
    { ngx_string("Genoa"), ngx_string("Genoa"), 0, 1 },
    { ngx_string("Turin"), ngx_string("Turin"), 1, 2 },
    { ngx_string("Bergamo"), ngx_string("Genoa"), 0, 1 },
    { ngx_string("Siena"), ngx_string("Genoa"), 0, 1 },
    { ngx_null_string, ngx_null_string, 0, 0 }
};


/* what a KDS answer must be: its product's, and a VCEK for its chip/TCB */
typedef struct {
    ngx_http_thim_amd_product_t  *product;
    ngx_uint_t                 vlek;            /* /vlek/: the ASVK's */
    u_char                     hwid[64];        /* raw bytes */
    size_t                     hwid_len;
    ngx_http_thim_spl_t        spl;
} ngx_http_thim_amd_expect_t;


/* ranges as go-sev-guest composes them (PROTOCOLS.md 1c) */
static ngx_http_thim_amd_spl_t  ngx_http_thim_amd_spls_list[] = {
    { "fmcSPL", 255, offsetof(ngx_http_thim_spl_t, fmc) },
    { "blSPL", 127, offsetof(ngx_http_thim_spl_t, bl) },
    { "teeSPL", 127, offsetof(ngx_http_thim_spl_t, tee) },
    { "snpSPL", 127, offsetof(ngx_http_thim_spl_t, snp) },
    { "ucodeSPL", 255, offsetof(ngx_http_thim_spl_t, ucode) },
    { NULL, 0, 0 }
};


/*
 * A VCEK and a cert_chain never change for their URL: they are kept until
 * their certificates expire (years), not refreshed daily.
 */

static ngx_http_thim_route_t  ngx_http_thim_amd_vcek_route = {
    ngx_string("vcek"), NGX_HTTP_THIM_ORIGIN_AMD,
    ngx_string("application/pkix-cert"), ngx_null_string,
    { ngx_null_string, ngx_null_string },
    ngx_http_thim_amd_check_vcek, 1, ngx_http_thim_route_plain
};

static ngx_http_thim_route_t  ngx_http_thim_amd_chain_route = {
    ngx_string("kds cert_chain"), NGX_HTTP_THIM_ORIGIN_AMD,
    ngx_string("application/x-pem-file"), ngx_null_string,
    { ngx_null_string, ngx_null_string },
    ngx_http_thim_amd_check_chain, 1, ngx_http_thim_route_plain
};

static ngx_http_thim_route_t  ngx_http_thim_amd_crl_route = {
    ngx_string("kds crl"), NGX_HTTP_THIM_ORIGIN_AMD,
    ngx_string("application/pkix-crl"), ngx_null_string,
    { ngx_null_string, ngx_null_string },
    ngx_http_thim_amd_check_crl, 0, ngx_http_thim_route_plain
};


ngx_int_t
ngx_http_thim_amd_handler(ngx_http_request_t *r)
{
    char                 *reason, *parameter;
    ngx_int_t             rc;
    ngx_http_thim_ctx_t  *ctx;

    rc = ngx_http_thim_begin(r, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    reason = NULL;
    parameter = NULL;

    rc = ngx_http_thim_amd_route(ctx, &r->uri, &r->args, &reason,
                                 &parameter);

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_send_error(r, ctx,
                                        parameter ? NGX_HTTP_BAD_REQUEST
                                                  : NGX_HTTP_NOT_FOUND,
                                        reason, parameter);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * "/vcek/v1/Milan/<hwid>", "/vlek/v1/Genoa/crl", ...: NGX_DECLINED with
 * a reason, and a parameter for a 400 (none: 404).
 */

static ngx_int_t
ngx_http_thim_amd_route(ngx_http_thim_ctx_t *ctx, ngx_str_t *path,
    ngx_str_t *query, char **reason, char **parameter)
{
    u_char                       *p, *last, *slash;
    ngx_str_t                     family, name, rest;
    ngx_http_thim_route_t        *route;
    ngx_http_thim_amd_product_t  *product;

    *reason = "unknown collateral route";

    p = path->data;
    last = p + path->len;

    if (path->len < sizeof("/vcek/v1/") - 1
        || (ngx_strncmp(p, "/vcek/v1/", sizeof("/vcek/v1/") - 1) != 0
            && ngx_strncmp(p, "/vlek/v1/", sizeof("/vlek/v1/") - 1) != 0))
    {
        return NGX_DECLINED;
    }

    family.data = p;
    family.len = sizeof("/vcek/v1/") - 1;

    p += family.len;

    slash = ngx_strlchr(p, last, '/');
    if (slash == NULL) {
        return NGX_DECLINED;
    }

    name.data = p;
    name.len = slash - p;

    rest.data = slash + 1;
    rest.len = last - rest.data;

    product = ngx_http_thim_amd_product(&name);

    if (product == NULL) {
        *reason = "unknown product";
        return NGX_DECLINED;
    }

    if (rest.len == sizeof("cert_chain") - 1
        && ngx_strncmp(rest.data, "cert_chain", rest.len) == 0)
    {
        route = &ngx_http_thim_amd_chain_route;

    } else if (rest.len == sizeof("crl") - 1
               && ngx_strncmp(rest.data, "crl", rest.len) == 0)
    {
        route = &ngx_http_thim_amd_crl_route;

    } else if (family.data[1] == 'v' && family.data[2] == 'c'
               && rest.len && ngx_strlchr(rest.data, last, '/') == NULL)
    {
        return ngx_http_thim_amd_vcek(ctx, query, product, &rest, reason,
                                      parameter);

    } else {
        /* VLEK certificates need CSP credentials at KDS: not served */
        return NGX_DECLINED;
    }

    return ngx_http_thim_amd_set_path(ctx, &family, product, &rest, route);
}


ngx_http_thim_amd_product_t *
ngx_http_thim_amd_product(ngx_str_t *name)
{
    ngx_http_thim_amd_product_t  *product;

    for (product = ngx_http_thim_amd_products; product->name.len; product++) {
        if (name->len == product->name.len
            && ngx_strncmp(name->data, product->name.data, name->len) == 0)
        {
            return product;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_thim_amd_set_chain(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product)
{
    ngx_str_t  family, rest;

    ngx_str_set(&family, "/vcek/v1/");
    ngx_str_set(&rest, "cert_chain");

    return ngx_http_thim_amd_set_path(ctx, &family, product, &rest,
                                      &ngx_http_thim_amd_chain_route);
}


/* "/vcek/v1/" + KDS's product name + "/" + rest, without a query */

static ngx_int_t
ngx_http_thim_amd_set_path(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *family, ngx_http_thim_amd_product_t *product, ngx_str_t *rest,
    ngx_http_thim_route_t *route)
{
    u_char     *p;
    ngx_str_t   path, query;

    path.len = family->len + product->kds.len + 1 + rest->len;
    path.data = ngx_pnalloc(ctx->pool, path.len);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path.data, family->data, family->len);
    p = ngx_cpymem(p, product->kds.data, product->kds.len);
    *p++ = '/';
    ngx_memcpy(p, rest->data, rest->len);

    ngx_str_null(&query);

    if (ngx_http_thim_amd_expect(ctx, product, NULL, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    ((ngx_http_thim_amd_expect_t *) ctx->expect)->vlek =
                                                   (family->data[2] == 'l');

    /* key "amd:" + KDS path; subrequest thim_amd_origin + path */
    return ngx_http_thim_set_fetch(ctx, route, &path, &query);
}


static ngx_int_t
ngx_http_thim_amd_vcek(ngx_http_thim_ctx_t *ctx, ngx_str_t *query,
    ngx_http_thim_amd_product_t *product, ngx_str_t *hwid, char **reason,
    char **parameter)
{
    ngx_int_t            rc;
    ngx_str_t            id;
    ngx_http_thim_spl_t  spl;

    id = *hwid;

    if (ngx_http_thim_amd_hwid(product, &id, reason) != NGX_OK) {
        *parameter = "hwid";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_amd_spls(query, product, &spl, reason, parameter);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_thim_amd_set_vcek(ctx, product, &id, &spl);
}


/* the hwid's checks and Turin's shortening are the pure ones (tcbm.c) */

ngx_int_t
ngx_http_thim_amd_hwid(ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    char **reason)
{
    return ngx_http_thim_hwid_check(hwid->data, &hwid->len, product->turin,
                                    reason);
}


/* the canonical KDS URL of a (validated) VCEK */

ngx_int_t
ngx_http_thim_amd_set_vcek(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    ngx_http_thim_spl_t *spl)
{
    u_char     *p;
    ngx_str_t   path, query;

    path.len = sizeof("/vcek/v1/") - 1 + product->kds.len + 1 + hwid->len;
    path.data = ngx_pnalloc(ctx->pool, path.len);

    query.data = ngx_pnalloc(ctx->pool, NGX_HTTP_THIM_SPL_QUERY_LEN);

    if (path.data == NULL || query.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path.data, "/vcek/v1/", sizeof("/vcek/v1/") - 1);
    p = ngx_cpymem(p, product->kds.data, product->kds.len);
    *p++ = '/';
    ngx_http_thim_strlow(p, hwid->data, hwid->len);

    p = ngx_http_thim_spl_query(query.data, spl, product->turin);

    query.len = p - query.data;

    if (ngx_http_thim_amd_expect(ctx, product, hwid, spl) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_thim_set_fetch(ctx, &ngx_http_thim_amd_vcek_route, &path,
                                   &query);
}


/* kept in the request pool: the check runs when KDS answers */

static ngx_int_t
ngx_http_thim_amd_expect(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_amd_product_t *product, ngx_str_t *hwid,
    ngx_http_thim_spl_t *spl)
{
    ngx_str_t                    src, dst;
    ngx_http_thim_amd_expect_t  *e;

    e = ngx_pcalloc(ctx->pool, sizeof(ngx_http_thim_amd_expect_t));
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->product = product;

    if (hwid) {
        /* validated hex of 16 or 128 digits */
        src = *hwid;
        dst.data = e->hwid;
        e->hwid_len = hwid->len / 2;

        if (ngx_http_thim_hex_decode(dst.data, src.data, src.len) != NGX_OK) {
            return NGX_ERROR;
        }

        e->spl = *spl;
    }

    ctx->expect = e;

    return NGX_OK;
}


/*
 * SPL values: decimal, zero-padded or not ("teeSPL=00" is one client's
 * spelling of 0), at most 3 digits, within range; an omitted one is 0, as
 * at KDS.  fmcSPL exists on Turin only.
 */

static ngx_int_t
ngx_http_thim_amd_spls(ngx_str_t *query,
    ngx_http_thim_amd_product_t *product, ngx_http_thim_spl_t *spl,
    char **reason, char **parameter)
{
    uint64_t                  v;
    ngx_http_thim_arg_t      *arg;
    ngx_http_thim_args_t      args;
    ngx_http_thim_amd_spl_t  *s;

    ngx_memzero(spl, sizeof(ngx_http_thim_spl_t));

    if (ngx_http_thim_args_parse(query->data, query->len, &args) != NGX_OK) {
        *reason = "query string too long or too many parameters";
        *parameter = "";
        return NGX_DECLINED;
    }

    for (s = ngx_http_thim_amd_spls_list; s->name; s++) {

        if (s->offset == offsetof(ngx_http_thim_spl_t, fmc)
            && !product->turin)
        {
            continue;
        }

        arg = ngx_http_thim_args_find(&args, (u_char *) s->name,
                                      ngx_strlen(s->name));
        if (arg == NULL) {
            continue;
        }

        if (ngx_http_thim_parse_decimal(arg->value.data, arg->value.len, 3,
                                        &v)
            != NGX_OK
            || v > s->max)
        {
            *reason = "an SPL is a decimal number within its range";
            *parameter = s->name;
            return NGX_DECLINED;
        }

        *(ngx_uint_t *) ((u_char *) spl + s->offset) = (ngx_uint_t) v;
    }

    return NGX_OK;
}


/* a VCEK signed by its product's ASK, for the chip and TCB asked for */

static ngx_int_t
ngx_http_thim_amd_check_vcek(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    ngx_http_thim_amd_trust_t   *trust;
    ngx_http_thim_amd_expect_t  *e;

    if (ngx_http_thim_cert_not_after(body->data, body->len, next_update)
        != NGX_OK)
    {
        *reason = "body is not a DER certificate";
        return NGX_DECLINED;
    }

    trust = ngx_http_thim_amd_trusted(ctx, reason);
    if (trust == NULL) {
        return NGX_DECLINED;
    }

    e = ctx->expect;

    return ngx_http_thim_verify_vcek(body->data, body->len, trust->ask,
                                     e->hwid, e->hwid_len, &e->spl,
                                     e->product->turin, reason);
}


/*
 * exactly two PEM certificates: the pinned ARK, and the product's ASK
 * (/vcek/) or ASVK (/vlek/) it signed
 */

static ngx_int_t
ngx_http_thim_amd_check_chain(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    ngx_http_thim_amd_trust_t   *trust;
    ngx_http_thim_amd_expect_t  *e;

    if (ngx_http_thim_pem_certs_not_after(body->data, body->len, 2,
                                          next_update)
        != NGX_OK)
    {
        *reason = "body is not two PEM certificates";
        return NGX_DECLINED;
    }

    trust = ngx_http_thim_amd_trusted(ctx, reason);
    if (trust == NULL) {
        return NGX_DECLINED;
    }

    e = ctx->expect;

    return ngx_http_thim_verify_amd_chain(body->data, body->len, trust->ask,
                                          trust->ark,
                                          (char *) e->product->kds.data,
                                          e->vlek, reason);
}


static ngx_int_t
ngx_http_thim_amd_check_crl(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    ngx_http_thim_amd_trust_t  *trust;

    if (ngx_http_thim_check_crl(ctx, body, reason, next_update) != NGX_OK) {
        return NGX_DECLINED;
    }

    trust = ngx_http_thim_amd_trusted(ctx, reason);
    if (trust == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_thim_verify_amd_crl(body->data, body->len, trust->ark,
                                        reason);
}


static ngx_http_thim_amd_trust_t *
ngx_http_thim_amd_trusted(ngx_http_thim_ctx_t *ctx, char **reason)
{
    ngx_http_thim_loc_conf_t    *tlcf;
    ngx_http_thim_amd_trust_t   *trust;
    ngx_http_thim_amd_expect_t  *e;

    tlcf = ctx->conf;
    e = ctx->expect;

    trust = &tlcf->amd_trust[e->product->trust];

    if (trust->ark == NULL) {
        *reason = "no thim_amd_trust for this product";
        return NULL;
    }

    return trust;
}


/*
 * thim_amd_trust Milan|Genoa|Turin file; the file is the product's KDS
 * cert_chain (ASK then ARK).  The ARK is the pin: it must be self-signed,
 * and the ASK must be signed by it, here, once.
 */

char *
ngx_http_thim_amd_trust(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    X509                         *ask, *ark;
    ngx_int_t                     rc;
    ngx_str_t                    *value, file;
    ngx_pool_cleanup_t           *cln;
    ngx_http_thim_amd_product_t  *product;

    value = cf->args->elts;

    product = ngx_http_thim_amd_product(&value[1]);

    if (product == NULL || product->name.len != product->kds.len
        || ngx_strncmp(product->name.data, product->kds.data,
                       product->kds.len) != 0)
    {
        return "takes Milan, Genoa or Turin";
    }

    if (tlcf->amd_trust[product->trust].ark) {
        return "is duplicate";
    }

    file = value[2];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_http_thim_amd_trust_read((char *) file.data,
                                      (char *) product->kds.data, &ask, &ark);

    if (rc == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot read \"%s\"",
                           file.data);
        return NGX_CONF_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is not %V's ASK signed by its "
                           "self-signed ARK (KDS's vcek cert_chain)",
                           file.data, &product->kds);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        X509_free(ask);
        X509_free(ark);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_thim_x509_free;
    cln->data = ask;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        X509_free(ark);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_thim_x509_free;
    cln->data = ark;

    tlcf->amd_trust[product->trust].ask = ask;
    tlcf->amd_trust[product->trust].ark = ark;

    return NGX_CONF_OK;
}


/*
 * The way back from a cache key to its request (see
 * ngx_http_thim_intel_rekey()): the KDS path and query of the key, read
 * by the same route and SPL parsers as a client's request.
 */

ngx_int_t
ngx_http_thim_amd_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *path,
    ngx_str_t *query, char **reason)
{
    char  *parameter;

    parameter = NULL;

    return ngx_http_thim_amd_route(ctx, path, query, reason, &parameter);
}
