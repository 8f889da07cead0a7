
/*
 * ngx_thim: Intel PCK certificates (PROTOCOLS.md 1a, 1b).
 *
 *   GET /sgx/certification/v3|v4/pckcert
 *           ?encrypted_ppid=&cpusvn=&pcesvn=&pceid=[&qeid=]
 *     the PEM of the platform's PCK certificate for that raw TCB, with
 *     SGX-PCK-Certificate-Issuer-Chain, SGX-TCBm, SGX-FMSPC and
 *     SGX-PCK-Certificate-CA-Type; Azure's JSON form when the query has
 *     clientid or api-version;
 *   GET /metadata/THIM/sgx/certification/v3|v4/pckcert?...
 *     (Metadata: true) Azure's JSON form: {"pckCert",
 *     "sgx-Pck-Certificate-Issuer-Chain", "sgx-Tcbm", "cacheMaxAge"};
 *   GET /sgx/certification/v4/pckcerts?encrypted_ppid=&pceid=
 *     the platform's whole certificate set, as Intel sent it.
 *
 * The first request for a platform fetches its whole set from Intel
 * (pckcerts, with the API key), checks every certificate in it, and
 * caches it under a digest of the platform's identity: its QE ID and
 * PCE ID when the client names them, as PCCS keys platforms (an encrypted
 * PPID is an RSA-OAEP ciphertext, different at each retrieval), else its
 * encrypted PPID and PCE ID.  Every pckcert request is then answered from
 * the cached set and the FMSPC's TCB info by Intel's selection rule
 * (ngx_thim_pck.c): a new raw TCB costs no origin request.  A request
 * without an encrypted PPID (none, or QCNL's 768 zeros) is answered from
 * the cache only.
 *
 * The identifiers of a machine never reach a log: the request line is
 * replaced by one that carries short digests of them, error lines name
 * the origin without its query, and debug logging stops for the rest of
 * the request (it would show the origin request, with the PPID and key).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>

#include "ngx_thim_args.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_pck.h"
#include "ngx_thim_pck_set.h"
#include "ngx_thim_strict_json.h"
#include "ngx_thim_response.h"
#include "ngx_thim_sgx_ext.h"
#include "ngx_thim_pckcert.h"


#define NGX_HTTP_THIM_PPID_HEX         768
#define NGX_HTTP_THIM_CPUSVN_HEX       32
#define NGX_HTTP_THIM_SVN_HEX          4      /* pcesvn, pceid */
#define NGX_HTTP_THIM_QEID_HEX         32
#define NGX_HTTP_THIM_FMSPC_HEX        12
#define NGX_HTTP_THIM_DIGEST_HEX       64
#define NGX_HTTP_THIM_SHORT_DIGEST     12     /* in redacted request lines */

/*
 * The most answers kept derived from one platform's set: a platform has
 * a few raw TCBs over its life, while a client that knows its QE ID may
 * make up any number (ngx_http_thim_cache_group()).
 */
#define NGX_HTTP_THIM_PCK_DERIVED_MAX  16

/* what a request is answered with */
#define NGX_HTTP_THIM_PCK_PEM          0
#define NGX_HTTP_THIM_PCK_AZURE        1
#define NGX_HTTP_THIM_PCK_SET          2

#define NGX_HTTP_THIM_CHAIN_HEADER     "SGX-PCK-Certificate-Issuer-Chain"
#define NGX_HTTP_THIM_FMSPC_HEADER     "SGX-FMSPC"
#define NGX_HTTP_THIM_CA_TYPE_HEADER   "SGX-PCK-Certificate-CA-Type"


typedef struct {
    ngx_str_t                  uri;
    ngx_uint_t                 version;        /* of the TCB info used */
    ngx_uint_t                 form;
    ngx_uint_t                 metadata;       /* Metadata: true needed */
} ngx_http_thim_pckcert_path_t;


/* one request, from its arguments to its answer */
typedef struct {
    ngx_http_thim_pckcert_path_t  *path;
    ngx_uint_t                 form;
    ngx_http_thim_tcb_t        raw;            /* cpusvn and pcesvn */
    u_char                     pceid[NGX_HTTP_THIM_PCEID_BYTES];

    /* copies of the set's record, kept past its key */
    ngx_str_t                  set;
    ngx_str_t                  chain;
    ngx_str_t                  fmspc;
    ngx_str_t                  ca_type;
    ngx_http_thim_parts_t      parts;

    ngx_str_t                  derived;        /* key of the chosen
                                                  certificate's answer */
    ngx_uint_t                 tcb_version;    /* of the TCB info asked */
    u_char                     tcb_fmspc[NGX_HTTP_THIM_FMSPC_HEX];
} ngx_http_thim_pckcert_t;


/* the parameters, still percent-encoded, as far as the route has them */
typedef struct {
    ngx_str_t                  ppid;
    ngx_str_t                  cpusvn;
    ngx_str_t                  pcesvn;
    ngx_str_t                  pceid;
    ngx_str_t                  qeid;
} ngx_http_thim_pckcert_args_t;


static ngx_http_thim_pckcert_path_t *ngx_http_thim_pckcert_path(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_thim_pckcert_args(ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_args_t *args, ngx_http_thim_pckcert_args_t *a,
    char **reason, char **parameter);
static ngx_int_t ngx_http_thim_pckcert_names(ngx_http_thim_args_t *args,
    char **reason, char **parameter);
static ngx_int_t ngx_http_thim_pckcert_hex(ngx_http_thim_args_t *args,
    char *name, size_t len, ngx_uint_t required, ngx_str_t *value,
    char **reason);
static ngx_int_t ngx_http_thim_pckcert_set_key(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_args_t *a);
static ngx_int_t ngx_http_thim_pckcert_set_origin(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_args_t *a);
static ngx_int_t ngx_http_thim_pckcert_platform_key(ngx_pool_t *pool,
    char *tag, ngx_str_t *id, ngx_str_t *pceid, ngx_str_t *key);
static ngx_int_t ngx_http_thim_pckcert_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_pckcert_args_t *a);
static ngx_int_t ngx_http_thim_pckcert_derived_key(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_t *pc, ngx_http_thim_pckcert_args_t *a);
static void ngx_http_thim_pckcert_keep_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_record_t *rec);
static ngx_int_t ngx_http_thim_pckcert_from_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc);
static ngx_int_t ngx_http_thim_pckcert_digest(u_char *dst, char *tag,
    ngx_str_t *id, ngx_str_t *pceid, size_t hex);
static char *ngx_http_thim_pckcert_too_long(ngx_str_t *query);
static void ngx_http_thim_pckcert_hide_raw(ngx_http_request_t *r,
    ngx_uint_t done);
static ngx_int_t ngx_http_thim_pckcert_log_phase(ngx_http_request_t *r);
static u_char *ngx_http_thim_pckcert_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static void ngx_http_thim_pckcert_init_connection(ngx_connection_t *c);
static ngx_int_t ngx_http_thim_pckcert_private(ngx_http_request_t *r,
    ngx_str_t *query, ngx_uint_t line_only);
static ngx_int_t ngx_http_thim_pckcert_hidden_query(ngx_pool_t *pool,
    ngx_str_t *query, ngx_str_t *q);
static ngx_int_t ngx_http_thim_pckcert_hidden_line(ngx_http_request_t *r,
    ngx_str_t *q, ngx_str_t *uri, ngx_str_t *args);
static u_char *ngx_http_thim_pckcert_show(u_char *p, ngx_str_t *s,
    ngx_uint_t show);
static ngx_uint_t ngx_http_thim_pckcert_plain(ngx_str_t *s, size_t max,
    ngx_uint_t digits);
static ngx_uint_t ngx_http_thim_pckcert_shown(ngx_str_t *key);
static u_char *ngx_http_thim_pckcert_log_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_thim_pckcert_after_set(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_pckcert_after_tcb(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_pckcert_tcb(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc,
    ngx_uint_t version);
static ngx_int_t ngx_http_thim_pckcert_no_tcb(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc);
static ngx_int_t ngx_http_thim_pckcert_copy(ngx_http_request_t *r,
    ngx_http_thim_record_t *rec, char *name, ngx_str_t *copy);
static ngx_int_t ngx_http_thim_pckcert_levels(ngx_str_t *tcb_info,
    ngx_http_thim_tcb_t *levels, ngx_uint_t *nlevels, char **reason);
static ngx_int_t ngx_http_thim_pckcert_select(ngx_http_request_t *r,
    ngx_http_thim_pckcert_t *pc, ngx_str_t *tcb_info, ngx_str_t *pem,
    ngx_str_t *tcbm, char **reason);
static ngx_int_t ngx_http_thim_pckcert_answer(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc, ngx_str_t *pem,
    ngx_str_t *tcbm);
static ngx_int_t ngx_http_thim_pckcert_azure(ngx_http_request_t *r,
    ngx_http_thim_pckcert_t *pc, ngx_str_t *pem, ngx_str_t *tcbm,
    ngx_str_t *body);
static ngx_int_t ngx_http_thim_pckcert_manifest_origin(
    ngx_http_thim_ctx_t *ctx, ngx_str_t *manifest, ngx_str_t *pceid);
static ngx_int_t ngx_http_thim_pckcert_check(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body, char **reason, time_t *next_update);


static ngx_http_thim_pckcert_path_t  ngx_http_thim_pckcert_paths[] = {
    { ngx_string("/sgx/certification/v4/pckcert"), 4,
      NGX_HTTP_THIM_PCK_PEM, 0 },
    { ngx_string("/sgx/certification/v3/pckcert"), 3,
      NGX_HTTP_THIM_PCK_PEM, 0 },
    { ngx_string("/sgx/certification/v4/pckcerts"), 4,
      NGX_HTTP_THIM_PCK_SET, 0 },
    { ngx_string("/metadata/THIM/sgx/certification/v4/pckcert"), 4,
      NGX_HTTP_THIM_PCK_AZURE, 1 },
    { ngx_string("/metadata/THIM/sgx/certification/v3/pckcert"), 3,
      NGX_HTTP_THIM_PCK_AZURE, 1 },
    { ngx_null_string, 0, 0, 0 }
};


/*
 * A platform's certificate set: Intel's pckcerts JSON, kept with its
 * chain, FMSPC and CA type; the query carries an encrypted PPID and needs
 * the API key.
 */
static ngx_http_thim_route_t  ngx_http_thim_pckcerts_route = {
    ngx_string("pck certificates"), NGX_HTTP_THIM_ORIGIN_INTEL,
    ngx_string("application/json"),
    ngx_string(NGX_HTTP_THIM_CHAIN_HEADER),
    { ngx_string(NGX_HTTP_THIM_CHAIN_HEADER), ngx_null_string },
    ngx_http_thim_pckcert_check, 0,
    { ngx_string(NGX_HTTP_THIM_FMSPC_HEADER),
      ngx_string(NGX_HTTP_THIM_CA_TYPE_HEADER) },
    1
};

static ngx_str_t  ngx_http_thim_pckcerts_origin_path =
    ngx_string("/sgx/certification/v4/pckcerts");

/* the parameters of the PCK routes */
static char  *ngx_http_thim_pckcert_params[] = {
    "encrypted_ppid", "qeid", "cpusvn", "pcesvn", "pceid", NULL
};

/*
 * nginx's error-line text of a connection, which ours filters, and its
 * error-line context of a request, which ours wraps.  They are kept here
 * as the filter chain keeps its next filters: nginx sets the same two
 * functions (ngx_http_log_error(), ngx_http_log_error_handler()) on every
 * HTTP connection and request of the process, so one copy is every
 * connection's; ours is never taken as the next one (that would loop).
 * A per-request copy in the context would not do: the log handler must
 * work before the context exists and after an internal redirect clears
 * it.
 */
static ngx_log_handler_pt  ngx_http_thim_pckcert_next_error;
static ngx_http_log_handler_pt  ngx_http_thim_pckcert_next_log_handler;


/* NGX_DECLINED: not a PCK certificate route */

ngx_int_t
ngx_http_thim_pckcert_handler(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *query)
{
    char                          *reason, *parameter;
    ngx_int_t                      rc;
    ngx_http_thim_args_t           args;
    ngx_http_thim_pckcert_t       *pc;
    ngx_http_thim_pckcert_args_t   a;
    ngx_http_thim_pckcert_path_t  *path;

    path = ngx_http_thim_pckcert_path(r);
    if (path == NULL) {
        return NGX_DECLINED;
    }

    pc = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_pckcert_t));
    if (pc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->path = path;
    pc->form = path->form;

    /* the request line lost the ids already (ngx_http_thim_pckcert_hide) */
    rc = ngx_http_thim_args_parse(query->data, query->len, &args);

    if (rc != NGX_OK) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                             "query string too long or too many parameters",
                             ngx_http_thim_pckcert_too_long(query));
    }

    if (path->metadata && ngx_http_thim_metadata_true(r) != NGX_OK) {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                        "the Metadata: true header is "
                                        "required", "Metadata");
    }

    /* PROTOCOLS.md 1b: Azure's client adds these; QCNL reads either form */
    if (pc->form == NGX_HTTP_THIM_PCK_PEM
        && (ngx_http_thim_args_find(&args, (u_char *) "clientid", 8)
            || ngx_http_thim_args_find(&args, (u_char *) "api-version", 11)))
    {
        pc->form = NGX_HTTP_THIM_PCK_AZURE;
    }

    parameter = NULL;

    if (ngx_http_thim_pckcert_args(pc, &args, &a, &reason, &parameter)
        != NGX_OK)
    {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST, reason,
                                        parameter);
    }

    if (ngx_http_thim_pckcert_set_key(ctx, &a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->expect = pc;

    rc = ngx_http_thim_pckcert_derived(r, ctx, pc, &a);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* only now, when the set may have to be fetched */
    if (ngx_http_thim_pckcert_set_origin(ctx, &a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * A certificate asked before, its sources still fresh: answered from its
 * kept answer in one lookup.  NGX_DECLINED: the set is served next (a
 * set's own request, or the selection after it).
 */

static ngx_int_t
ngx_http_thim_pckcert_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_pckcert_args_t *a)
{
    ngx_int_t  rc;

    if (pc->form == NGX_HTTP_THIM_PCK_SET) {
        return NGX_DECLINED;
    }

    if (ngx_http_thim_pckcert_derived_key(ctx, pc, a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_thim_derived_lookup(r, ctx, &pc->derived);

    if (rc == NGX_OK) {
        return ngx_http_thim_pckcert_from_derived(r, ctx, pc);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = pc;
    ctx->next = ngx_http_thim_pckcert_after_set;

    return NGX_DECLINED;
}


/*
 * "intel-pck-tcb:<platform digest>:<TCB info>:<cpusvn><pcesvn>", the TCB
 * info being what ngx_http_thim_intel_set_tcb() will choose: v3, or v4
 * with the pinned evaluation number or the update policy.
 */

static ngx_int_t
ngx_http_thim_pckcert_derived_key(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_t *pc, ngx_http_thim_pckcert_args_t *a)
{
    u_char                    *p;
    ngx_str_t                  path;
    ngx_http_thim_loc_conf_t  *tlcf;
    u_char                     buf[NGX_HTTP_THIM_DIGEST_HEX
                                   + sizeof("::v4early:") + NGX_INT_T_LEN
                                   + NGX_HTTP_THIM_CPUSVN_HEX
                                   + NGX_HTTP_THIM_SVN_HEX];

    tlcf = ctx->conf;

    /* the platform's digest, from its set's key */
    p = ngx_cpymem(buf, ctx->key.data + sizeof(NGX_HTTP_THIM_PCK_SET_TAG) - 1,
                   NGX_HTTP_THIM_DIGEST_HEX);

    if (pc->path->version == 3) {
        p = ngx_cpymem(p, ":v3:", 4);

    } else if (tlcf->baseline_kind == NGX_HTTP_THIM_BASELINE_FIXED) {
        p = ngx_sprintf(p, ":v4e%i:", tlcf->baseline);

    } else {
        p = ngx_cpymem(p, tlcf->update_early ? ":v4early:" : ":v4:",
                       tlcf->update_early ? 9 : 4);
    }

    ngx_http_thim_strlow(p, a->cpusvn.data, NGX_HTTP_THIM_CPUSVN_HEX);
    p += NGX_HTTP_THIM_CPUSVN_HEX;
    ngx_http_thim_strlow(p, a->pcesvn.data, NGX_HTTP_THIM_SVN_HEX);
    p += NGX_HTTP_THIM_SVN_HEX;

    path.data = buf;
    path.len = p - buf;

    return ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_PCK_TCB, &path,
                             NULL, &pc->derived);
}


/*
 * The answer is kept in the group of its platform's set, whose key is in
 * its own: at most NGX_HTTP_THIM_PCK_DERIVED_MAX per platform.
 */

static void
ngx_http_thim_pckcert_keep_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_record_t *rec)
{
    ngx_str_t  set, digest;

    ngx_http_thim_derived_keep(r, ctx, &pc->derived, rec, pc->parts.expires);

    digest.data = pc->derived.data + sizeof(NGX_HTTP_THIM_PCK_TCB_TAG) - 1;
    digest.len = NGX_HTTP_THIM_DIGEST_HEX;

    if (ngx_http_thim_key(r->pool, NGX_HTTP_THIM_KEY_PCK_SET, &digest, NULL,
                          &set)
        != NGX_OK)
    {
        return;
    }

    ngx_http_thim_cache_group(ctx->zone, &pc->derived, &set,
                              NGX_HTTP_THIM_PCK_DERIVED_MAX);
}


/* the kept answer is Intel's PEM form: as it is, or made into Azure's */

static ngx_int_t
ngx_http_thim_pckcert_from_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_pckcert_t *pc)
{
    ngx_str_t  *chain, *tcbm, body;

    if (pc->form == NGX_HTTP_THIM_PCK_PEM) {
        return ngx_http_thim_send_record(r, ctx);
    }

    chain = ngx_http_thim_record_header(&ctx->record,
                                        (u_char *) NGX_HTTP_THIM_CHAIN_HEADER,
                                        sizeof(NGX_HTTP_THIM_CHAIN_HEADER) - 1);
    tcbm = ngx_http_thim_record_header(&ctx->record, (u_char *) "SGX-TCBm",
                                       sizeof("SGX-TCBm") - 1);

    if (chain == NULL || tcbm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->chain = *chain;
    pc->parts.expires = ctx->expires;

    if (ngx_http_thim_pckcert_azure(r, pc, &ctx->record.body, tcbm, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->record.body = body;
    ngx_str_set(&ctx->record.content_type, "application/json");

    return ngx_http_thim_send_record(r, ctx);
}


static ngx_http_thim_pckcert_path_t *
ngx_http_thim_pckcert_path(ngx_http_request_t *r)
{
    ngx_http_thim_pckcert_path_t  *path;

    for (path = ngx_http_thim_pckcert_paths; path->uri.len; path++) {
        if (r->uri.len == path->uri.len
            && ngx_strncmp(r->uri.data, path->uri.data, r->uri.len) == 0)
        {
            return path;
        }
    }

    return NULL;
}


/*
 * Every parameter at its exact length in hex (PROTOCOLS.md 1a): the
 * encrypted PPID (768), pceid (4), and for pckcert cpusvn (32), pcesvn (4,
 * little-endian) and an optional qeid (32).  pckcerts needs a real PPID.
 */

static ngx_int_t
ngx_http_thim_pckcert_args(ngx_http_thim_pckcert_t *pc,
    ngx_http_thim_args_t *args, ngx_http_thim_pckcert_args_t *a,
    char **reason, char **parameter)
{
    u_char      b[NGX_HTTP_THIM_CPUSVN_HEX / 2];
    ngx_uint_t  i, set;

    set = (pc->form == NGX_HTTP_THIM_PCK_SET);

    ngx_memzero(a, sizeof(ngx_http_thim_pckcert_args_t));

    if (ngx_http_thim_pckcert_names(args, reason, parameter) != NGX_OK) {
        return NGX_DECLINED;
    }

    *parameter = "encrypted_ppid";
    *reason = "encrypted_ppid must be 768 hexadecimal digits";

    if (ngx_http_thim_pckcert_hex(args, *parameter, NGX_HTTP_THIM_PPID_HEX,
                                  set, &a->ppid, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *parameter = "pceid";
    *reason = "pceid must be 4 hexadecimal digits";

    if (ngx_http_thim_pckcert_hex(args, *parameter, NGX_HTTP_THIM_SVN_HEX, 1,
                                  &a->pceid, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    (void) ngx_http_thim_hex_decode(pc->pceid, a->pceid.data,
                                    NGX_HTTP_THIM_SVN_HEX);

    /* QCNL sends 768 zeros when it has no PPID: that is none */
    for (i = 0; i < a->ppid.len && a->ppid.data[i] == '0'; i++) {
        /* void */
    }

    if (i == a->ppid.len) {
        if (set && a->ppid.len) {
            *parameter = "encrypted_ppid";
            *reason = "pckcerts needs a real encrypted PPID";
            return NGX_DECLINED;
        }

        ngx_str_null(&a->ppid);
    }

    if (set) {
        return NGX_OK;
    }

    *parameter = "cpusvn";
    *reason = "cpusvn must be 32 hexadecimal digits";

    if (ngx_http_thim_pckcert_hex(args, *parameter, NGX_HTTP_THIM_CPUSVN_HEX,
                                  1, &a->cpusvn, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *parameter = "pcesvn";
    *reason = "pcesvn must be 4 hexadecimal digits";

    if (ngx_http_thim_pckcert_hex(args, *parameter, NGX_HTTP_THIM_SVN_HEX, 1,
                                  &a->pcesvn, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *parameter = "qeid";
    *reason = "qeid must be 32 hexadecimal digits";

    if (ngx_http_thim_pckcert_hex(args, *parameter, NGX_HTTP_THIM_QEID_HEX, 0,
                                  &a->qeid, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (a->ppid.len == 0 && a->qeid.len == 0) {
        *parameter = "qeid";
        *reason = "a platform is named by its encrypted_ppid or its qeid";
        return NGX_DECLINED;
    }

    (void) ngx_http_thim_hex_decode(pc->raw.comp, a->cpusvn.data,
                                    NGX_HTTP_THIM_CPUSVN_HEX);
    (void) ngx_http_thim_hex_decode(b, a->pcesvn.data, NGX_HTTP_THIM_SVN_HEX);

    /* little-endian, as Intel defines it and every client sends it */
    pc->raw.pcesvn = b[0] | b[1] << 8;

    return NGX_OK;
}


/*
 * Parameter names are case-sensitive (PROTOCOLS.md G6; every client sends
 * them in lower case, as Intel documents them), but another spelling of
 * one of ours is refused rather than ignored: "QEID=" or
 * "encrypted%5Fppid=" ignored would quietly key or fetch the platform
 * otherwise than the client meant.
 */

static ngx_int_t
ngx_http_thim_pckcert_names(ngx_http_thim_args_t *args, char **reason,
    char **parameter)
{
    char                 *name;
    u_char                buf[96];
    size_t                len;
    ngx_uint_t            i, k;
    ngx_str_t             key;

    for (i = 0; i < args->nargs; i++) {
        key = args->args[i].key;

        /* the longest name, each byte escaped */
        if (key.len > sizeof(buf)) {
            continue;
        }

        if (ngx_strlchr(key.data, key.data + key.len, '%')) {
            if (ngx_http_thim_pct_decode(buf, key.data, key.len, &len)
                != NGX_OK)
            {
                continue;
            }

            key.data = buf;
            key.len = len;
        }

        for (k = 0; ngx_http_thim_pckcert_params[k]; k++) {
            name = ngx_http_thim_pckcert_params[k];

            if (ngx_http_thim_strcaseeq(key.data, key.len, name)
                && (key.data == buf
                    || ngx_strncmp(key.data, name, key.len) != 0))
            {
                *parameter = name;
                *reason = "parameter names are case-sensitive and sent "
                          "plain, as Intel documents them";
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


/*
 * Plain hex of the exact length: no percent-escape (of a digit or
 * anything else), sign, space or other encoding of a digit.  Names are
 * case-sensitive, as every client spells them (PROTOCOLS.md G6): another
 * spelling is an unknown parameter, and a required one is then missing.
 */

static ngx_int_t
ngx_http_thim_pckcert_hex(ngx_http_thim_args_t *args, char *name, size_t len,
    ngx_uint_t required, ngx_str_t *value, char **reason)
{
    ngx_http_thim_arg_t  *arg;

    arg = ngx_http_thim_args_find(args, (u_char *) name, ngx_strlen(name));

    if (arg == NULL) {
        ngx_str_null(value);

        if (required) {
            *reason = "a required parameter is missing (parameter names "
                      "are case-sensitive)";
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (arg->value.len != len || !ngx_http_thim_is_hex(arg->value.data, len)) {
        return NGX_DECLINED;
    }

    *value = arg->value;

    return NGX_OK;
}


/*
 * key = "intel-pck:" + SHA-256 of the platform's identity: its QE ID when
 * the request names one, else its encrypted PPID, with its PCE ID.  A
 * request without a PPID can only be answered from the cache.
 */

static ngx_int_t
ngx_http_thim_pckcert_set_key(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_args_t *a)
{
    ctx->route = &ngx_http_thim_pckcerts_route;

    if (ngx_http_thim_pckcert_platform_key(ctx->pool,
                                           a->qeid.len ? "qeid" : "ppid",
                                           a->qeid.len ? &a->qeid : &a->ppid,
                                           &a->pceid, &ctx->key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (a->ppid.len == 0) {
        ctx->cache_only = 1;
        ctx->miss_reason = "no PCK certificates of this platform are cached, "
                           "and the request has no encrypted PPID to fetch "
                           "them with";
    }

    return NGX_OK;
}


/*
 * thim_intel_origin + /sgx/certification/v4/pckcerts?encrypted_ppid=&pceid=
 * (a NULL: the URI only, for a POST)
 */

static ngx_int_t
ngx_http_thim_pckcert_set_origin(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_args_t *a)
{
    u_char  *p;

    if (a && a->ppid.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_thim_origin_uri(ctx->pool, ctx->conf,
                                 NGX_HTTP_THIM_KEY_PCK_SET,
                                 &ngx_http_thim_pckcerts_origin_path,
                                 &ctx->origin_uri)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (a == NULL) {
        /* the caller sends a body */
        return NGX_OK;
    }

    ctx->origin_args.len = sizeof("encrypted_ppid=&pceid=") - 1
                           + NGX_HTTP_THIM_PPID_HEX + NGX_HTTP_THIM_SVN_HEX;
    ctx->origin_args.data = ngx_pnalloc(ctx->pool, ctx->origin_args.len);
    if (ctx->origin_args.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->origin_args.data, "encrypted_ppid=",
                   sizeof("encrypted_ppid=") - 1);
    ngx_http_thim_strlow(p, a->ppid.data, NGX_HTTP_THIM_PPID_HEX);
    p += NGX_HTTP_THIM_PPID_HEX;
    p = ngx_cpymem(p, "&pceid=", sizeof("&pceid=") - 1);
    ngx_http_thim_strlow(p, a->pceid.data, NGX_HTTP_THIM_SVN_HEX);

    return NGX_OK;
}


/* "intel-pck:" + the platform digest, in the pool (ngx_thim_key.c) */

static ngx_int_t
ngx_http_thim_pckcert_platform_key(ngx_pool_t *pool, char *tag,
    ngx_str_t *id, ngx_str_t *pceid, ngx_str_t *key)
{
    u_char     hex[NGX_HTTP_THIM_DIGEST_HEX];
    ngx_str_t  digest;

    if (ngx_http_thim_pckcert_digest(hex, tag, id, pceid,
                                     NGX_HTTP_THIM_DIGEST_HEX)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    digest.data = hex;
    digest.len = NGX_HTTP_THIM_DIGEST_HEX;

    return ngx_http_thim_key(pool, NGX_HTTP_THIM_KEY_PCK_SET, &digest, NULL,
                             key);
}


/* hex of SHA-256("<tag>:<id, lower case>:<pceid, lower case>"), cut */

static ngx_int_t
ngx_http_thim_pckcert_digest(u_char *dst, char *tag, ngx_str_t *id,
    ngx_str_t *pceid, size_t hex)
{
    u_char        low[NGX_HTTP_THIM_PPID_HEX], md[EVP_MAX_MD_SIZE];
    size_t        i, k;
    unsigned int  n;
    EVP_MD_CTX   *md_ctx;
    ngx_int_t     rc;

    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md_ctx, tag, ngx_strlen(tag)) != 1
        || EVP_DigestUpdate(md_ctx, ":", 1) != 1)
    {
        goto done;
    }

    /*
     * Any length: the redacted request line digests whatever a client
     * sent, and refusing a long value here was a 500 that logged it raw.
     */
    for (i = 0; i < id->len; i += k) {
        k = ngx_min(id->len - i, sizeof(low));
        ngx_http_thim_strlow(low, id->data + i, k);

        if (EVP_DigestUpdate(md_ctx, low, k) != 1) {
            goto done;
        }
    }

    if (EVP_DigestUpdate(md_ctx, ":", 1) != 1) {
        goto done;
    }

    if (pceid) {
        /* NGX_HTTP_THIM_SVN_HEX: validated */
        ngx_http_thim_strlow(low, pceid->data, pceid->len);

        if (EVP_DigestUpdate(md_ctx, low, pceid->len) != 1) {
            goto done;
        }
    }

    if (EVP_DigestFinal_ex(md_ctx, md, &n) != 1) {
        goto done;
    }

    ngx_hex_dump(dst, md, hex / 2);
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md_ctx);

    return rc;
}


/*
 * Before anything about the request can be logged, its 405, 404 or 400
 * too: the request line, $args and $request_uri keep only what names no
 * machine.  A value is shown only for the parameters that are not
 * identifiers, and only as short plain text; any other value, and any key
 * that is not a plain name, becomes "sha256:" and 12 hex digits of its
 * digest.  So a PPID or QE ID under any spelling of any name
 * (ENCRYPTED_PPID, encrypted%5Fppid, a bare value) is never logged, and
 * the log still tells which platform a request was about.  An unreadable
 * query is dropped.  Error lines name the origin without its query, and
 * debug logging stops for the rest of the request.
 */

static ngx_int_t
ngx_http_thim_pckcert_private(ngx_http_request_t *r, ngx_str_t *query,
    ngx_uint_t line_only)
{
    ngx_str_t  q, uri, args;

    /*
     * "debug" is the debug bits alone: what remains is info and above.
     * Also for line_only: nginx's own debug lines about a request it
     * refused print its URI and query.
     */
    if (r->connection->log->log_level & NGX_LOG_DEBUG_ALL) {
        r->connection->log->log_level = NGX_LOG_INFO;
    }

    if (ngx_http_thim_pckcert_hidden_query(r->pool, query, &q) != NGX_OK
        || ngx_http_thim_pckcert_hidden_line(r, &q, &uri, &args) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* an error line of a request still running elsewhere: its text only */
    if (line_only) {
        return NGX_OK;
    }

    r->unparsed_uri = uri;
    r->args = args;

    if (r->log_handler != ngx_http_thim_pckcert_log_handler) {
        ngx_http_thim_pckcert_next_log_handler = r->log_handler;
        r->log_handler = ngx_http_thim_pckcert_log_handler;
    }

    return NGX_OK;
}


/*
 * The query as it may be logged: every name and value that is not one of
 * the few plain, short parameters shown as they are becomes a digest.
 */

static ngx_int_t
ngx_http_thim_pckcert_hidden_query(ngx_pool_t *pool, ngx_str_t *query,
    ngx_str_t *q)
{
    u_char                *p;
    size_t                 len;
    ngx_uint_t             i;
    ngx_http_thim_arg_t   *arg;
    ngx_http_thim_args_t   parsed;

    if (ngx_http_thim_args_parse(query->data, query->len, &parsed)
        != NGX_OK)
    {
        parsed.nargs = 0;
    }

    len = 0;

    for (i = 0; i < parsed.nargs; i++) {
        arg = &parsed.args[i];
        len += sizeof("&sha256:=sha256:") - 1 + arg->key.len
               + arg->value.len + 2 * NGX_HTTP_THIM_SHORT_DIGEST;
    }

    q->data = ngx_pnalloc(pool, len + 1);
    if (q->data == NULL) {
        return NGX_ERROR;
    }

    p = q->data;

    for (i = 0; i < parsed.nargs; i++) {
        arg = &parsed.args[i];

        if (i) {
            *p++ = '&';
        }

        p = ngx_http_thim_pckcert_show(p, &arg->key,
                                       ngx_http_thim_pckcert_plain(&arg->key,
                                                                   32, 0));
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p++ = '=';

        p = ngx_http_thim_pckcert_show(p, &arg->value,
                  ngx_http_thim_pckcert_shown(&arg->key)
                  && ngx_http_thim_pckcert_plain(&arg->value, 64, 1));
        if (p == NULL) {
            return NGX_ERROR;
        }
    }

    q->len = p - q->data;

    return NGX_OK;
}


/*
 * The request line with the hidden query q: "METHOD PATH?QUERY PROTOCOL",
 * the path as sent (the decoded URI of a mistyped route could hold a line
 * break); uri and args point into it.
 */

static ngx_int_t
ngx_http_thim_pckcert_hidden_line(ngx_http_request_t *r, ngx_str_t *q,
    ngx_str_t *uri, ngx_str_t *args)
{
    u_char     *p, *line;
    size_t      len;
    ngx_str_t   path;

    path = r->unparsed_uri;

    if (path.data) {
        p = ngx_strlchr(path.data, path.data + path.len, '?');
        if (p) {
            path.len = p - path.data;
        }

    } else {
        path = r->uri;
    }

    len = r->method_name.len + 1 + path.len + 1 + q->len + 1
          + r->http_protocol.len;

    line = ngx_pnalloc(r->pool, len);
    if (line == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(line, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    uri->data = p;
    p = ngx_cpymem(p, path.data, path.len);
    args->data = p + 1;
    args->len = q->len;

    if (q->len) {
        *p++ = '?';
        p = ngx_cpymem(p, q->data, q->len);
    }

    uri->len = p - uri->data;

    if (r->http_protocol.len) {
        *p++ = ' ';
        p = ngx_cpymem(p, r->http_protocol.data, r->http_protocol.len);
    }

    r->request_line.data = line;
    r->request_line.len = p - line;

    return NGX_OK;
}


/*
 * Which parameter made the query too long to read: one of ours with a
 * value longer than any of them may be, if there is one.
 */

static char *
ngx_http_thim_pckcert_too_long(ngx_str_t *query)
{
    char         *name;
    u_char       *p, *last, *amp, *eq;
    ngx_uint_t    i;

    p = query->data;
    last = p + query->len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        if (eq == NULL || (size_t) (amp - eq - 1) <= NGX_HTTP_THIM_PPID_HEX) {
            continue;
        }

        for (i = 0; ngx_http_thim_pckcert_params[i]; i++) {
            name = ngx_http_thim_pckcert_params[i];

            if ((size_t) (eq - p) == ngx_strlen(name)
                && ngx_strncmp(p, name, eq - p) == 0)
            {
                return name;
            }
        }
    }

    return NULL;
}


/*
 * Called first for every request of thim_intel: a PCK route, or a route
 * that is none of the known ones (a mistyped PCK route, say), is hidden.
 * *query is the query as sent, for the handler to read.
 */

ngx_int_t
ngx_http_thim_pckcert_hide(ngx_http_request_t *r, ngx_uint_t known,
    ngx_str_t *query)
{
    *query = r->args;

    if (known && ngx_http_thim_pckcert_path(r) == NULL) {
        return NGX_OK;
    }

    return ngx_http_thim_pckcert_private(r, query, 0);
}


/*
 * Requests the module never sees still carry a machine's identifiers in
 * their request line: nginx refuses a raw space, NUL or control byte in
 * it, or a bad header after it, itself, and logs the line as sent (in an
 * info-level error line and in the access log).  Every error line of an
 * HTTP connection and the log phase first pass their request through
 * here: a line that names a PCK route loses its query, as above when it
 * was read, else whole, for a short digest of it.
 */

static void
ngx_http_thim_pckcert_hide_raw(ngx_http_request_t *r, ngx_uint_t done)
{
    u_char          *p, *q, *last;
    ngx_str_t        line, args;
    static ngx_uint_t  busy;

    if (r == NULL || busy
        || r->log_handler == ngx_http_thim_pckcert_log_handler)
    {
        return;
    }

    line = r->request_line;

    if (line.data == NULL) {
        /* what nginx would log: the bytes sent, up to the line's end */
        if (r->request_start == NULL || r->header_in == NULL) {
            return;
        }

        last = r->header_in->last;

        for (q = r->request_start; q < last && *q != CR && *q != LF; q++) {
            /* void */
        }

        line.data = r->request_start;
        line.len = q - r->request_start;
    }

    last = line.data + line.len;

    if (ngx_strlcasestrn(line.data, last, (u_char *) "pckcert", 7 - 1)
        == NULL)
    {
        return;
    }

    busy = 1;

    if (r->connection->log->log_level & NGX_LOG_DEBUG_ALL) {
        r->connection->log->log_level = NGX_LOG_INFO;
    }

    if (r->request_line.len && r->uri.len && r->unparsed_uri.len) {
        args = r->args;
        (void) ngx_http_thim_pckcert_private(r, &args, !done);
        busy = 0;
        return;
    }

    q = ngx_strlchr(line.data, last, '?');

    if (q == NULL
        || ((size_t) (last - q) > sizeof("?(hidden") - 1
            && ngx_strncmp(q, "?(hidden", sizeof("?(hidden") - 1) == 0))
    {
        busy = 0;
        return;
    }

    args.data = q + 1;
    args.len = last - args.data;

    p = ngx_pnalloc(r->pool, (q - line.data) + sizeof("?(hidden )") - 1
                             + sizeof("sha256:") - 1
                             + NGX_HTTP_THIM_SHORT_DIGEST);
    if (p == NULL) {
        busy = 0;
        return;
    }

    r->request_line.data = p;

    p = ngx_cpymem(p, line.data, q - line.data);
    p = ngx_cpymem(p, "?(hidden ", sizeof("?(hidden ") - 1);
    p = ngx_http_thim_pckcert_show(p, &args, 0);

    if (p == NULL) {
        r->request_line.len = q - line.data;

    } else {
        *p++ = ')';
        r->request_line.len = p - r->request_line.data;
    }

    busy = 0;
}


/* the log phase, before the access log (ngx_http_thim_pckcert_init) */

static ngx_int_t
ngx_http_thim_pckcert_log_phase(ngx_http_request_t *r)
{
    ngx_http_thim_pckcert_hide_raw(r, 1);

    return NGX_OK;
}


/* every error line of an HTTP connection */

static u_char *
ngx_http_thim_pckcert_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_log_ctx_t  *ctx;

    ctx = log->data;

    if (ctx) {
        ngx_http_thim_pckcert_hide_raw(ctx->request, 0);
    }

    return ngx_http_thim_pckcert_next_error(log, buf, len);
}


static void
ngx_http_thim_pckcert_init_connection(ngx_connection_t *c)
{
    ngx_http_init_connection(c);

    /*
     * It may have read, refused and closed at once (deferred accept):
     * then c is back in the free list, its log gone with its pool, and
     * that request's lines were written already.
     */
    if (c->destroyed || c->fd == (ngx_socket_t) -1 || c->log == NULL
        || c->log->handler == NULL
        || c->log->handler == ngx_http_thim_pckcert_log_error)
    {
        return;
    }

    /* ngx_http_log_error, for every connection */
    ngx_http_thim_pckcert_next_error = c->log->handler;
    c->log->handler = ngx_http_thim_pckcert_log_error;
}


/* the log phase handler goes first: the access log reads after it */

ngx_int_t
ngx_http_thim_pckcert_init(ngx_conf_t *cf)
{
    ngx_array_t                *a;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    a = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;

    h = ngx_array_push(a);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = a->elts;
    ngx_memmove(&h[1], &h[0], (a->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = ngx_http_thim_pckcert_log_phase;

    return NGX_OK;
}


/* every HTTP listening socket's connections get the error-line filter */

ngx_int_t
ngx_http_thim_pckcert_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_listening_t  *ls;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].handler == ngx_http_init_connection) {
            ls[i].handler = ngx_http_thim_pckcert_init_connection;
        }
    }

    return NGX_OK;
}


/* s as it is, or "sha256:" and a short digest of it */

static u_char *
ngx_http_thim_pckcert_show(u_char *p, ngx_str_t *s, ngx_uint_t show)
{
    if (show || s->len == 0) {
        return ngx_cpymem(p, s->data, s->len);
    }

    p = ngx_cpymem(p, "sha256:", sizeof("sha256:") - 1);

    if (ngx_http_thim_pckcert_digest(p, "id", s, NULL,
                                     NGX_HTTP_THIM_SHORT_DIGEST)
        != NGX_OK)
    {
        return NULL;
    }

    return p + NGX_HTTP_THIM_SHORT_DIGEST;
}


/* at most max letters, "_" and "-" (and digits and "." when asked) */

static ngx_uint_t
ngx_http_thim_pckcert_plain(ngx_str_t *s, size_t max, ngx_uint_t digits)
{
    u_char  c;
    size_t  i;

    if (s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || c == '_' || c == '-'
              || (digits && ((c >= '0' && c <= '9') || c == '.'))))
        {
            return 0;
        }
    }

    return 1;
}


/* a parameter whose value says nothing of the machine */

static ngx_uint_t
ngx_http_thim_pckcert_shown(ngx_str_t *key)
{
    ngx_uint_t   i;
    static char  *shown[] = { "cpusvn", "pcesvn", "pceid", "clientid",
                              "api-version", NULL };

    for (i = 0; shown[i]; i++) {
        if (key->len == ngx_strlen(shown[i])
            && ngx_strncmp(key->data, shown[i], key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * nginx's own error-line context, minus the upstream's URI: for a fetch
 * of pckcerts it would carry the encrypted PPID.
 */

static u_char *
ngx_http_thim_pckcert_log_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char               *p;
    ngx_http_upstream_t  *u;

    p = ngx_http_thim_pckcert_next_log_handler(r, r, buf, len);
    len -= p - buf;
    buf = p;

    if (sr != r) {
        p = ngx_snprintf(buf, len, ", subrequest: \"%V\"", &sr->uri);
        len -= p - buf;
        buf = p;
    }

    u = sr->upstream;

    if (u && u->peer.name) {
        p = ngx_snprintf(buf, len, ", upstream: \"%V%V\" (query hidden)",
                         &u->schema, u->peer.name);
    }

    return p;
}


/* the set is ready: keep what selection needs, then the TCB info */

static ngx_int_t
ngx_http_thim_pckcert_after_set(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx)
{
    u_char                    fmspc[NGX_HTTP_THIM_FMSPC_HEX];
    ngx_http_thim_pckcert_t  *pc = ctx->data;

    pc->set.len = ctx->record.body.len;
    pc->set.data = ngx_pnalloc(r->pool, pc->set.len);
    if (pc->set.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(pc->set.data, ctx->record.body.data, pc->set.len);

    if (ngx_http_thim_pckcert_copy(r, &ctx->record,
                                   NGX_HTTP_THIM_CHAIN_HEADER, &pc->chain)
        != NGX_OK
        || ngx_http_thim_pckcert_copy(r, &ctx->record,
                                      NGX_HTTP_THIM_FMSPC_HEADER, &pc->fmspc)
           != NGX_OK
        || ngx_http_thim_pckcert_copy(r, &ctx->record,
                                      NGX_HTTP_THIM_CA_TYPE_HEADER,
                                      &pc->ca_type)
           != NGX_OK
        || pc->fmspc.len != NGX_HTTP_THIM_FMSPC_HEX)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thim_parts_add(&pc->parts, ctx);

    ngx_http_thim_strlow(fmspc, pc->fmspc.data, NGX_HTTP_THIM_FMSPC_HEX);
    ngx_memcpy(pc->tcb_fmspc, fmspc, NGX_HTTP_THIM_FMSPC_HEX);

    /* the set's record is unpinned; the TCB info is served next */
    ngx_http_thim_ctx_next_key(ctx);

    return ngx_http_thim_pckcert_tcb(r, ctx, pc, pc->path->version);
}


/*
 * The FMSPC's TCB info of that version; an origin that has none (its
 * 404) comes back to after_tcb too, so that v3 can fall back to v4.
 */

static ngx_int_t
ngx_http_thim_pckcert_tcb(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_t *pc, ngx_uint_t version)
{
    pc->tcb_version = version;
    ctx->next = ngx_http_thim_pckcert_after_tcb;
    ctx->next_on_missing = 1;

    /* the set's own (a manifest's POST pckcerts) is not the TCB info's */
    ngx_str_null(&ctx->origin_body);

    if (ngx_http_thim_intel_set_tcb(ctx, pc->tcb_fmspc, version) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * The origin has no TCB info of this version for the FMSPC.  A v3
 * certificate is chosen by the v4 TCB info of the same FMSPC then: its
 * levels are in the same order (Intel's selection needs the order only).
 */

static ngx_int_t
ngx_http_thim_pckcert_no_tcb(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_t *pc)
{
    char  *reason;

    ngx_http_thim_ctx_next_key(ctx);
    ctx->next_on_missing = 0;

    if (pc->tcb_version == 3) {
        return ngx_http_thim_pckcert_tcb(r, ctx, pc, 4);
    }

    ctx->next = NULL;
    ctx->cache_status = pc->parts.cache_status;

    reason = ngx_pnalloc(r->pool, 128);
    if (reason == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf((u_char *) reason,
                    "the origin has no SGX TCB info %s for FMSPC %*s, "
                    "which selection needs%Z",
                    pc->path->version == 3 ? "(v3, nor v4)" : "(v4)",
                    (size_t) NGX_HTTP_THIM_FMSPC_HEX, pc->tcb_fmspc);

    return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND, reason,
                                    "fmspc");
}


static ngx_int_t
ngx_http_thim_pckcert_after_tcb(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx)
{
    char                     *reason;
    ngx_int_t                 rc;
    ngx_str_t                 pem, tcbm;
    ngx_http_thim_pckcert_t  *pc = ctx->data;

    if (ctx->record.status == NGX_HTTP_NOT_FOUND) {
        return ngx_http_thim_pckcert_no_tcb(r, ctx, pc);
    }

    ngx_http_thim_parts_add(&pc->parts, ctx);

    rc = ngx_http_thim_pckcert_select(r, pc, &ctx->record.body, &pem, &tcbm,
                                      &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_thim_ctx_next_key(ctx);
        ctx->next = NULL;
        ctx->cache_status = pc->parts.cache_status;

        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND, reason,
                                        NULL);
    }

    return ngx_http_thim_pckcert_answer(r, ctx, pc, &pem, &tcbm);
}


static ngx_int_t
ngx_http_thim_pckcert_copy(ngx_http_request_t *r, ngx_http_thim_record_t *rec,
    char *name, ngx_str_t *copy)
{
    ngx_str_t  *value;

    value = ngx_http_thim_record_header(rec, (u_char *) name,
                                        ngx_strlen(name));
    if (value == NULL) {
        return NGX_ERROR;
    }

    copy->len = value->len;
    copy->data = ngx_pnalloc(r->pool, value->len);
    if (copy->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy->data, value->data, value->len);

    return NGX_OK;
}


/*
 * Intel's rule over the set and the TCB info's levels.  NGX_DECLINED with
 * a reason when no certificate qualifies; the chosen certificate's PEM
 * and its tcbm (as Intel wrote it) otherwise.
 */

static ngx_int_t
ngx_http_thim_pckcert_select(ngx_http_request_t *r,
    ngx_http_thim_pckcert_t *pc, ngx_str_t *tcb_info, ngx_str_t *pem,
    ngx_str_t *tcbm, char **reason)
{
    size_t                      i, len;
    json_t                     *set, *item;
    ngx_int_t                   rc;
    ngx_uint_t                  n, nlevels, chosen;
    json_error_t                err;
    ngx_http_thim_tcb_t        *certs, *levels;
    ngx_http_thim_pck_entry_t   entry, *entries;

    certs = ngx_palloc(r->pool, 2 * NGX_HTTP_THIM_PCK_MAX
                                * sizeof(ngx_http_thim_tcb_t));
    entries = ngx_palloc(r->pool, NGX_HTTP_THIM_PCK_MAX
                                  * sizeof(ngx_http_thim_pck_entry_t));

    if (certs == NULL || entries == NULL) {
        return NGX_ERROR;
    }

    levels = certs + NGX_HTTP_THIM_PCK_MAX;

    /* the set was checked when it was fetched; read again as strictly */
    if (ngx_http_thim_json_strict(pc->set.data, pc->set.len, reason)
        != NGX_OK
        || ngx_http_thim_pckcert_levels(tcb_info, levels, &nlevels, reason)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    set = json_loadb((const char *) pc->set.data, pc->set.len,
                     JSON_REJECT_DUPLICATES, &err);
    if (set == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    /* certificates only */
    n = 0;

    json_array_foreach(set, i, item) {
        if (n < NGX_HTTP_THIM_PCK_MAX
            && ngx_http_thim_pck_entry(item, &entry) == NGX_OK
            && entry.cert)
        {
            entries[n] = entry;
            certs[n++] = entry.tcb;
        }
    }

    if (ngx_http_thim_pck_select(&pc->raw, certs, n, levels, nlevels, &chosen)
        != NGX_OK)
    {
        *reason = "no PCK certificate of this platform is at or below the "
                  "raw TCB asked for (cpusvn, pcesvn)";
        rc = NGX_DECLINED;
        goto done;
    }

    len = ngx_strlen(entries[chosen].cert);

    pem->data = ngx_pnalloc(r->pool, len);
    tcbm->data = ngx_pnalloc(r->pool, NGX_HTTP_THIM_TCBM_LEN);

    if (pem->data == NULL || tcbm->data == NULL
        || ngx_http_thim_pct_decode(pem->data,
                                    (u_char *) entries[chosen].cert, len,
                                    &pem->len)
           != NGX_OK)
    {
        goto done;
    }

    ngx_memcpy(tcbm->data, entries[chosen].tcbm, NGX_HTTP_THIM_TCBM_LEN);
    tcbm->len = NGX_HTTP_THIM_TCBM_LEN;

    rc = NGX_OK;

done:

    json_decref(set);

    return rc;
}


/*
 * The TCB levels of a TCB info, read only out of the bytes its signature
 * covers (checked when it was fetched; read again as strictly).
 */

static ngx_int_t
ngx_http_thim_pckcert_levels(ngx_str_t *tcb_info, ngx_http_thim_tcb_t *levels,
    ngx_uint_t *nlevels, char **reason)
{
    size_t         signed_len, sig_len;
    u_char        *signed_data, *sig;
    json_t        *info, *signed_info;
    ngx_int_t      rc;
    json_error_t   err;

    if (ngx_http_thim_json_signed(tcb_info->data, tcb_info->len, "tcbInfo",
                                  &signed_data, &signed_len, &sig, &sig_len,
                                  reason)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    info = json_object();
    signed_info = json_loadb((const char *) signed_data, signed_len,
                             JSON_REJECT_DUPLICATES, &err);

    if (info == NULL || signed_info == NULL) {
        json_decref(signed_info);
        json_decref(info);
        return NGX_ERROR;
    }

    /* the object takes signed_info over, even when it fails */
    if (json_object_set_new(info, "tcbInfo", signed_info) != 0) {
        json_decref(info);
        return NGX_ERROR;
    }

    rc = ngx_http_thim_pck_levels(info, levels, NGX_HTTP_THIM_PCK_MAX,
                                  nlevels);

    json_decref(info);

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* PEM (Intel's form) or Azure's JSON; Intel's headers on both */

static ngx_int_t
ngx_http_thim_pckcert_answer(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_pckcert_t *pc, ngx_str_t *pem, ngx_str_t *tcbm)
{
    ngx_http_thim_record_t  rec;

    ngx_memzero(&rec, sizeof(ngx_http_thim_record_t));

    rec.status = NGX_HTTP_OK;
    rec.body = *pem;
    ngx_str_set(&rec.content_type, "application/x-pem-file");

    ngx_str_set(&rec.names[0], NGX_HTTP_THIM_CHAIN_HEADER);
    rec.values[0] = pc->chain;
    ngx_str_set(&rec.names[1], "SGX-TCBm");
    rec.values[1] = *tcbm;
    ngx_str_set(&rec.names[2], NGX_HTTP_THIM_FMSPC_HEADER);
    rec.values[2] = pc->fmspc;
    ngx_str_set(&rec.names[3], NGX_HTTP_THIM_CA_TYPE_HEADER);
    rec.values[3] = pc->ca_type;
    rec.nheaders = 4;

    /* the next request for this raw TCB costs one lookup */
    if (pc->parts.cache_status == NGX_HTTP_THIM_CACHE_HIT
        || pc->parts.cache_status == NGX_HTTP_THIM_CACHE_MISS)
    {
        ngx_http_thim_pckcert_keep_derived(r, ctx, pc, &rec);
    }

    if (pc->form == NGX_HTTP_THIM_PCK_AZURE) {
        if (ngx_http_thim_pckcert_azure(r, pc, pem, tcbm, &rec.body)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&rec.content_type, "application/json");
    }

    /* the TCB info's record is unpinned; the answer is this request's */
    ngx_http_thim_ctx_next_key(ctx);

    ctx->record = rec;
    ctx->next = NULL;
    ctx->expires = pc->parts.expires;
    ctx->cache_status = pc->parts.cache_status;

    return ngx_http_thim_send_record(r, ctx);
}


/*
 * {"pckCert":"<PEM>","sgx-Pck-Certificate-Issuer-Chain":"<pct-encoded>",
 *  "sgx-Tcbm":"<36 hex>","cacheMaxAge":<seconds>}: all four keys, always
 * (the Azure DCAP client aborts the process when one is missing).
 */

static ngx_int_t
ngx_http_thim_pckcert_azure(ngx_http_request_t *r,
    ngx_http_thim_pckcert_t *pc, ngx_str_t *pem, ngx_str_t *tcbm,
    ngx_str_t *body)
{
    u_char  *p;
    time_t   left;
    size_t   len;

    left = pc->parts.expires - ngx_time();

    if (left <= 0) {
        left = NGX_HTTP_THIM_STALE_MAX_AGE;
    }

    left = ngx_min(left, NGX_HTTP_THIM_MAX_AGE);

    len = sizeof("{\"pckCert\":\"\",\"sgx-Pck-Certificate-Issuer-Chain\":"
                 "\"\",\"sgx-Tcbm\":\"\",\"cacheMaxAge\":}") - 1
          + pem->len + ngx_escape_json(NULL, pem->data, pem->len)
          + pc->chain.len
          + ngx_escape_json(NULL, pc->chain.data, pc->chain.len)
          + tcbm->len + NGX_TIME_T_LEN;

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body->data, "{\"pckCert\":\"", sizeof("{\"pckCert\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, pem->data, pem->len);
    p = ngx_cpymem(p, "\",\"sgx-Pck-Certificate-Issuer-Chain\":\"",
                   sizeof("\",\"sgx-Pck-Certificate-Issuer-Chain\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, pc->chain.data, pc->chain.len);
    p = ngx_cpymem(p, "\",\"sgx-Tcbm\":\"", sizeof("\",\"sgx-Tcbm\":\"") - 1);
    p = ngx_cpymem(p, tcbm->data, tcbm->len);
    p = ngx_sprintf(p, "\",\"cacheMaxAge\":%T}", left);

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * A pckcerts answer enters the cache only whole and genuine
 * (ngx_thim_pck_set.c), agreeing with its SGX-FMSPC and
 * SGX-PCK-Certificate-CA-Type headers and the PCE ID asked for.  Its
 * lifetime is thim_cache_valid's: Intel adds certificates when it adds
 * TCB levels.
 */

static ngx_int_t
ngx_http_thim_pckcert_check(ngx_http_thim_ctx_t *ctx, ngx_str_t *body,
    char **reason, time_t *next_update)
{
    time_t                     not_after;
    ngx_http_thim_pck_set_t    set;
    ngx_http_thim_pckcert_t   *pc;
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ctx->conf;
    pc = ctx->expect;

    set.chain = ngx_pnalloc(ctx->pool, ctx->chain.len + 1);
    if (set.chain == NULL
        || ngx_http_thim_pct_decode(set.chain, ctx->chain.data,
                                    ctx->chain.len, &set.chain_len)
           != NGX_OK)
    {
        *reason = "the issuer chain header is not percent-encoded PEM";
        return NGX_DECLINED;
    }

    set.body = body->data;
    set.len = body->len;
    set.root = tlcf->intel_root;
    set.at = ngx_time();
    set.fmspc = ctx->kept[0];
    set.ca_type = ctx->kept[1];
    set.pceid = pc ? pc->pceid : NULL;

    if (ngx_http_thim_intel_root_crl(ctx, &set.root_crl) != NGX_OK) {
        *reason = "the cached Intel root CA CRL cannot be read";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_verify_pck_set(&set, &not_after, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    /*
     * A set holds until its first certificate expires: thim_cache_valid
     * bounds how long before it is fetched again, thim_next_update_grace
     * counts from here, not from the last fetch.
     */
    *next_update = not_after;

    return NGX_OK;
}


/*
 * The ways back from a record read from a file (ngx_thim_persist.c) to
 * what a fetch of it would have had.  A snapshot's key is the set's own:
 * "intel-pck:" and a digest, the path it is split into is the digest.  A
 * bundle names Intel's request, /sgx/certification/v4/pckcerts with the
 * platform's encrypted PPID and PCE ID, and its QE ID beside it.
 */

ngx_uint_t
ngx_http_thim_pckcert_is_set(ngx_str_t *path)
{
    return (path->len && path->data[0] != '/')
           || (path->len == ngx_http_thim_pckcerts_origin_path.len
               && ngx_strncmp(path->data,
                              ngx_http_thim_pckcerts_origin_path.data,
                              path->len) == 0);
}


/*
 * ctx as a fetch of the set would have it: route, key, and (for a
 * bundle) the PCE ID its certificates must be of; a bundle entry with a
 * QE ID is keyed by it, as requests naming a qeid find it, and *alt is
 * the key by encrypted PPID, as requests without one find it.
 */

ngx_int_t
ngx_http_thim_pckcert_rekey(ngx_http_thim_ctx_t *ctx, ngx_str_t *uri,
    ngx_str_t *query, ngx_str_t *qeid, ngx_str_t *alt, char **reason)
{
    char                          *parameter;
    ngx_http_thim_args_t           args;
    ngx_http_thim_pckcert_t       *pc;
    ngx_http_thim_pckcert_args_t   a;

    ctx->route = &ngx_http_thim_pckcerts_route;
    ngx_str_null(alt);

    if (uri->len && uri->data[0] != '/') {
        if (uri->len != NGX_HTTP_THIM_DIGEST_HEX
            || !ngx_http_thim_is_hex(uri->data, uri->len))
        {
            *reason = "not the key of a PCK certificate set";
            return NGX_DECLINED;
        }

        if (ngx_http_thim_key(ctx->pool, NGX_HTTP_THIM_KEY_PCK_SET, uri,
                              NULL, &ctx->key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the PCE ID is whatever the certificates agree on */
        ctx->expect = NULL;

        return NGX_OK;
    }

    pc = ngx_pcalloc(ctx->pool, sizeof(ngx_http_thim_pckcert_t));
    if (pc == NULL) {
        return NGX_ERROR;
    }

    pc->form = NGX_HTTP_THIM_PCK_SET;

    if (ngx_http_thim_args_parse(query->data, query->len, &args) != NGX_OK
        || ngx_http_thim_pckcert_args(pc, &args, &a, reason, &parameter)
           != NGX_OK)
    {
        *reason = "not Intel's pckcerts request for one platform";
        return NGX_DECLINED;
    }

    if (qeid->len) {
        if (qeid->len != NGX_HTTP_THIM_QEID_HEX
            || !ngx_http_thim_is_hex(qeid->data, qeid->len))
        {
            *reason = "qeid must be 32 hexadecimal digits";
            return NGX_DECLINED;
        }

        if (ngx_http_thim_pckcert_platform_key(ctx->pool, "ppid", &a.ppid,
                                               &a.pceid, alt)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        a.qeid = *qeid;
    }

    ctx->expect = pc;

    /* the record is checked, never fetched: no origin request is made */
    return ngx_http_thim_pckcert_set_key(ctx, &a) == NGX_OK
           ? NGX_OK : NGX_ERROR;
}


/*
 * ctx as the fetch of a registered platform's set needs it (registration
 * and its refresh, ngx_thim_pccs_reg.c): keyed by its QE ID and PCE ID,
 * as pckcert requests that name the qeid find it; fetched with its
 * encrypted PPID (GET pckcerts), or with its platform manifest (POST
 * pckcerts: a multi-package platform).  All of it validated by the
 * caller; nothing but the module's own JSON goes to the origin.
 */

ngx_int_t
ngx_http_thim_pckcert_registered(ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_platform_t *pf)
{
    ngx_http_thim_pckcert_t       *pc;
    ngx_http_thim_pckcert_args_t   a;

    pc = ngx_pcalloc(ctx->pool, sizeof(ngx_http_thim_pckcert_t));
    if (pc == NULL) {
        return NGX_ERROR;
    }

    pc->form = NGX_HTTP_THIM_PCK_SET;

    ngx_memzero(&a, sizeof(ngx_http_thim_pckcert_args_t));
    a.qeid = pf->qeid;
    a.pceid = pf->pceid;
    a.ppid = pf->manifest.len ? (ngx_str_t) ngx_null_string : pf->ppid;

    (void) ngx_http_thim_hex_decode(pc->pceid, a.pceid.data,
                                    NGX_HTTP_THIM_SVN_HEX);

    if (ngx_http_thim_pckcert_set_key(ctx, &a) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->expect = pc;

    if (pf->manifest.len == 0) {
        return ngx_http_thim_pckcert_set_origin(ctx, &a);
    }

    return ngx_http_thim_pckcert_manifest_origin(ctx, &pf->manifest,
                                                 &pf->pceid);
}


/*
 * A multi-package platform's set is fetched with PCS's POST pckcerts:
 * {"platformManifest":"<hex>","pceid":"<hex>"}, both validated by the
 * caller (hex only: nothing to escape).
 */

static ngx_int_t
ngx_http_thim_pckcert_manifest_origin(ngx_http_thim_ctx_t *ctx,
    ngx_str_t *manifest, ngx_str_t *pceid)
{
    u_char  *p;

    ctx->cache_only = 0;

    if (ngx_http_thim_pckcert_set_origin(ctx, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->origin_body.len = sizeof("{\"platformManifest\":\"\","
                                  "\"pceid\":\"\"}") - 1
                           + manifest->len + NGX_HTTP_THIM_SVN_HEX;
    ctx->origin_body.data = ngx_pnalloc(ctx->pool, ctx->origin_body.len);
    if (ctx->origin_body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->origin_body.data, "{\"platformManifest\":\"",
                   sizeof("{\"platformManifest\":\"") - 1);
    p = ngx_cpymem(p, manifest->data, manifest->len);
    p = ngx_cpymem(p, "\",\"pceid\":\"", sizeof("\",\"pceid\":\"") - 1);
    ngx_http_thim_strlow(p, pceid->data, NGX_HTTP_THIM_SVN_HEX);
    p += NGX_HTTP_THIM_SVN_HEX;
    *p++ = '"';
    *p = '}';

    ngx_str_null(&ctx->origin_args);

    return NGX_OK;
}


/*
 * A client's own PCS POST form (ngx_thim_pckcert_post.c), its body
 * validated: POST pckcerts {platformManifest, pceid} or POST pckcert
 * {platformManifest, cpusvn, pcesvn, pceid[, qeid]}.  Served as the GET
 * forms are: the set kept under the platform's QE ID when the request
 * names it (as its registration keys it), else under its manifest; the
 * whole set checked, the certificate chosen by Intel's rule.
 */

ngx_int_t
ngx_http_thim_pckcert_post(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_platform_t *pf)
{
    u_char                         b[NGX_HTTP_THIM_SVN_HEX / 2];
    ngx_int_t                      rc;
    ngx_http_thim_pckcert_t       *pc;
    ngx_http_thim_pckcert_args_t   a;

    pc = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_pckcert_t));
    if (pc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->path = ngx_http_thim_pckcert_path(r);
    if (pc->path == NULL || pc->path->metadata) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->form = pc->path->form;

    ngx_memzero(&a, sizeof(ngx_http_thim_pckcert_args_t));
    a.qeid = pf->qeid;
    a.pceid = pf->pceid;
    a.cpusvn = pf->cpusvn;
    a.pcesvn = pf->pcesvn;

    (void) ngx_http_thim_hex_decode(pc->pceid, a.pceid.data,
                                    NGX_HTTP_THIM_SVN_HEX);

    ctx->route = &ngx_http_thim_pckcerts_route;

    if (ngx_http_thim_pckcert_platform_key(ctx->pool,
                                           a.qeid.len ? "qeid" : "manifest",
                                           a.qeid.len ? &a.qeid
                                                      : &pf->manifest,
                                           &a.pceid, &ctx->key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->expect = pc;

    if (pc->form != NGX_HTTP_THIM_PCK_SET) {
        (void) ngx_http_thim_hex_decode(pc->raw.comp, a.cpusvn.data,
                                        NGX_HTTP_THIM_CPUSVN_HEX);
        (void) ngx_http_thim_hex_decode(b, a.pcesvn.data,
                                        NGX_HTTP_THIM_SVN_HEX);
        pc->raw.pcesvn = b[0] | b[1] << 8;
    }

    rc = ngx_http_thim_pckcert_derived(r, ctx, pc, &a);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_thim_pckcert_manifest_origin(ctx, &pf->manifest, &a.pceid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/* the set key of a registered platform: "intel-pck:" + its QE ID digest */

ngx_int_t
ngx_http_thim_pckcert_platform_digest(u_char *hex, ngx_str_t *qeid,
    ngx_str_t *pceid)
{
    return ngx_http_thim_pckcert_digest(hex, "qeid", qeid, pceid,
                                        NGX_HTTP_THIM_DIGEST_HEX);
}
