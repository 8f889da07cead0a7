
/*
 * ngx_thim: Intel PCS v3/v4, PCCS and Azure ACC-cache routes.
 *
 * A request path names what the client wants; a collateral descriptor
 * names what is stored and fetched.  Several paths share one collateral
 * (the PCK CRL is asked for as pckcrl?ca=, as Azure's pckcrl?uri= and as
 * PCCS's crl?uri=, in DER, PEM or hex), so each kind of collateral is
 * fetched and cached once, in the origin's form, and shaped per request.
 *
 * Each route validates its query strictly and derives one canonical form
 * of it: the cache key and the origin query are that same string, so
 * equivalent requests share an entry and the origin only ever sees
 * validated, canonical input built here.
 */


#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_crl_uri.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_tier.h"
#include "ngx_thim_response.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_verify.h"
#include "ngx_thim_intel_json.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_pckcert.h"
#include "ngx_thim_pccs.h"


/* PROTOCOLS.md 1a: at most 10 digits */
#define NGX_HTTP_THIM_EVAL_NUMBER_DIGITS  10

/* the longest raw (percent-encoded) short value worth decoding */
#define NGX_HTTP_THIM_SHORT_ARG_MAX       32

/* Azure's customParameter: base64 of "key=value;key=value" */
#define NGX_HTTP_THIM_CUSTOM_PARAM_MAX    512

#define NGX_HTTP_THIM_FMSPC_LEN           12

/* who signs each PCK CRL */
#define NGX_HTTP_THIM_PROCESSOR_CA  "Intel SGX PCK Processor CA"
#define NGX_HTTP_THIM_PLATFORM_CA   "Intel SGX PCK Platform CA"


/* how a path reads its query */
typedef enum {
    NGX_HTTP_THIM_INTEL_TCB = 0,
    NGX_HTTP_THIM_INTEL_IDENTITY,
    NGX_HTTP_THIM_INTEL_EVAL_NUMBERS,
    NGX_HTTP_THIM_INTEL_PCKCRL,
    NGX_HTTP_THIM_INTEL_ROOTCACRL,
    NGX_HTTP_THIM_INTEL_CRL
} ngx_http_thim_intel_kind_e;


/* what is stored: the generic route first, so a check can cast back */
typedef struct {
    ngx_http_thim_route_t      route;
    ngx_str_t                  origin_path;
    char                      *json_key;       /* the signed object */
    char                      *id;             /* its "id", if it has one */
    ngx_int_t                  version;        /* its "version" */
} ngx_http_thim_intel_collateral_t;


/* what is asked */
typedef struct {
    ngx_str_t                  uri;
    ngx_http_thim_intel_kind_e  kind;
    ngx_uint_t                 version;        /* API version, 3 or 4 */
    ngx_http_thim_intel_collateral_t  *collateral;
} ngx_http_thim_intel_path_t;


/* the parts of a request that make its key */
typedef struct {
    ngx_http_thim_intel_collateral_t  *collateral;
    u_char                     fmspc[NGX_HTTP_THIM_FMSPC_LEN];
    ngx_uint_t                 has_fmspc;
    ngx_str_t                  query;          /* canonical origin query */
} ngx_http_thim_intel_req_t;


typedef struct {
    char                      *reason;
    char                      *parameter;
} ngx_http_thim_intel_bad_t;


static ngx_int_t ngx_http_thim_intel_query(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_path_t *path, ngx_http_thim_args_t *args,
    ngx_http_thim_intel_req_t *req, ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_fmspc(ngx_http_thim_args_t *args,
    ngx_http_thim_intel_req_t *req, ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_update(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_path_t *path, ngx_http_thim_args_t *args,
    ngx_str_t *canonical, ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_asked(ngx_pool_t *pool,
    ngx_http_thim_args_t *args, ngx_http_thim_arg_t **asked, ngx_str_t *eval,
    ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_asked_number(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *eval, ngx_str_t *canonical, ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_bad_number(
    ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_policy(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_arg_t *update, ngx_str_t *canonical);
static ngx_int_t ngx_http_thim_intel_custom(ngx_pool_t *pool,
    ngx_http_thim_arg_t *arg, ngx_str_t *eval,
    ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_base64_valid(ngx_str_t *s);
static ngx_int_t ngx_http_thim_intel_eval_number(ngx_pool_t *pool,
    u_char *p, size_t len, ngx_str_t *canonical, uint64_t *number);
static ngx_int_t ngx_http_thim_intel_number(ngx_pool_t *pool,
    uint64_t number, ngx_str_t *canonical);
static ngx_int_t ngx_http_thim_intel_tcb_query(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_req_t *req, ngx_str_t *update);
static ngx_int_t ngx_http_thim_intel_baseline(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_intel_path_t *path,
    ngx_http_thim_intel_req_t *req);
static ngx_int_t ngx_http_thim_intel_after_numbers(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_intel_pick(ngx_str_t *body, ngx_uint_t behind,
    uint64_t *number);
static ngx_int_t ngx_http_thim_intel_pckcrl(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_args_t *args, ngx_http_thim_intel_req_t *req,
    ngx_http_thim_intel_bad_t *bad);
static ngx_int_t ngx_http_thim_intel_crl_uri(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_args_t *args, ngx_http_thim_intel_req_t *req,
    ngx_uint_t azure, ngx_http_thim_intel_bad_t *bad);
static void ngx_http_thim_intel_form(ngx_http_thim_ctx_t *ctx,
    ngx_uint_t form);
static ngx_int_t ngx_http_thim_intel_set_fetch(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_req_t *req);
static ngx_int_t ngx_http_thim_intel_check_json(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_int_t ngx_http_thim_intel_cached_eval(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_collateral_t *col);
static ngx_int_t ngx_http_thim_intel_check_crl(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);
static ngx_int_t ngx_http_thim_intel_chain(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *pem);


#define ngx_http_thim_json(name, chain_in, out0, out1, path, key, id, v)      \
    { { ngx_string(name), NGX_HTTP_THIM_ORIGIN_INTEL,                         \
        ngx_string("application/json"), ngx_string(chain_in),                 \
        { ngx_string(out0), ngx_string(out1) },                               \
        ngx_http_thim_intel_check_json, 0, ngx_http_thim_route_plain },       \
      ngx_string(path), key, id, v }

#define NGX_HTTP_THIM_TCB_V4_CHAIN   "TCB-Info-Issuer-Chain"
#define NGX_HTTP_THIM_TCB_V3_CHAIN   "SGX-TCB-Info-Issuer-Chain"
#define NGX_HTTP_THIM_ID_CHAIN       "SGX-Enclave-Identity-Issuer-Chain"
#define NGX_HTTP_THIM_EVAL_CHAIN     "TCB-Evaluation-Data-Numbers-Issuer-Chain"


/*
 * On tcb both chain header names are sent whatever the version: the Azure
 * DCAP client asks for SGX-TCB-Info-Issuer-Chain first, also on v4, and
 * fetches the whole URL again when it is missing.
 */

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_tcb_v3 =
    ngx_http_thim_json("sgx tcb v3", NGX_HTTP_THIM_TCB_V3_CHAIN,
                       NGX_HTTP_THIM_TCB_V3_CHAIN, NGX_HTTP_THIM_TCB_V4_CHAIN,
                       "/sgx/certification/v3/tcb", "tcbInfo", NULL, 2);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_tcb_v4 =
    ngx_http_thim_json("sgx tcb", NGX_HTTP_THIM_TCB_V4_CHAIN,
                       NGX_HTTP_THIM_TCB_V4_CHAIN, NGX_HTTP_THIM_TCB_V3_CHAIN,
                       "/sgx/certification/v4/tcb", "tcbInfo", "SGX", 3);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_tdx_tcb_v4 =
    ngx_http_thim_json("tdx tcb", NGX_HTTP_THIM_TCB_V4_CHAIN,
                       NGX_HTTP_THIM_TCB_V4_CHAIN, NGX_HTTP_THIM_TCB_V3_CHAIN,
                       "/tdx/certification/v4/tcb", "tcbInfo", "TDX", 3);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_qe_v3 =
    ngx_http_thim_json("sgx qe identity v3", NGX_HTTP_THIM_ID_CHAIN,
                       NGX_HTTP_THIM_ID_CHAIN, "",
                       "/sgx/certification/v3/qe/identity",
                       "enclaveIdentity", "QE", 2);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_qe_v4 =
    ngx_http_thim_json("sgx qe identity", NGX_HTTP_THIM_ID_CHAIN,
                       NGX_HTTP_THIM_ID_CHAIN, "",
                       "/sgx/certification/v4/qe/identity",
                       "enclaveIdentity", "QE", 2);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_qve_v3 =
    ngx_http_thim_json("sgx qve identity v3", NGX_HTTP_THIM_ID_CHAIN,
                       NGX_HTTP_THIM_ID_CHAIN, "",
                       "/sgx/certification/v3/qve/identity",
                       "enclaveIdentity", "QVE", 2);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_qve_v4 =
    ngx_http_thim_json("sgx qve identity", NGX_HTTP_THIM_ID_CHAIN,
                       NGX_HTTP_THIM_ID_CHAIN, "",
                       "/sgx/certification/v4/qve/identity",
                       "enclaveIdentity", "QVE", 2);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_tdx_qe_v4 =
    ngx_http_thim_json("tdx qe identity", NGX_HTTP_THIM_ID_CHAIN,
                       NGX_HTTP_THIM_ID_CHAIN, "",
                       "/tdx/certification/v4/qe/identity",
                       "enclaveIdentity", "TD_QE", 0);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_sgx_eval_numbers =
    ngx_http_thim_json("sgx tcb evaluation data numbers",
                       NGX_HTTP_THIM_EVAL_CHAIN, NGX_HTTP_THIM_EVAL_CHAIN, "",
                       "/sgx/certification/v4/tcbevaluationdatanumbers",
                       "tcbEvaluationDataNumbers", "SGX", 1);

static ngx_http_thim_intel_collateral_t  ngx_http_thim_tdx_eval_numbers =
    ngx_http_thim_json("tdx tcb evaluation data numbers",
                       NGX_HTTP_THIM_EVAL_CHAIN, NGX_HTTP_THIM_EVAL_CHAIN, "",
                       "/tdx/certification/v4/tcbevaluationdatanumbers",
                       "tcbEvaluationDataNumbers", "TDX", 1);

/* CRLs are fetched and stored as DER; the query's "ca" picks the PCK CA */
static ngx_http_thim_intel_collateral_t  ngx_http_thim_pck_crl = {
    { ngx_string("pck crl"), NGX_HTTP_THIM_ORIGIN_INTEL,
      ngx_string("application/pkix-crl"),
      ngx_string("SGX-PCK-CRL-Issuer-Chain"),
      { ngx_string("SGX-PCK-CRL-Issuer-Chain"), ngx_null_string },
      ngx_http_thim_intel_check_crl, 0, ngx_http_thim_route_plain },
    ngx_string("/sgx/certification/v4/pckcrl"), NULL, NULL, 0
};

/* Intel publishes the root CA CRL alone, without a chain header */
static ngx_http_thim_intel_collateral_t  ngx_http_thim_root_crl = {
    { ngx_string("root ca crl"), NGX_HTTP_THIM_ORIGIN_INTEL_ROOT,
      ngx_string("application/pkix-crl"), ngx_null_string,
      { ngx_null_string, ngx_null_string },
      ngx_http_thim_intel_check_crl, 0, ngx_http_thim_route_plain },
    ngx_string("/IntelSGXRootCA.der"), NULL, NULL, 0
};


static ngx_http_thim_intel_path_t  ngx_http_thim_intel_paths[] = {

    { ngx_string("/sgx/certification/v4/tcb"),
      NGX_HTTP_THIM_INTEL_TCB, 4, &ngx_http_thim_sgx_tcb_v4 },
    { ngx_string("/tdx/certification/v4/tcb"),
      NGX_HTTP_THIM_INTEL_TCB, 4, &ngx_http_thim_tdx_tcb_v4 },
    { ngx_string("/sgx/certification/v3/tcb"),
      NGX_HTTP_THIM_INTEL_TCB, 3, &ngx_http_thim_sgx_tcb_v3 },

    { ngx_string("/sgx/certification/v4/qe/identity"),
      NGX_HTTP_THIM_INTEL_IDENTITY, 4, &ngx_http_thim_sgx_qe_v4 },
    { ngx_string("/sgx/certification/v4/qve/identity"),
      NGX_HTTP_THIM_INTEL_IDENTITY, 4, &ngx_http_thim_sgx_qve_v4 },
    { ngx_string("/tdx/certification/v4/qe/identity"),
      NGX_HTTP_THIM_INTEL_IDENTITY, 4, &ngx_http_thim_tdx_qe_v4 },
    { ngx_string("/sgx/certification/v3/qe/identity"),
      NGX_HTTP_THIM_INTEL_IDENTITY, 3, &ngx_http_thim_sgx_qe_v3 },
    { ngx_string("/sgx/certification/v3/qve/identity"),
      NGX_HTTP_THIM_INTEL_IDENTITY, 3, &ngx_http_thim_sgx_qve_v3 },

    { ngx_string("/sgx/certification/v4/tcbevaluationdatanumbers"),
      NGX_HTTP_THIM_INTEL_EVAL_NUMBERS, 4, &ngx_http_thim_sgx_eval_numbers },
    { ngx_string("/tdx/certification/v4/tcbevaluationdatanumbers"),
      NGX_HTTP_THIM_INTEL_EVAL_NUMBERS, 4, &ngx_http_thim_tdx_eval_numbers },

    { ngx_string("/sgx/certification/v4/pckcrl"),
      NGX_HTTP_THIM_INTEL_PCKCRL, 4, NULL },
    { ngx_string("/sgx/certification/v3/pckcrl"),
      NGX_HTTP_THIM_INTEL_PCKCRL, 3, NULL },

    { ngx_string("/sgx/certification/v4/rootcacrl"),
      NGX_HTTP_THIM_INTEL_ROOTCACRL, 4, &ngx_http_thim_root_crl },
    { ngx_string("/sgx/certification/v3/rootcacrl"),
      NGX_HTTP_THIM_INTEL_ROOTCACRL, 3, &ngx_http_thim_root_crl },

    { ngx_string("/sgx/certification/v4/crl"),
      NGX_HTTP_THIM_INTEL_CRL, 4, NULL },
    { ngx_string("/sgx/certification/v3/crl"),
      NGX_HTTP_THIM_INTEL_CRL, 3, NULL },

    { ngx_null_string, 0, 0, NULL }
};


ngx_int_t
ngx_http_thim_intel_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    query;
    ngx_http_thim_ctx_t         *ctx;
    ngx_http_thim_args_t         args;
    ngx_http_thim_intel_req_t    req;
    ngx_http_thim_intel_bad_t    bad;
    ngx_http_thim_intel_path_t  *path;

    for (path = ngx_http_thim_intel_paths; path->uri.len; path++) {
        if (r->uri.len == path->uri.len
            && ngx_strncmp(r->uri.data, path->uri.data, r->uri.len) == 0)
        {
            break;
        }
    }

    /* before anything is logged, a 405 too: no machine's identifiers */
    if (ngx_http_thim_pckcert_hide(r, path->uri.len != 0, &query) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* PCCS's registration and admin routes (ngx_thim_pccs_admin.c) */
    rc = ngx_http_thim_pccs_handler(r, &query);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* a client's own PCS POST forms (ngx_thim_pckcert_post.c) */
    rc = ngx_http_thim_pckcert_post_handler(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_thim_begin(r, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* PCK certificates have routes of their own (ngx_thim_pckcert.c) */
    rc = ngx_http_thim_pckcert_handler(r, ctx, &query);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (path->uri.len == 0) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "unknown collateral route", NULL);
    }

    ngx_memzero(&req, sizeof(ngx_http_thim_intel_req_t));
    bad.reason = "query string too long or too many parameters";
    bad.parameter = NULL;

    rc = ngx_http_thim_args_parse(r->args.data, r->args.len, &args);

    if (rc == NGX_OK) {
        rc = ngx_http_thim_intel_query(ctx, path, &args, &req, &bad);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                        bad.reason, bad.parameter);
    }

    if (rc == NGX_AGAIN) {
        return ngx_http_thim_intel_baseline(r, ctx, path, &req);
    }

    if (rc != NGX_OK
        || ngx_http_thim_intel_set_fetch(ctx, &req) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * Reads the query as the path's kind does.  Unknown parameters are
 * ignored (G6: clientid, api-version); of a repeated one the first
 * counts.  NGX_DECLINED with bad set means 400.
 */

static ngx_int_t
ngx_http_thim_intel_query(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_path_t *path, ngx_http_thim_args_t *args,
    ngx_http_thim_intel_req_t *req, ngx_http_thim_intel_bad_t *bad)
{
    ngx_int_t   rc;
    ngx_str_t   update;

    req->collateral = path->collateral;

    switch (path->kind) {

    case NGX_HTTP_THIM_INTEL_TCB:
        rc = ngx_http_thim_intel_fmspc(args, req, bad);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_thim_intel_update(ctx, path, args, &update,
                                        bad);

        if (rc == NGX_AGAIN) {
            /* the baseline is looked up first; the query is made then */
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_thim_intel_tcb_query(ctx, req, &update);

    case NGX_HTTP_THIM_INTEL_IDENTITY:
        return ngx_http_thim_intel_update(ctx, path, args,
                                          &req->query, bad);

    case NGX_HTTP_THIM_INTEL_EVAL_NUMBERS:
        return NGX_OK;

    case NGX_HTTP_THIM_INTEL_PCKCRL:
        if (ngx_http_thim_args_find(args, (u_char *) "uri", 3)) {

            if (ngx_http_thim_args_find(args, (u_char *) "ca", 2)) {
                bad->reason = "ca and uri are exclusive";
                bad->parameter = "uri";
                return NGX_DECLINED;
            }

            /* Azure's form: always PEM (its collateral version 1) */
            return ngx_http_thim_intel_crl_uri(ctx, args, req, 1, bad);
        }

        return ngx_http_thim_intel_pckcrl(ctx, args, req, bad);

    case NGX_HTTP_THIM_INTEL_ROOTCACRL:
        /* hex of the DER, as PCCS serves it: dcap-qvl needs exactly that */
        ngx_http_thim_intel_form(ctx, NGX_HTTP_THIM_FORM_HEX);
        ctx->root_chain = 1;
        return NGX_OK;

    default: /* NGX_HTTP_THIM_INTEL_CRL */
        return ngx_http_thim_intel_crl_uri(ctx, args, req, 0, bad);
    }
}


/* "fmspc=<fmspc>[&<update or number>]", and the FMSPC the body must name */

static ngx_int_t
ngx_http_thim_intel_tcb_query(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_req_t *req, ngx_str_t *update)
{
    u_char  *p;

    req->query.len = sizeof("fmspc=") - 1 + NGX_HTTP_THIM_FMSPC_LEN
                     + (update->len ? 1 + update->len : 0);
    req->query.data = ngx_pnalloc(ctx->pool, req->query.len);
    if (req->query.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(req->query.data, "fmspc=", sizeof("fmspc=") - 1);
    p = ngx_cpymem(p, req->fmspc, NGX_HTTP_THIM_FMSPC_LEN);

    if (update->len) {
        *p++ = '&';
        ngx_memcpy(p, update->data, update->len);
    }

    /* checked when the origin answers, long after this frame */
    ctx->subject.data = ngx_pnalloc(ctx->pool, NGX_HTTP_THIM_FMSPC_LEN);
    if (ctx->subject.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->subject.data, req->fmspc, NGX_HTTP_THIM_FMSPC_LEN);
    ctx->subject.len = NGX_HTTP_THIM_FMSPC_LEN;

    return NGX_OK;
}


/* what a request waiting for "latest-K" keeps until the numbers come */
typedef struct {
    ngx_http_thim_intel_path_t        *path;
    ngx_http_thim_intel_req_t          req;
} ngx_http_thim_intel_pending_t;


/*
 * thim_intel_baseline latest-K: serve the family's
 * tcbevaluationdatanumbers first (cached and refreshed like any
 * collateral), then the request with the K-th newest number.
 */

static ngx_int_t
ngx_http_thim_intel_baseline(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_path_t *path, ngx_http_thim_intel_req_t *req)
{
    ngx_http_thim_intel_req_t      numbers;
    ngx_http_thim_intel_pending_t  *pending;

    pending = ngx_palloc(ctx->pool, sizeof(ngx_http_thim_intel_pending_t));
    if (pending == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pending->path = path;
    pending->req = *req;

    ngx_memzero(&numbers, sizeof(ngx_http_thim_intel_req_t));

    numbers.collateral = (path->uri.data[1] == 't')
                         ? &ngx_http_thim_tdx_eval_numbers
                         : &ngx_http_thim_sgx_eval_numbers;

    ctx->data = pending;
    ctx->next = ngx_http_thim_intel_after_numbers;

    if (ngx_http_thim_intel_set_fetch(ctx, &numbers) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


static ngx_int_t
ngx_http_thim_intel_after_numbers(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx)
{
    uint64_t                        number;
    ngx_str_t                       canonical;
    ngx_http_thim_loc_conf_t       *tlcf;
    ngx_http_thim_intel_req_t      *req;
    ngx_http_thim_intel_pending_t  *pending;

    pending = ctx->data;
    req = &pending->req;

    tlcf = ctx->conf;

    if (ngx_http_thim_intel_pick(&ctx->record.body, (ngx_uint_t) tlcf->baseline,
                                 &number)
        != NGX_OK)
    {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_GATEWAY,
                             "the TCB evaluation data numbers list no "
                             "number to serve", NULL);
    }

    /* the numbers' record is unpinned; this is the request's own key now */
    ngx_http_thim_ctx_next_key(ctx);
    ctx->next = NULL;

    if (ngx_http_thim_intel_number(ctx->pool, number, &canonical) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (req->has_fmspc) {
        if (ngx_http_thim_intel_tcb_query(ctx, req, &canonical) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        req->query = canonical;
    }

    if (ngx_http_thim_intel_set_fetch(ctx, req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * The "behind"-th newest of the listed tcbEvaluationDataNumbers (Intel
 * signs tcbEvalNumbers; a transcription of the spec says tcbNumbers), the
 * oldest listed when there are fewer.
 */

static ngx_int_t
ngx_http_thim_intel_pick(ngx_str_t *body, ngx_uint_t behind,
    uint64_t *number)
{
    char                       *reason;
    size_t                      i, n, k;
    uint64_t                    found[NGX_HTTP_THIM_EVAL_NUMBERS_MAX], t;
    ngx_http_thim_intel_doc_t   doc;

    /* the numbers as signed, read as when they were fetched */
    if (ngx_http_thim_intel_json_read(body->data, body->len,
                                      "tcbEvaluationDataNumbers", &doc,
                                      &reason)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = doc.nnumbers;

    for (i = 0; i < n; i++) {
        found[i] = (uint64_t) doc.numbers[i];
    }

    if (n == 0) {
        return NGX_ERROR;
    }

    /* newest first */
    for (i = 1; i < n; i++) {
        for (k = i; k > 0 && found[k] > found[k - 1]; k--) {
            t = found[k];
            found[k] = found[k - 1];
            found[k - 1] = t;
        }
    }

    *number = found[ngx_min(behind, n - 1)];

    return NGX_OK;
}


/* fmspc: exactly 12 hex digits, any case, kept in lower case */

static ngx_int_t
ngx_http_thim_intel_fmspc(ngx_http_thim_args_t *args,
    ngx_http_thim_intel_req_t *req, ngx_http_thim_intel_bad_t *bad)
{
    ngx_http_thim_arg_t  *fmspc;

    fmspc = ngx_http_thim_args_find(args, (u_char *) "fmspc", 5);

    if (fmspc == NULL
        || fmspc->value.len != NGX_HTTP_THIM_FMSPC_LEN
        || !ngx_http_thim_is_hex(fmspc->value.data, fmspc->value.len))
    {
        bad->reason = "fmspc must be 12 hexadecimal digits";
        bad->parameter = "fmspc";
        return NGX_DECLINED;
    }

    ngx_http_thim_strlow(req->fmspc, fmspc->value.data,
                         NGX_HTTP_THIM_FMSPC_LEN);
    req->has_fmspc = 1;

    return NGX_OK;
}


/*
 * "update=early|standard" (any case; default standard) or
 * "tcbEvaluationDataNumber=N" (not both, as PCS) or customParameter
 * carrying the number, which overrides "update" (PROTOCOLS.md 2a: QCNL
 * sends both).  v4's canonical form is always explicit:
 * "update=standard" or "tcbEvaluationDataNumber=17".  v3 has neither at
 * Intel: "update" is accepted and dropped (PCCS accepts it), an
 * evaluation number is refused.
 */

static ngx_int_t
ngx_http_thim_intel_update(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_path_t *path, ngx_http_thim_args_t *args,
    ngx_str_t *canonical, ngx_http_thim_intel_bad_t *bad)
{
    ngx_int_t             rc;
    ngx_str_t             eval;
    ngx_http_thim_arg_t  *update;

    ngx_str_null(canonical);

    rc = ngx_http_thim_intel_asked(ctx->pool, args, &update, &eval, bad);
    if (rc != NGX_OK) {
        return rc;
    }

    if (path->version == 3) {
        if (eval.len) {
            bad->reason = "tcbEvaluationDataNumber needs API version 4";
            bad->parameter = "tcbEvaluationDataNumber";
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (eval.len) {
        return ngx_http_thim_intel_asked_number(ctx, &eval, canonical, bad);
    }

    return ngx_http_thim_intel_policy(ctx, update, canonical);
}


/*
 * What the query asks for: a valid update=, or the evaluation number of
 * tcbEvaluationDataNumber= or customParameter (then *update is NULL).
 */

static ngx_int_t
ngx_http_thim_intel_asked(ngx_pool_t *pool, ngx_http_thim_args_t *args,
    ngx_http_thim_arg_t **asked, ngx_str_t *eval,
    ngx_http_thim_intel_bad_t *bad)
{
    ngx_int_t             rc;
    ngx_http_thim_arg_t  *update, *number, *custom;

    update = ngx_http_thim_args_find(args, (u_char *) "update",
                                     sizeof("update") - 1);
    number = ngx_http_thim_args_find(args,
                                     (u_char *) "tcbEvaluationDataNumber",
                                     sizeof("tcbEvaluationDataNumber") - 1);
    custom = ngx_http_thim_args_find(args, (u_char *) "customParameter",
                                     sizeof("customParameter") - 1);

    ngx_str_null(eval);
    *asked = NULL;

    if (update
        && !ngx_http_thim_strcaseeq(update->value.data, update->value.len,
                                    "standard")
        && !ngx_http_thim_strcaseeq(update->value.data, update->value.len,
                                    "early"))
    {
        bad->reason = "update must be early or standard";
        bad->parameter = "update";
        return NGX_DECLINED;
    }

    if (custom) {
        rc = ngx_http_thim_intel_custom(pool, custom, eval, bad);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (number) {
        if (eval->len) {
            bad->reason = "tcbEvaluationDataNumber is given twice";
            bad->parameter = "customParameter";
            return NGX_DECLINED;
        }

        *eval = number->value;
    }

    if (update && number) {
        bad->reason = "update and tcbEvaluationDataNumber are exclusive";
        bad->parameter = "update";
        return NGX_DECLINED;
    }

    if (number && number->value.len == 0) {
        return ngx_http_thim_intel_bad_number(bad);
    }

    /*
     * QCNL always sends update= and appends customParameter when its
     * caller names an evaluation number: the number wins, as it does for
     * the Azure client, and the origin is asked for it alone.
     */
    if (eval->len == 0) {
        *asked = update;
    }

    return NGX_OK;
}


/* a number asked for, within thim_intel_eval_override's range */

static ngx_int_t
ngx_http_thim_intel_asked_number(ngx_http_thim_ctx_t *ctx, ngx_str_t *eval,
    ngx_str_t *canonical, ngx_http_thim_intel_bad_t *bad)
{
    uint64_t                   number;
    ngx_int_t                  rc;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    rc = ngx_http_thim_intel_eval_number(ctx->pool, eval->data, eval->len,
                                         canonical, &number);
    if (rc == NGX_DECLINED) {
        return ngx_http_thim_intel_bad_number(bad);
    }

    if (rc == NGX_OK
        && (number < tlcf->eval_min || number > tlcf->eval_max))
    {
        bad->reason = (tlcf->eval_max < tlcf->eval_min)
                      ? "this service serves its own TCB baseline: "
                        "tcbEvaluationDataNumber is not accepted"
                      : "tcbEvaluationDataNumber is outside the range "
                        "this service serves";
        bad->parameter = "tcbEvaluationDataNumber";
        return NGX_DECLINED;
    }

    return rc;
}


static ngx_int_t
ngx_http_thim_intel_bad_number(ngx_http_thim_intel_bad_t *bad)
{
    bad->reason = "tcbEvaluationDataNumber must be a decimal number "
                  "of at most 10 digits";
    bad->parameter = "tcbEvaluationDataNumber";

    return NGX_DECLINED;
}


/*
 * No number asked for: the operator's baseline.  A pinned one holds
 * even against update=standard, which QCNL and dcap-qvl always send.
 */

static ngx_int_t
ngx_http_thim_intel_policy(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_arg_t *update, ngx_str_t *canonical)
{
    ngx_int_t                  early;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;

    switch (tlcf->baseline_kind) {

    case NGX_HTTP_THIM_BASELINE_FIXED:
        return ngx_http_thim_intel_number(ctx->pool,
                                          (uint64_t) tlcf->baseline,
                                          canonical);

    case NGX_HTTP_THIM_BASELINE_BEHIND:
        /* the latest is upstream's to say: look it up first */
        return NGX_AGAIN;

    default:
        break;
    }

    early = update ? ngx_http_thim_strcaseeq(update->value.data,
                                             update->value.len, "early")
                   : (ngx_int_t) tlcf->update_early;

    if (early) {
        ngx_str_set(canonical, "update=early");

    } else {
        ngx_str_set(canonical, "update=standard");
    }

    return NGX_OK;
}


/*
 * Azure's customParameter: standard base64 (with its "+", "/" and "="
 * possibly percent-encoded, and "+" never meaning a space) of
 * "key=value;key=value".  tcbEvaluationDataNumber is honoured, region is
 * ignored, any other key is refused.
 */

static ngx_int_t
ngx_http_thim_intel_custom(ngx_pool_t *pool, ngx_http_thim_arg_t *arg,
    ngx_str_t *eval, ngx_http_thim_intel_bad_t *bad)
{
    u_char     *p, *last, *semi, *eq;
    size_t      len;
    ngx_str_t   src, dst;

    bad->reason = "customParameter must be base64 of key=value pairs";
    bad->parameter = "customParameter";

    if (arg->value.len == 0
        || arg->value.len > NGX_HTTP_THIM_CUSTOM_PARAM_MAX)
    {
        return NGX_DECLINED;
    }

    src.data = ngx_pnalloc(pool, arg->value.len);
    dst.data = ngx_pnalloc(pool, ngx_base64_decoded_length(arg->value.len));
    if (src.data == NULL || dst.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_thim_pct_decode(src.data, arg->value.data, arg->value.len,
                                 &len)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    src.len = len;

    /*
     * ngx_decode_base64() stops at the first "=" and ignores what follows
     * it: check the whole value is canonical padded base64 first.
     */
    if (ngx_http_thim_intel_base64_valid(&src) != NGX_OK
        || ngx_decode_base64(&dst, &src) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = dst.data;
    last = dst.data + dst.len;

    while (p < last) {
        semi = ngx_strlchr(p, last, ';');
        if (semi == NULL) {
            semi = last;
        }

        eq = ngx_strlchr(p, semi, '=');
        if (eq == NULL) {
            return NGX_DECLINED;
        }

        if (eq - p == sizeof("tcbEvaluationDataNumber") - 1
            && ngx_strncmp(p, "tcbEvaluationDataNumber", eq - p) == 0)
        {
            if (eval->len) {
                return NGX_DECLINED;
            }

            eval->data = eq + 1;
            eval->len = semi - (eq + 1);

            /* decoded text has no percent layer: digits, and nothing else */
            if (eval->len == 0
                || ngx_strlchr(eval->data, semi, '%') != NULL)
            {
                return NGX_DECLINED;
            }

        } else if (!(eq - p == sizeof("region") - 1
                     && ngx_strncmp(p, "region", eq - p) == 0))
        {
            bad->reason = "customParameter has an unknown key";
            return NGX_DECLINED;
        }

        p = semi + 1;
    }

    return NGX_OK;
}


/* standard alphabet, length a multiple of 4, "=" only as 1 or 2 padding */

static ngx_int_t
ngx_http_thim_intel_base64_valid(ngx_str_t *s)
{
    u_char  c;
    size_t  i, pad;

    if (s->len == 0 || s->len % 4) {
        return NGX_DECLINED;
    }

    pad = 0;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c == '=') {
            pad++;
            continue;
        }

        if (pad
            || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            return NGX_DECLINED;
        }
    }

    return (pad <= 2) ? NGX_OK : NGX_DECLINED;
}


/* "0017" (percent-encoded or not) -> "tcbEvaluationDataNumber=17" */

static ngx_int_t
ngx_http_thim_intel_eval_number(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *canonical, uint64_t *number)
{
    u_char  buf[NGX_HTTP_THIM_SHORT_ARG_MAX];
    size_t  n;

    if (len > sizeof(buf)
        || ngx_http_thim_pct_decode(buf, p, len, &n) != NGX_OK
        || ngx_http_thim_parse_decimal(buf, n,
                                       NGX_HTTP_THIM_EVAL_NUMBER_DIGITS,
                                       number)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return ngx_http_thim_intel_number(pool, *number, canonical);
}


static ngx_int_t
ngx_http_thim_intel_number(ngx_pool_t *pool, uint64_t number,
    ngx_str_t *canonical)
{
    canonical->data = ngx_pnalloc(pool, sizeof("tcbEvaluationDataNumber=")
                                           + NGX_INT64_LEN);
    if (canonical->data == NULL) {
        return NGX_ERROR;
    }

    canonical->len = ngx_sprintf(canonical->data,
                                 "tcbEvaluationDataNumber=%uL", number)
                     - canonical->data;

    return NGX_OK;
}


/*
 * pckcrl?ca=processor|platform[&encoding=der|pem]: one cached DER per CA,
 * served as DER, PEM, or (no encoding: PCCS's form, which every QvE
 * accepts) lower-case hex.
 */

static ngx_int_t
ngx_http_thim_intel_pckcrl(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_args_t *args, ngx_http_thim_intel_req_t *req,
    ngx_http_thim_intel_bad_t *bad)
{
    ngx_http_thim_arg_t  *ca, *encoding;

    ca = ngx_http_thim_args_find(args, (u_char *) "ca", 2);

    if (ca == NULL) {
        bad->reason = "ca (processor or platform) or uri is required";
        bad->parameter = "ca";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_strcaseeq(ca->value.data, ca->value.len, "processor")) {
        ngx_str_set(&req->query, "ca=processor&encoding=der");
        ctx->expect = NGX_HTTP_THIM_PROCESSOR_CA;

    } else if (ngx_http_thim_strcaseeq(ca->value.data, ca->value.len,
                                       "platform"))
    {
        ngx_str_set(&req->query, "ca=platform&encoding=der");
        ctx->expect = NGX_HTTP_THIM_PLATFORM_CA;

    } else {
        bad->reason = "ca must be processor or platform";
        bad->parameter = "ca";
        return NGX_DECLINED;
    }

    req->collateral = &ngx_http_thim_pck_crl;

    encoding = ngx_http_thim_args_find(args, (u_char *) "encoding", 8);

    if (encoding == NULL) {
        ngx_http_thim_intel_form(ctx, NGX_HTTP_THIM_FORM_HEX);

    } else if (ngx_http_thim_strcaseeq(encoding->value.data,
                                       encoding->value.len, "der"))
    {
        ngx_http_thim_intel_form(ctx, NGX_HTTP_THIM_FORM_STORED);

    } else if (ngx_http_thim_strcaseeq(encoding->value.data,
                                       encoding->value.len, "pem"))
    {
        ngx_http_thim_intel_form(ctx, NGX_HTTP_THIM_FORM_PEM);

    } else {
        bad->reason = "encoding must be der or pem";
        bad->parameter = "encoding";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * uri=<an Intel CRL distribution point>: Azure's pckcrl?uri= (served as
 * PEM) and PCCS's crl?uri= (served as the URL publishes it).  Only
 * Intel's own CRL URLs are recognised (ngx_thim_crl_uri.c).  QCNL sends
 * the URL unencoded, so its own "&encoding=der" arrives as a parameter of
 * ours: it is put back.
 */

static ngx_int_t
ngx_http_thim_intel_crl_uri(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_args_t *args, ngx_http_thim_intel_req_t *req,
    ngx_uint_t azure, ngx_http_thim_intel_bad_t *bad)
{
    u_char                   *p;
    ngx_str_t                 uri;
    ngx_http_thim_arg_t      *arg, *encoding;
    ngx_http_thim_crl_uri_t   target;

    arg = ngx_http_thim_args_find(args, (u_char *) "uri", 3);

    bad->reason = "uri must be an Intel SGX CRL distribution point";
    bad->parameter = "uri";

    if (arg == NULL || arg->value.len == 0) {
        return NGX_DECLINED;
    }

    uri = arg->value;
    encoding = ngx_http_thim_args_find(args, (u_char *) "encoding", 8);

    if (encoding
        && encoding->value.data > uri.data
        && ngx_strlchr(uri.data, uri.data + uri.len, '?'))
    {
        /* "uri=https://.../pckcrl?ca=processor&encoding=der", unencoded */
        uri.len = encoding->value.data + encoding->value.len - uri.data;
    }

    if (ngx_http_thim_crl_uri_parse(uri.data, uri.len, &target) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (target.crl == NGX_HTTP_THIM_CRL_ROOT) {
        req->collateral = &ngx_http_thim_root_crl;
        ctx->root_chain = 1;

    } else {
        req->collateral = &ngx_http_thim_pck_crl;

        p = (u_char *) ((target.crl == NGX_HTTP_THIM_CRL_PROCESSOR)
                        ? "ca=processor&encoding=der"
                        : "ca=platform&encoding=der");

        ctx->expect = (target.crl == NGX_HTTP_THIM_CRL_PROCESSOR)
                      ? NGX_HTTP_THIM_PROCESSOR_CA
                      : NGX_HTTP_THIM_PLATFORM_CA;

        req->query.data = p;
        req->query.len = ngx_strlen(p);
    }

    ngx_http_thim_intel_form(ctx, (azure
                                   || target.encoding == NGX_HTTP_THIM_CRL_PEM)
                                  ? NGX_HTTP_THIM_FORM_PEM
                                  : NGX_HTTP_THIM_FORM_STORED);

    return NGX_OK;
}


static void
ngx_http_thim_intel_form(ngx_http_thim_ctx_t *ctx, ngx_uint_t form)
{
    ctx->form = form;

    if (form == NGX_HTTP_THIM_FORM_PEM) {
        ngx_str_set(&ctx->form_type, "application/x-pem-file");

    } else {
        /* PCCS labels its hex form so too; no client reads it */
        ngx_str_set(&ctx->form_type, "application/pkix-crl");
    }
}


/*
 * The collateral's route, origin path and the canonical query: key and
 * subrequest as every route's are made (ngx_thim_key.c).
 */

static ngx_int_t
ngx_http_thim_intel_set_fetch(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_req_t *req)
{
    return ngx_http_thim_set_fetch(ctx, &req->collateral->route,
                                   &req->collateral->origin_path,
                                   &req->query);
}


/*
 * A JSON object whose signed object is of the route's kind, id and
 * version, names the requested FMSPC, carries parsable dates and a
 * signature that verifies, with a chain to the pinned Intel root at the
 * collateral's issueDate.
 */

static ngx_int_t
ngx_http_thim_intel_check_json(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    size_t                             len;
    u_char                            *query;
    ngx_str_t                          chain, root_crl;
    ngx_http_thim_loc_conf_t          *tlcf;
    ngx_http_thim_intel_doc_t          doc;
    ngx_http_thim_intel_expect_t       expect;
    ngx_http_thim_intel_collateral_t  *col;

    col = (ngx_http_thim_intel_collateral_t *) ctx->route;

    expect.key = col->json_key;
    expect.id = col->id;
    expect.version = col->version;
    expect.fmspc = ctx->subject.len ? ctx->subject.data : NULL;

    /* the evaluation number the canonical key asks for, if any */
    query = ngx_strlchr(ctx->key.data, ctx->key.data + ctx->key.len, '?');

    expect.eval = query ? ngx_http_thim_intel_asked_eval(query + 1,
                                  ctx->key.data + ctx->key.len - query - 1)
                        : -1;

    expect.eval_min = (expect.eval < 0 && ctx->fetch_done)
                      ? ngx_http_thim_intel_cached_eval(ctx, col) : -1;

    if (ngx_http_thim_intel_json_check(body->data, body->len, &expect, &doc,
                                       reason)
        != NGX_OK)
    {
        if (*reason == doc.text) {
            /* the document goes with this frame; the reason is kept */
            len = ngx_strlen(doc.text) + 1;
            *reason = ngx_pnalloc(ctx->pool, len);

            if (*reason == NULL) {
                *reason = "the collateral does not match the request";

            } else {
                ngx_memcpy(*reason, doc.text, len);
            }
        }

        return NGX_DECLINED;
    }

    *next_update = doc.next_update;

    if (ngx_http_thim_intel_chain(ctx, &chain) != NGX_OK) {
        *reason = "the issuer chain header is not percent-encoded PEM";
        return NGX_DECLINED;
    }

    tlcf = ctx->conf;

    if (ngx_http_thim_intel_root_crl(ctx, &root_crl) != NGX_OK) {
        *reason = "the cached Intel root CA CRL cannot be read";
        return NGX_DECLINED;
    }

    /*
     * By the TCB Signing certificate, at the collateral's own issue time:
     * signers expire, it stays in use.
     */
    return ngx_http_thim_verify_intel_json(body->data, body->len,
                                           col->json_key, chain.data,
                                           chain.len, tlcf->intel_root,
                                           &root_crl, doc.issued, reason);
}


/*
 * The evaluation number of the copy cached under the request's key, even
 * past its expiry (a refresh must not replace it with an older one); -1
 * when nothing usable is cached.
 */

static ngx_int_t
ngx_http_thim_intel_cached_eval(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_intel_collateral_t *col)
{
    char                       *reason;
    ngx_str_t                   body;
    ngx_http_thim_intel_doc_t   doc;

    if (ctx->zone == NULL
        || ngx_http_thim_cache_body(ctx->zone, &ctx->key, ctx->pool,
                                    &body)
           != NGX_OK
        || ngx_http_thim_intel_json_read(body.data, body.len, col->json_key,
                                         &doc, &reason)
           != NGX_OK)
    {
        return -1;
    }

    return doc.eval;
}


/*
 * PCK CRLs: signed by the PCK CA that ca= names, issued directly by the
 * root and not revoked by the cached root CA CRL; the root CA CRL: signed
 * by the root itself.
 */

static ngx_int_t
ngx_http_thim_intel_check_crl(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    ngx_str_t                  chain, root_crl;
    ngx_http_thim_signer_e     role;
    ngx_http_thim_loc_conf_t  *tlcf;

    /* a PCCS or an upper ngx_thim serves the root CA CRL as hex */
    if (ctx->expect == NULL
        && ngx_http_thim_tier_unhex(ctx->pool, body) != NGX_OK)
    {
        *reason = "no memory for the root CA CRL";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_check_crl(ctx, body, reason, next_update) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_thim_intel_chain(ctx, &chain) != NGX_OK) {
        *reason = "the issuer chain header is not percent-encoded PEM";
        return NGX_DECLINED;
    }

    tlcf = ctx->conf;

    if (ctx->expect == NULL) {
        role = NGX_HTTP_THIM_SIGNER_ROOT;

    } else if (ngx_strcmp(ctx->expect, NGX_HTTP_THIM_PROCESSOR_CA) == 0) {
        role = NGX_HTTP_THIM_SIGNER_PCK_PROCESSOR;

    } else {
        role = NGX_HTTP_THIM_SIGNER_PCK_PLATFORM;
    }

    /* the root signs its own CRL: no certificate to look up in it */
    ngx_str_null(&root_crl);

    if (role != NGX_HTTP_THIM_SIGNER_ROOT
        && ngx_http_thim_intel_root_crl(ctx, &root_crl) != NGX_OK)
    {
        *reason = "the cached Intel root CA CRL cannot be read";
        return NGX_DECLINED;
    }

    return ngx_http_thim_verify_crl(body->data, body->len, chain.data,
                                    chain.len, tlcf->intel_root, role,
                                    &root_crl, reason);
}


/*
 * The Intel root CA CRL as the zone holds it (fresh or stale: its
 * revocations hold), DER, in the request's pool; empty when the zone has
 * none.  It is the record of the key the rootcacrl route fetches, so in
 * a fetch and in the re-check of a snapshot or a bundle alike, signers
 * are checked against the same list.
 */

ngx_int_t
ngx_http_thim_intel_root_crl(ngx_http_thim_ctx_t *ctx, ngx_str_t *der)
{
    ngx_str_t   key;
    ngx_int_t   rc;

    ngx_str_null(der);

    if (ctx->zone == NULL) {
        return NGX_OK;
    }

    if (ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_INTEL_ROOT,
                          &ngx_http_thim_root_crl.origin_path, NULL, &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_cache_body(ctx->zone, &key, ctx->pool, der);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/* the origin's chain header, percent-decoded ("+" stays "+") */

static ngx_int_t
ngx_http_thim_intel_chain(ngx_http_thim_ctx_t *ctx, ngx_str_t *pem)
{
    pem->len = 0;
    pem->data = ngx_pnalloc(ctx->pool, ctx->chain.len + 1);

    if (pem->data == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_thim_pct_decode(pem->data, ctx->chain.data,
                                    ctx->chain.len, &pem->len);
}


/* Intel's and AMD's CRLs alike: DER, whole, with a nextUpdate */

ngx_int_t
ngx_http_thim_check_crl(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    if (ngx_http_thim_crl_next_update(body->data, body->len, next_update)
        != NGX_OK)
    {
        *reason = "body is not a DER CRL with a nextUpdate";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The SGX TCB info of an FMSPC as this location serves it to a request
 * that names no update and no number (v3: the only one; v4: the pinned
 * baseline, else thim_intel_update).  PCK selection orders TCB levels by
 * it.  "latest-K" needs a lookup first; the ordering of levels does not
 * depend on the evaluation number, so Intel's current one stands in.
 */

ngx_int_t
ngx_http_thim_intel_set_tcb(ngx_http_thim_ctx_t *ctx,
    u_char *fmspc, ngx_uint_t version)
{
    ngx_int_t                    rc;
    ngx_str_t                    update;
    ngx_http_thim_args_t         args;
    ngx_http_thim_intel_req_t    req;
    ngx_http_thim_intel_bad_t    bad;
    ngx_http_thim_loc_conf_t    *tlcf;
    ngx_http_thim_intel_path_t  *path;

    for (path = ngx_http_thim_intel_paths; path->uri.len; path++) {
        if (path->collateral == (version == 3 ? &ngx_http_thim_sgx_tcb_v3
                                              : &ngx_http_thim_sgx_tcb_v4))
        {
            break;
        }
    }

    args.nargs = 0;

    rc = ngx_http_thim_intel_update(ctx, path, &args, &update,
                                    &bad);

    if (rc == NGX_AGAIN) {
        tlcf = ctx->conf;

        if (tlcf->update_early) {
            ngx_str_set(&update, "update=early");

        } else {
            ngx_str_set(&update, "update=standard");
        }

    } else if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&req, sizeof(ngx_http_thim_intel_req_t));

    req.collateral = path->collateral;
    req.has_fmspc = 1;
    ngx_memcpy(req.fmspc, fmspc, NGX_HTTP_THIM_FMSPC_LEN);

    if (ngx_http_thim_intel_tcb_query(ctx, &req, &update) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_thim_intel_set_fetch(ctx, &req);
}


/*
 * The way back from a cache key to its request, for records that did not
 * come from the origin just now (a snapshot, a bundle): r->uri and
 * r->args hold the origin path and query, and the request is read by the
 * same table and query parsers a client's request goes through, so that
 * ctx ends up with the route, key, subject and expectations a fetch of
 * that key would have.  The caller's loc conf takes any
 * tcbEvaluationDataNumber and the latest baseline: the key is an origin
 * request the module made, not a client's (ngx_thim_persist.c).  The
 * root CA CRL's origin path is found by its collateral.
 */

ngx_int_t
ngx_http_thim_intel_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *uri,
    ngx_str_t *query, char **reason)
{
    ngx_int_t                    rc;
    ngx_http_thim_args_t         args;
    ngx_http_thim_intel_req_t    req;
    ngx_http_thim_intel_bad_t    bad;
    ngx_http_thim_intel_path_t  *path;

    for (path = ngx_http_thim_intel_paths; path->uri.len; path++) {
        if (uri->len == path->uri.len
            && ngx_strncmp(uri->data, path->uri.data, uri->len) == 0)
        {
            break;
        }

        if (path->collateral
            && uri->len == path->collateral->origin_path.len
            && ngx_strncmp(uri->data, path->collateral->origin_path.data,
                           uri->len) == 0)
        {
            break;
        }
    }

    if (path->uri.len == 0) {
        *reason = "no Intel route has this path";
        return NGX_DECLINED;
    }

    ngx_memzero(&req, sizeof(ngx_http_thim_intel_req_t));
    bad.reason = "query string too long or too many parameters";

    rc = ngx_http_thim_args_parse(query->data, query->len, &args);

    if (rc == NGX_OK) {
        rc = ngx_http_thim_intel_query(ctx, path, &args, &req, &bad);
    }

    if (rc == NGX_DECLINED || rc == NGX_AGAIN) {
        *reason = bad.reason;
        return NGX_DECLINED;
    }

    if (rc != NGX_OK || ngx_http_thim_intel_set_fetch(ctx, &req) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
