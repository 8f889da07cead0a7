
/*
 * ngx_thim: Azure's forms of AMD collateral (PROTOCOLS.md 1d).
 *
 *   GET /metadata/THIM/amd/certification         (header Metadata: true;
 *                                                 any URI but the next)
 *     {"vcekCert", "tcbm", "certificateChain", "cacheControl"}, the JSON
 *     of Azure THIM, for the chip and reported TCB that the operator's
 *     complex values name (thim_amd_platform_id, thim_amd_tcb_version,
 *     thim_amd_product: by default the query's platformId, tcbVersion,
 *     productName);
 *   GET /SevSnpVM/certificates/{chipID}/{reportedTCB}   (Azure ACC cache)
 *     the VCEK, ASK and ARK as one PEM.
 *
 * Both are composed from two cached KDS collateral: the product's
 * cert_chain and the chip's VCEK.  The request serves the chain's key,
 * keeps a copy of it, then serves the VCEK's key and answers; each key is
 * fetched, coalesced and kept exactly as through the KDS routes.
 *
 * The answer composed is kept as a derived record ("amd-azure:" + form,
 * product, chip and reported TCB) until the earlier of its sources
 * expires, and dropped as soon as either of them is replaced or goes
 * (ngx_http_thim_cache_depend()): a repeated question is one lookup.
 */


#include "ngx_thim_args.h"
#include "ngx_thim_amd.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_response.h"
#include "ngx_thim_tcbm.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_amd_azure.h"


#define NGX_HTTP_THIM_AZURE_THIM       1
#define NGX_HTTP_THIM_AZURE_ACC        2

#define NGX_HTTP_THIM_ACC_PREFIX       "/SevSnpVM/certificates/"

#define NGX_HTTP_THIM_AZURE_TAG        "amd-azure:"

/* THIM's cacheControl: the seconds the answer stays fresh, at most a day */
#define NGX_HTTP_THIM_AZURE_MAX_AGE    86400

/* answers kept per VCEK (two forms, a few spellings of its TCB) */
#define NGX_HTTP_THIM_AZURE_DERIVED_MAX  8


typedef struct {
    ngx_uint_t                 form;            /* THIM or ACC */
    ngx_http_thim_amd_product_t  *product;
    ngx_str_t                  hwid;
    ngx_http_thim_spl_t        spl;
    uint64_t                   tcbm;

    ngx_str_t                  chain;           /* copies of the records */
    ngx_str_t                  vcek;
    ngx_str_t                  sources[2];      /* their keys */
    ngx_str_t                  derived;         /* the answer's key */
    ngx_http_thim_parts_t      parts;
} ngx_http_thim_azure_t;


static ngx_int_t ngx_http_thim_azure_platform(ngx_http_request_t *r,
    ngx_http_thim_azure_t *az, ngx_str_t *chip, ngx_str_t *tcb,
    ngx_str_t *product, char **reason, char **parameter);
static ngx_int_t ngx_http_thim_azure_derived(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_azure_t *az);
static void ngx_http_thim_azure_keep_answer(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_azure_t *az,
    ngx_http_thim_record_t *rec, time_t left);
static ngx_int_t ngx_http_thim_azure_after_chain(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static ngx_int_t ngx_http_thim_azure_after_vcek(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx);
static void ngx_http_thim_azure_keep(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_azure_t *az, ngx_str_t *copy);
static ngx_int_t ngx_http_thim_azure_answer(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_azure_t *az);
static u_char *ngx_http_thim_azure_json_string(u_char *p, char *key,
    ngx_str_t *value, ngx_uint_t last);


ngx_int_t
ngx_http_thim_amd_azure_handler(ngx_http_request_t *r)
{
    char                      *reason, *parameter;
    u_char                    *slash;
    ngx_int_t                  rc;
    ngx_str_t                  chip, tcb, product, rest;
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_azure_t     *az;
    ngx_http_thim_loc_conf_t  *tlcf;

    rc = ngx_http_thim_begin(r, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    az = ngx_pcalloc(r->pool, sizeof(ngx_http_thim_azure_t));
    if (az == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_thim_module);

    if (ngx_http_complex_value(r, tlcf->amd_product, &product) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->uri.len > sizeof(NGX_HTTP_THIM_ACC_PREFIX) - 1
        && ngx_strncmp(r->uri.data, NGX_HTTP_THIM_ACC_PREFIX,
                       sizeof(NGX_HTTP_THIM_ACC_PREFIX) - 1)
           == 0)
    {
        rest.data = r->uri.data + sizeof(NGX_HTTP_THIM_ACC_PREFIX) - 1;
        rest.len = r->uri.len - (sizeof(NGX_HTTP_THIM_ACC_PREFIX) - 1);

        slash = ngx_strlchr(rest.data, rest.data + rest.len, '/');

        if (slash == NULL) {
            return ngx_http_thim_send_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                            "unknown collateral route", NULL);
        }

        chip.data = rest.data;
        chip.len = slash - rest.data;
        tcb.data = slash + 1;
        tcb.len = rest.data + rest.len - tcb.data;

        az->form = NGX_HTTP_THIM_AZURE_ACC;

    } else {
        /*
         * THIM, wherever the operator mounts it; as the instance metadata
         * service: no header, no answer
         */
        if (ngx_http_thim_metadata_true(r) != NGX_OK) {
            return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "the Metadata: true header is required",
                                   "Metadata");
        }

        if (ngx_http_complex_value(r, tlcf->amd_platform_id, &chip) != NGX_OK
            || ngx_http_complex_value(r, tlcf->amd_tcb_version, &tcb)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        az->form = NGX_HTTP_THIM_AZURE_THIM;
    }

    parameter = NULL;

    if (ngx_http_thim_azure_platform(r, az, &chip, &tcb, &product, &reason,
                                     &parameter)
        != NGX_OK)
    {
        return ngx_http_thim_send_error(r, ctx, NGX_HTTP_BAD_REQUEST, reason,
                                        parameter);
    }

    rc = ngx_http_thim_azure_derived(r, ctx, az);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ctx->data = az;
    ctx->next = ngx_http_thim_azure_after_chain;

    if (ngx_http_thim_amd_set_chain(ctx, az->product) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


/*
 * The chip (CHIP_ID, 128 hex), its reported TCB (1 to 16 hex: THIM
 * prints 16, the ACC cache drops leading zeros) and its product.  Without
 * a product, a CHIP_ID whose bytes 8-63 are zero is a Turin (snpguest's
 * rule); Milan and Genoa chip ids look alike, so those need the product.
 */

static ngx_int_t
ngx_http_thim_azure_platform(ngx_http_request_t *r, ngx_http_thim_azure_t *az,
    ngx_str_t *chip, ngx_str_t *tcb, ngx_str_t *product, char **reason,
    char **parameter)
{
    size_t      i;
    ngx_str_t   turin;

    if (chip->len == 0) {
        *reason = "the chip id (platformId) is missing";
        *parameter = "platformId";
        return NGX_DECLINED;
    }

    if (product->len) {
        az->product = ngx_http_thim_amd_product(product);

        if (az->product == NULL) {
            *reason = "unknown product";
            *parameter = "productName";
            return NGX_DECLINED;
        }

    } else {
        for (i = 16; i < chip->len && chip->data[i] == '0'; i++) {
            /* void */
        }

        if (chip->len != 128 || i != chip->len) {
            *reason = "the product of this chip is needed (productName, "
                      "or thim_amd_product)";
            *parameter = "productName";
            return NGX_DECLINED;
        }

        ngx_str_set(&turin, "Turin");
        az->product = ngx_http_thim_amd_product(&turin);
    }

    az->hwid = *chip;

    if (ngx_http_thim_amd_hwid(az->product, &az->hwid, reason) != NGX_OK) {
        *parameter = "platformId";
        return NGX_DECLINED;
    }

    if (tcb->len == 0
        || ngx_http_thim_tcbm_parse(tcb->data, tcb->len, &az->tcbm) != NGX_OK)
    {
        *reason = "the reported TCB (tcbVersion) must be 1 to 16 "
                  "hexadecimal digits";
        *parameter = "tcbVersion";
        return NGX_DECLINED;
    }

    ngx_http_thim_tcbm_to_spl(az->tcbm, az->product->turin, &az->spl);

    if (az->spl.bl > 127 || az->spl.tee > 127 || az->spl.snp > 127) {
        *reason = "the reported TCB has an SPL above 127";
        *parameter = "tcbVersion";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The answer as kept, if its sources are still what it was made of:
 * sent (the rc), or NGX_DECLINED: compose it.  A THIM JSON is kept only
 * while its cacheControl, frozen in it, is still a full day.
 */

static ngx_int_t
ngx_http_thim_azure_derived(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_azure_t *az)
{
    u_char     *p;
    ngx_int_t   rc;

    p = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_THIM_AZURE_TAG "thim::") - 1
                             + az->product->name.len + az->hwid.len + 16);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    az->derived.data = p;
    p = ngx_sprintf(p, NGX_HTTP_THIM_AZURE_TAG "%s:%V:",
                    az->form == NGX_HTTP_THIM_AZURE_ACC ? "acc" : "thim",
                    &az->product->name);
    ngx_http_thim_strlow(p, az->hwid.data, az->hwid.len);
    p = ngx_http_thim_tcbm_print(p + az->hwid.len, az->tcbm);
    az->derived.len = p - az->derived.data;

    rc = ngx_http_thim_derived_lookup(r, ctx, &az->derived);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (az->form == NGX_HTTP_THIM_AZURE_THIM
        && ctx->expires - ngx_time() < NGX_HTTP_THIM_AZURE_MAX_AGE)
    {
        ngx_http_thim_ctx_next_key(ctx);
        return NGX_DECLINED;
    }

    return ngx_http_thim_send_record(r, ctx);
}


static ngx_int_t
ngx_http_thim_azure_after_chain(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_azure_t  *az = ctx->data;

    az->sources[0] = ctx->key;
    ngx_http_thim_azure_keep(r, ctx, az, &az->chain);

    if (az->chain.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thim_ctx_next_key(ctx);
    ctx->next = ngx_http_thim_azure_after_vcek;

    if (ngx_http_thim_amd_set_vcek(ctx, az->product, &az->hwid, &az->spl)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_serve(r, ctx);
}


static ngx_int_t
ngx_http_thim_azure_after_vcek(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx)
{
    ngx_http_thim_azure_t  *az = ctx->data;

    az->sources[1] = ctx->key;
    ngx_http_thim_azure_keep(r, ctx, az, &az->vcek);

    if (az->vcek.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thim_azure_answer(r, ctx, az);
}


/*
 * The record's body is copied out: the next key unpins it.  The answer
 * is as fresh as the staler of the two, its cache status the worse.
 */

static void
ngx_http_thim_azure_keep(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_azure_t *az, ngx_str_t *copy)
{
    copy->len = ctx->record.body.len;
    copy->data = ngx_pnalloc(r->pool, copy->len);

    if (copy->data == NULL) {
        return;
    }

    ngx_memcpy(copy->data, ctx->record.body.data, copy->len);

    ngx_http_thim_parts_add(&az->parts, ctx);
}


/*
 * THIM: the JSON of the real service, key by key and byte by byte in its
 * layout (4-space indent, PEM with "\n" escapes, tcbm as 16 hex digits,
 * cacheControl as a decimal string, no final newline).  ACC: VCEK, ASK
 * and ARK as one PEM.
 */

static ngx_int_t
ngx_http_thim_azure_answer(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_http_thim_azure_t *az)
{
    u_char                  *p, tcbm[16], age[NGX_TIME_T_LEN];
    time_t                   left;
    size_t                   len;
    ngx_str_t                pem, tcbm_str, age_str;
    ngx_http_thim_record_t   rec;

    pem.len = ngx_http_thim_pem_size(az->vcek.len, "CERTIFICATE");
    pem.data = ngx_pnalloc(r->pool, pem.len);
    if (pem.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pem.len = ngx_http_thim_pem_encode(pem.data, az->vcek.data, az->vcek.len,
                                       "CERTIFICATE")
              - pem.data;

    ngx_memzero(&rec, sizeof(ngx_http_thim_record_t));
    rec.status = NGX_HTTP_OK;

    left = az->parts.expires - ngx_time();

    if (az->form == NGX_HTTP_THIM_AZURE_ACC) {
        p = ngx_pnalloc(r->pool, pem.len + az->chain.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rec.body.data = p;
        p = ngx_cpymem(p, pem.data, pem.len);
        p = ngx_cpymem(p, az->chain.data, az->chain.len);
        rec.body.len = p - rec.body.data;

        ngx_str_set(&rec.content_type, "application/x-pem-file");

    } else {
        left = ngx_max(left, 1);
        left = ngx_min(left, NGX_HTTP_THIM_AZURE_MAX_AGE);

        tcbm_str.data = tcbm;
        tcbm_str.len = ngx_http_thim_tcbm_print(tcbm, az->tcbm) - tcbm;

        age_str.data = age;
        age_str.len = ngx_sprintf(age, "%T", left) - age;

        len = sizeof("{\n}") - 1
              + 4 * (sizeof("    \"\": \"\",\n") - 1)
              + sizeof("vcekCert" "tcbm" "certificateChain" "cacheControl") - 1
              + pem.len + ngx_escape_json(NULL, pem.data, pem.len)
              + az->chain.len
              + ngx_escape_json(NULL, az->chain.data, az->chain.len)
              + tcbm_str.len + age_str.len;

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rec.body.data = p;

        p = ngx_cpymem(p, "{\n", 2);
        p = ngx_http_thim_azure_json_string(p, "vcekCert", &pem, 0);
        p = ngx_http_thim_azure_json_string(p, "tcbm", &tcbm_str, 0);
        p = ngx_http_thim_azure_json_string(p, "certificateChain",
                                            &az->chain, 0);
        p = ngx_http_thim_azure_json_string(p, "cacheControl", &age_str, 1);
        *p++ = '}';

        rec.body.len = p - rec.body.data;
        ngx_str_set(&rec.content_type, "application/json");
    }

    ngx_http_thim_azure_keep_answer(r, ctx, az, &rec, left);

    /* the VCEK's record is unpinned; the answer is this request's own */
    ngx_http_thim_ctx_next_key(ctx);

    ctx->record = rec;
    ctx->next = NULL;
    ctx->expires = az->parts.expires;
    ctx->cache_status = az->parts.cache_status;

    return ngx_http_thim_send_record(r, ctx);
}


/*
 * Kept while the sources it was made of are fresh (a stale part is not
 * kept: it is being refreshed) and, for THIM's JSON, while its frozen
 * cacheControl is a full day.
 */

static void
ngx_http_thim_azure_keep_answer(ngx_http_request_t *r,
    ngx_http_thim_ctx_t *ctx, ngx_http_thim_azure_t *az,
    ngx_http_thim_record_t *rec, time_t left)
{
    ngx_str_t  bodies[2];

    if (az->form == NGX_HTTP_THIM_AZURE_THIM
        && left < NGX_HTTP_THIM_AZURE_MAX_AGE)
    {
        return;
    }

    ngx_http_thim_derived_keep(r, ctx, &az->derived, rec, az->parts.expires);

    bodies[0] = az->chain;
    bodies[1] = az->vcek;

    (void) ngx_http_thim_cache_depend(ctx->zone, &az->derived, az->sources,
                                      bodies,
                                      NGX_HTTP_THIM_AZURE_DERIVED_MAX);
}


/* '    "key": "value",\n' with value escaped as JSON */

static u_char *
ngx_http_thim_azure_json_string(u_char *p, char *key, ngx_str_t *value,
    ngx_uint_t last)
{
    p = ngx_cpymem(p, "    \"", 5);
    p = ngx_cpymem(p, key, ngx_strlen(key));
    p = ngx_cpymem(p, "\": \"", 4);
    p = (u_char *) ngx_escape_json(p, value->data, value->len);
    *p++ = '"';

    if (!last) {
        *p++ = ',';
    }

    *p++ = '\n';

    return p;
}
