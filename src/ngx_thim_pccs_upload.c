
/*
 * ngx_thim: PUT /sgx/certification/v3|v4/platformcollateral, the PCCS
 * admin tool's upload (its "fetch" output, platform_collaterals.json):
 *
 *   {"platforms": [{qe_id, pce_id, cpu_svn, pce_svn, enc_ppid,
 *                   platform_manifest}],
 *    "collaterals": {"version": 4,
 *       "pck_certs": [{qe_id, pce_id, enc_ppid, platform_manifest,
 *                      "certs": [pckcerts entries]}],
 *       "tcbinfos": [{fmspc, sgx_tcbinfo[_early], tdx_tcbinfo[_early]}]
 *                   (v3: tcbinfo[_early]),
 *       "pckcacrl": {processorCrl, platformCrl}    hex of the DER,
 *       "qeidentity", "tdqeidentity", "qveidentity"[_early]  PCS bodies,
 *       "certificates": {"SGX-PCK-Certificate-Issuer-Chain":
 *                            {PROCESSOR, PLATFORM},
 *                        "SGX-TCB-Info-Issuer-Chain",
 *                        "SGX-Enclave-Identity-Issuer-Chain"},
 *       "rootcacrl": hex of the DER}}
 *
 * Every item becomes the origin answer it was (path, canonical query,
 * body, issuer chain, kept headers) and is re-checked exactly as that
 * answer would be (ngx_http_thim_persist_recheck(), as a bundle entry
 * is): Intel's signatures over the signed bytes, chains to the pinned
 * root, the FMSPC, the whole PCK set.  The admin tool re-serialises the
 * TCB infos (Python's json.dump); they are taken back in Intel's compact
 * form, and only Intel's signature over those bytes lets them in.
 * Nothing is stored before everything is verified: one refused item
 * refuses the upload (PCCS's 460, the item and why in
 * Thim-Error-Parameter), and the zone is left as it was.  The platforms
 * with an encrypted PPID or a manifest are kept as registrations, so that
 * a connected ngx_thim can refresh them later.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/pem.h>

#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_key.h"
#include "ngx_thim_persist.h"
#include "ngx_thim_response.h"
#include "ngx_thim_sgx_ext.h"
#include "ngx_thim_pccs.h"


typedef struct {
    ngx_http_thim_recheck_t    rc;
    char                      *name;
} ngx_http_thim_upload_item_t;


typedef struct {
    ngx_http_thim_persist_t    persist;        /* the zone and this
                                                  location's conf */
    ngx_pool_t                *pool;
    ngx_log_t                 *log;
    json_t                    *certificates;
    ngx_array_t                items;          /* upload_item_t */
    ngx_array_t                platforms;      /* platform_t */
    char                      *refused;        /* item, and why */
} ngx_http_thim_upload_t;


static ngx_int_t ngx_http_thim_upload_read(ngx_http_thim_upload_t *u,
    json_t *root, char **parameter);
static ngx_int_t ngx_http_thim_upload_sets(ngx_http_thim_upload_t *u,
    json_t *sets);
static ngx_int_t ngx_http_thim_upload_set(ngx_http_thim_upload_t *u,
    json_t *set, ngx_uint_t i);
static ngx_int_t ngx_http_thim_upload_set_kind(ngx_http_thim_upload_t *u,
    json_t *certs, ngx_http_thim_record_t *headers, ngx_str_t *chain);
static ngx_int_t ngx_http_thim_upload_tcbinfos(ngx_http_thim_upload_t *u,
    json_t *tcbinfos, ngx_uint_t version);
static ngx_int_t ngx_http_thim_upload_misc(ngx_http_thim_upload_t *u,
    json_t *coll, ngx_uint_t version);
static ngx_int_t ngx_http_thim_upload_item(ngx_http_thim_upload_t *u,
    char *name, ngx_uint_t origin, char *path, char *query, ngx_str_t *body,
    const char *chain, ngx_http_thim_record_t *headers);
static ngx_int_t ngx_http_thim_upload_hex(ngx_http_thim_upload_t *u,
    const char *hex, ngx_str_t *der);
static ngx_int_t ngx_http_thim_upload_store(ngx_http_thim_upload_t *u,
    ngx_http_thim_ctx_t *ctx, ngx_log_t *log);
static char *ngx_http_thim_upload_name(ngx_http_thim_upload_t *u,
    const char *fmt, ...);


ngx_int_t
ngx_http_thim_pccs_upload(ngx_http_request_t *r, ngx_http_thim_ctx_t *ctx,
    ngx_str_t *body)
{
    char                    *parameter;
    json_t                  *root;
    ngx_int_t                rc;
    ngx_http_thim_upload_t   u;

    ngx_memzero(&u, sizeof(ngx_http_thim_upload_t));

    u.pool = r->pool;
    u.log = r->connection->log;
    u.persist.shm_zone = ctx->zone;
    u.persist.intel = ctx->conf;

    if (ngx_array_init(&u.items, r->pool, 16,
                       sizeof(ngx_http_thim_upload_item_t))
        != NGX_OK
        || ngx_array_init(&u.platforms, r->pool, 4,
                          sizeof(ngx_http_thim_platform_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    parameter = "body";
    root = (body && body->len) ? json_loadb((char *) body->data, body->len,
                                            JSON_REJECT_DUPLICATES, NULL)
                               : NULL;

    rc = root ? ngx_http_thim_upload_read(&u, root, &parameter)
              : NGX_DECLINED;

    if (root) {
        json_decref(root);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_THIM_PCCS_INVALID,
                                       parameter);
    }

    if (rc == NGX_ABORT) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thim: platform collateral upload refused: %s",
                      u.refused);

        return ngx_http_thim_pccs_text(r, ctx,
                                       NGX_HTTP_THIM_PCCS_INTEGRITY_ERROR,
                                       NGX_HTTP_THIM_PCCS_INTEGRITY,
                                       u.refused);
    }

    if (rc != NGX_OK
        || ngx_http_thim_upload_store(&u, ctx, r->connection->log) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "thim: platform collateral upload: %ui items and %ui "
                  "platforms stored", u.items.nelts, u.platforms.nelts);

    return ngx_http_thim_pccs_text(r, ctx, NGX_HTTP_OK,
                                   NGX_HTTP_THIM_PCCS_OK, NULL);
}


/*
 * NGX_OK: every item verified; NGX_DECLINED: not the admin tool's format
 * (*parameter); NGX_ABORT: an item refused (u->refused).
 */

static ngx_int_t
ngx_http_thim_upload_read(ngx_http_thim_upload_t *u, json_t *root,
    char **parameter)
{
    char                      *name;
    json_t                    *platforms, *coll, *v;
    size_t                     i;
    ngx_int_t                  rc;
    ngx_uint_t                 version;
    ngx_http_thim_platform_t  *pf;

    platforms = json_object_get(root, "platforms");
    coll = json_object_get(root, "collaterals");

    if (!json_is_array(platforms) || !json_is_object(coll)) {
        *parameter = "platforms";
        return NGX_DECLINED;
    }

    json_array_foreach(platforms, i, v) {
        pf = ngx_array_push(&u->platforms);
        if (pf == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_thim_pccs_platform_read(u->pool, v, pf,
                                              NGX_HTTP_THIM_PCCS_UPLOADED,
                                              &name);
        if (rc != NGX_OK) {
            *parameter = "platforms";
            return rc;
        }
    }

    v = json_object_get(coll, "version");
    version = json_is_integer(v) ? (ngx_uint_t) json_integer_value(v) : 3;

    u->certificates = json_object_get(coll, "certificates");

    if ((version != 3 && version != 4)
        || !json_is_object(u->certificates)
        || !json_is_object(json_object_get(u->certificates,
                                "SGX-PCK-Certificate-Issuer-Chain"))
        || !json_is_array(json_object_get(coll, "pck_certs"))
        || !json_is_array(json_object_get(coll, "tcbinfos")))
    {
        *parameter = "collaterals";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_upload_sets(u, json_object_get(coll, "pck_certs"));

    if (rc == NGX_OK) {
        rc = ngx_http_thim_upload_tcbinfos(u,
                                           json_object_get(coll, "tcbinfos"),
                                           version);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_thim_upload_misc(u, coll, version);
    }

    if (rc == NGX_DECLINED) {
        *parameter = "collaterals";
    }

    return rc;
}


static ngx_int_t
ngx_http_thim_upload_sets(ngx_http_thim_upload_t *u, json_t *sets)
{
    json_t     *set;
    size_t      i;
    ngx_int_t   rc;

    json_array_foreach(sets, i, set) {
        rc = ngx_http_thim_upload_set(u, set, i);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/*
 * A platform's certificates: the pckcerts answer it was, kept under the
 * key of its QE ID and PCE ID (the PCK set's digest form, as a snapshot
 * keeps it), with the chain of its CA and the FMSPC and CA type its
 * certificates name (the set's check holds them to it).
 */

static ngx_int_t
ngx_http_thim_upload_set(ngx_http_thim_upload_t *u, json_t *set,
    ngx_uint_t i)
{
    u_char                     hex[NGX_HTTP_THIM_PLATFORM_DIGEST_HEX + 1];
    char                      *name;
    json_t                    *certs;
    ngx_int_t                  rc;
    ngx_str_t                  body, chain;
    ngx_http_thim_record_t    *headers;
    ngx_http_thim_platform_t   pf;

    certs = json_object_get(set, "certs");

    if (!json_is_array(certs) || json_array_size(certs) == 0
        || ngx_http_thim_pccs_platform_read(u->pool, set, &pf,
                                            NGX_HTTP_THIM_PCCS_UPLOADED,
                                            &name)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    name = ngx_http_thim_upload_name(u, "collaterals.pck_certs[%ui]", i);
    headers = ngx_pcalloc(u->pool, sizeof(ngx_http_thim_record_t));

    if (name == NULL || headers == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_thim_upload_set_kind(u, certs, headers, &chain);

    if (rc == NGX_DECLINED) {
        u->refused = ngx_http_thim_upload_name(u, "%s: no certificate with "
                                               "an SGX extension", name);
        return NGX_ABORT;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_thim_pccs_dump(u->pool, certs, &body) != NGX_OK
        || ngx_http_thim_pckcert_platform_digest(hex, &pf.qeid, &pf.pceid)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    hex[NGX_HTTP_THIM_PLATFORM_DIGEST_HEX] = '\0';

    return ngx_http_thim_upload_item(u, name, NGX_HTTP_THIM_ORIGIN_INTEL,
                                     (char *) hex, NULL, &body,
                                     (char *) chain.data, headers);
}


/* SGX-FMSPC and SGX-PCK-Certificate-CA-Type from the first certificate */

static ngx_int_t
ngx_http_thim_upload_set_kind(ngx_http_thim_upload_t *u, json_t *certs,
    ngx_http_thim_record_t *headers, ngx_str_t *chain)
{
    u_char                   *pem, *fmspc;
    BIO                      *bio;
    X509                     *x;
    char                      cn[64];
    json_t                   *e, *pchain;
    size_t                    i, len;
    ngx_int_t                 rc;
    const char               *cert, *ca;
    ngx_http_thim_sgx_ext_t   ext;

    cert = NULL;

    json_array_foreach(certs, i, e) {
        cert = json_string_value(json_object_get(e, "cert"));

        if (cert != NULL && ngx_strncmp(cert, "-----BEGIN", 10) == 0) {
            break;
        }

        if (cert != NULL && ngx_strncmp(cert, "-----BEGIN%20", 13) == 0) {
            break;
        }
    }

    if (i == json_array_size(certs) || cert == NULL) {
        return NGX_DECLINED;
    }

    len = ngx_strlen(cert);
    pem = ngx_pnalloc(u->pool, len + 1);
    if (pem == NULL
        || ngx_http_thim_pct_decode(pem, (u_char *) cert, len, &len)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    rc = (x && ngx_http_thim_sgx_ext(x, &ext) == NGX_OK
          && X509_NAME_get_text_by_NID(X509_get_issuer_name(x),
                                       NID_commonName, cn, sizeof(cn)) > 0)
         ? NGX_OK : NGX_DECLINED;

    X509_free(x);

    if (rc != NGX_OK) {
        return rc;
    }

    ca = ngx_strstr(cn, "Platform") ? "PLATFORM" : "PROCESSOR";

    fmspc = ngx_pnalloc(u->pool, 2 * NGX_HTTP_THIM_FMSPC_BYTES);
    if (fmspc == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(fmspc, ext.fmspc, NGX_HTTP_THIM_FMSPC_BYTES);

    ngx_str_set(&headers->names[0], "SGX-FMSPC");
    headers->values[0].data = fmspc;
    headers->values[0].len = 2 * NGX_HTTP_THIM_FMSPC_BYTES;
    ngx_str_set(&headers->names[1], "SGX-PCK-Certificate-CA-Type");

    if (ca[1] == 'L') {
        ngx_str_set(&headers->values[1], "platform");

    } else {
        ngx_str_set(&headers->values[1], "processor");
    }

    headers->nheaders = 2;

    pchain = json_object_get(json_object_get(u->certificates,
                                 "SGX-PCK-Certificate-Issuer-Chain"), ca);

    chain->data = (u_char *) json_string_value(pchain);
    chain->len = chain->data ? ngx_strlen(chain->data) : 0;

    return NGX_OK;
}


/* each FMSPC's TCB infos: SGX and TDX, standard and early */

static ngx_int_t
ngx_http_thim_upload_tcbinfos(ngx_http_thim_upload_t *u, json_t *tcbinfos,
    ngx_uint_t version)
{
    u_char       fmspc[13];
    char        *name, *query, *path;
    json_t      *t, *info;
    size_t       i, len;
    ngx_int_t    rc;
    ngx_str_t    body;
    ngx_uint_t   k;
    const char  *f, *chain;

    static char  *members[] = {
        "sgx_tcbinfo", "tdx_tcbinfo", "sgx_tcbinfo_early",
        "tdx_tcbinfo_early", "tcbinfo", "tcbinfo_early"
    };

    chain = json_string_value(json_object_get(u->certificates,
                                              "SGX-TCB-Info-Issuer-Chain"));

    json_array_foreach(tcbinfos, i, t) {
        f = json_string_value(json_object_get(t, "fmspc"));
        len = f ? ngx_strlen(f) : 0;

        if (len != 12 || !ngx_http_thim_is_hex((u_char *) f, len)) {
            return NGX_DECLINED;
        }

        ngx_http_thim_strlow(fmspc, (u_char *) f, 12);
        fmspc[12] = '\0';

        for (k = 0; k < sizeof(members) / sizeof(members[0]); k++) {
            info = json_object_get(t, members[k]);

            if (info == NULL || json_is_null(info)) {
                continue;
            }

            if ((k < 4) != (version == 4)) {
                return NGX_DECLINED;
            }

            /* Intel's compact form: the bytes its signature covers */
            if (ngx_http_thim_pccs_dump(u->pool, info, &body) != NGX_OK) {
                return NGX_ERROR;
            }

            path = (k == 1 || k == 3) ? "/tdx/certification/v4/tcb"
                   : (version == 4) ? "/sgx/certification/v4/tcb"
                   : "/sgx/certification/v3/tcb";

            query = ngx_http_thim_upload_name(u, "fmspc=%s%s", fmspc,
                                              (k == 2 || k == 3 || k == 5)
                                              ? "&update=early"
                                              : (version == 4)
                                              ? "&update=standard" : "");
            name = ngx_http_thim_upload_name(u, "collaterals.tcbinfos[%uz]"
                                             ".%s", i, members[k]);

            if (query == NULL || name == NULL) {
                return NGX_ERROR;
            }

            rc = ngx_http_thim_upload_item(u, name,
                                           NGX_HTTP_THIM_ORIGIN_INTEL, path,
                                           query, &body, chain, NULL);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


/* CRLs and identities */

static ngx_int_t
ngx_http_thim_upload_misc(ngx_http_thim_upload_t *u, json_t *coll,
    ngx_uint_t version)
{
    char         *path, *query;
    json_t       *crls, *pck;
    ngx_int_t     rc;
    ngx_str_t     body;
    ngx_uint_t    k;
    const char   *s, *chain;

    static struct {
        char        *member;
        char        *path;
        char        *update;
    } ids[] = {
        { "qeidentity", "/sgx/certification/v4/qe/identity", "standard" },
        { "qveidentity", "/sgx/certification/v4/qve/identity", "standard" },
        { "tdqeidentity", "/tdx/certification/v4/qe/identity", "standard" },
        { "qeidentity_early", "/sgx/certification/v4/qe/identity", "early" },
        { "qveidentity_early", "/sgx/certification/v4/qve/identity",
          "early" },
        { "tdqeidentity_early", "/tdx/certification/v4/qe/identity",
          "early" }
    };

    chain = json_string_value(json_object_get(u->certificates,
                                  "SGX-Enclave-Identity-Issuer-Chain"));

    for (k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        s = json_string_value(json_object_get(coll, ids[k].member));

        if (s == NULL || s[0] == '\0') {
            continue;
        }

        body.data = (u_char *) s;
        body.len = ngx_strlen(s);

        path = ids[k].path;

        if (version == 3) {
            path = ngx_http_thim_upload_name(u, "/sgx/certification/v3%s",
                                             ids[k].path
                                             + sizeof("/sgx/certification/v4")
                                             - 1);
        }

        query = ngx_http_thim_upload_name(u, "update=%s", ids[k].update);

        if (path == NULL || query == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_thim_upload_item(u, ids[k].member,
                                       NGX_HTTP_THIM_ORIGIN_INTEL, path,
                                       query, &body, chain, NULL);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    crls = json_object_get(coll, "pckcacrl");
    pck = json_object_get(u->certificates,
                          "SGX-PCK-Certificate-Issuer-Chain");

    for (k = 0; k < 2; k++) {
        s = json_string_value(json_object_get(crls, k ? "platformCrl"
                                                      : "processorCrl"));
        if (s == NULL || s[0] == '\0') {
            continue;
        }

        if (ngx_http_thim_upload_hex(u, s, &body) != NGX_OK) {
            u->refused = k ? "collaterals.pckcacrl.platformCrl: not hex"
                           : "collaterals.pckcacrl.processorCrl: not hex";
            return NGX_ABORT;
        }

        chain = json_string_value(json_object_get(pck, k ? "PLATFORM"
                                                         : "PROCESSOR"));

        if (chain == NULL || chain[0] == '\0') {
            /*
             * the admin tool sends the chain of the CAs its platforms'
             * certificates name only: a CRL of the other CA cannot be
             * verified, and is left out (not refused: nothing is forged)
             */
            ngx_log_error(NGX_LOG_NOTICE, u->log, 0,
                          "thim: platform collateral upload: the %s CA's "
                          "CRL left out, the upload has no chain for it",
                          k ? "platform" : "processor");
            continue;
        }

        rc = ngx_http_thim_upload_item(u, k ? "collaterals.pckcacrl."
                                              "platformCrl"
                                            : "collaterals.pckcacrl."
                                              "processorCrl",
                     NGX_HTTP_THIM_ORIGIN_INTEL,
                     version == 4 ? "/sgx/certification/v4/pckcrl"
                                  : "/sgx/certification/v3/pckcrl",
                     k ? "ca=platform&encoding=der"
                       : "ca=processor&encoding=der",
                     &body, chain, NULL);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    s = json_string_value(json_object_get(coll, "rootcacrl"));

    if (s == NULL || s[0] == '\0') {
        return NGX_OK;
    }

    if (ngx_http_thim_upload_hex(u, s, &body) != NGX_OK) {
        u->refused = "collaterals.rootcacrl: not hex";
        return NGX_ABORT;
    }

    return ngx_http_thim_upload_item(u, "collaterals.rootcacrl",
                                     NGX_HTTP_THIM_ORIGIN_INTEL_ROOT,
                                     "/IntelSGXRootCA.der", NULL, &body,
                                     NULL, NULL);
}


/* one origin answer, re-checked as that answer would be */

static ngx_int_t
ngx_http_thim_upload_item(ngx_http_thim_upload_t *u, char *name,
    ngx_uint_t origin, char *path, char *query, ngx_str_t *body,
    const char *chain, ngx_http_thim_record_t *headers)
{
    u_char                       *p;
    size_t                        len;
    ngx_int_t                     rc;
    ngx_http_thim_upload_item_t  *it;

    it = ngx_array_push(&u->items);
    if (it == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(it, sizeof(ngx_http_thim_upload_item_t));

    it->name = name;
    it->rc.origin = origin;
    it->rc.family = NGX_HTTP_THIM_KEY_NONE;
    it->rc.path.data = (u_char *) path;
    it->rc.path.len = ngx_strlen(path);

    if (query) {
        it->rc.query.data = (u_char *) query;
        it->rc.query.len = ngx_strlen(query);
    }

    /* copies: the upload's JSON is freed before the records are stored */
    it->rc.body.len = body->len;
    it->rc.body.data = ngx_pnalloc(u->pool, body->len);
    if (it->rc.body.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(it->rc.body.data, body->data, body->len);
    it->rc.headers = headers;

    if (chain && chain[0]) {
        len = ngx_strlen(chain);

        if (ngx_strncmp(chain, "-----BEGIN ", 11) != 0) {
            p = ngx_pnalloc(u->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            it->rc.chain.data = ngx_cpymem(p, chain, len) - len;
            it->rc.chain.len = len;

        } else {
            /* as the header would have carried it */
            p = ngx_pnalloc(u->pool, 3 * len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            it->rc.chain.data = p;
            it->rc.chain.len = ngx_http_thim_pct_encode(p, (u_char *) chain,
                                                        len) - p;
        }
    }

    rc = ngx_http_thim_persist_recheck(&u->persist, u->pool, &it->rc);

    if (rc == NGX_DECLINED) {
        u->refused = ngx_http_thim_upload_name(u, "%s: %s", name,
                                               it->rc.reason
                                               ? it->rc.reason : "refused");
        return NGX_ABORT;
    }

    return rc;
}


static ngx_int_t
ngx_http_thim_upload_hex(ngx_http_thim_upload_t *u, const char *hex,
    ngx_str_t *der)
{
    size_t  len;

    len = ngx_strlen(hex);

    if (len == 0 || len % 2 || !ngx_http_thim_is_hex((u_char *) hex, len)) {
        return NGX_DECLINED;
    }

    der->len = len / 2;
    der->data = ngx_pnalloc(u->pool, der->len);
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_thim_hex_decode(der->data, (u_char *) hex, len);
}


/* everything verified: now stored, each as a fetch of it now would be */

static ngx_int_t
ngx_http_thim_upload_store(ngx_http_thim_upload_t *u,
    ngx_http_thim_ctx_t *ctx, ngx_log_t *log)
{
    ngx_uint_t                    i;
    ngx_http_thim_store_t         st;
    ngx_http_thim_platform_t     *pf;
    ngx_http_thim_upload_item_t  *it;

    it = u->items.elts;

    for (i = 0; i < u->items.nelts; i++) {
        st.len = ngx_http_thim_record_size(&it[i].rc.record);
        st.value = ngx_pnalloc(u->pool, st.len);
        if (st.value == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_http_thim_record_write(st.value, &it[i].rc.record);

        ngx_http_thim_lifetime(it[i].rc.ctx, ngx_time(),
                               it[i].rc.next_update - ngx_time(), 0, &st);

        (void) ngx_http_thim_cache_store(ctx->zone, &it[i].rc.ctx->key, &st,
                                         log);
    }

    pf = u->platforms.elts;

    for (i = 0; i < u->platforms.nelts; i++) {
        if (pf[i].manifest.len
            || (pf[i].ppid.len && pf[i].cpusvn.len && pf[i].pcesvn.len))
        {
            if (ngx_http_thim_pccs_reg_store(ctx, &pf[i], log) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static char *
ngx_http_thim_upload_name(ngx_http_thim_upload_t *u, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    p = ngx_pnalloc(u->pool, 512);
    if (p == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(p, p + 511, fmt, args);
    va_end(args);

    *last = '\0';

    return (char *) p;
}
