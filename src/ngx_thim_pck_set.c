
/*
 * ngx_thim: the check of a whole PCK certificate set (pure; see
 * ngx_thim_pck_set.h).
 *
 * A set is trusted only whole and genuine: its issuer chain leads to the
 * pinned Intel root now, its CA is the one SGX-PCK-Certificate-CA-Type
 * names (or a PCK CA at all), a CA issued directly by the root and not
 * revoked by the root CA CRL when known, and every certificate in it is
 * signed by
 * that CA, valid now, of one platform (one PPID), of one PCE ID and one
 * FMSPC (those the request and the headers name, when given), and says in
 * its SGX extension exactly the TCB its entry lists, in "tcb" and "tcbm".
 * "Not available" entries (levels without a certificate) are skipped; a
 * set without any certificate is refused.
 */


#include <stdlib.h>

#include <openssl/err.h>

#include "ngx_thim_args.h"
#include "ngx_thim_pck.h"
#include "ngx_thim_sgx_ext.h"
#include "ngx_thim_strict_json.h"
#include "ngx_thim_verify.h"
#include "ngx_thim_pck_set.h"


static ngx_int_t ngx_http_thim_pck_set_ca(ngx_http_thim_pck_set_t *set,
    ngx_http_thim_signer_e *role, char **reason);
static ngx_int_t ngx_http_thim_pck_set_list(ngx_http_thim_pck_set_t *set,
    json_t *list, X509 *signer, u_char *fmspc, time_t *not_after,
    char **reason);
static ngx_int_t ngx_http_thim_pck_set_entry(ngx_http_thim_pck_set_t *set,
    ngx_http_thim_pck_entry_t *e, X509 *ca, ngx_http_thim_sgx_ext_t *ext,
    char **reason);
static ngx_int_t ngx_http_thim_pck_set_same(ngx_http_thim_sgx_ext_t *first,
    ngx_http_thim_sgx_ext_t *ext, char **reason);


ngx_int_t
ngx_http_thim_verify_pck_set(ngx_http_thim_pck_set_t *set, time_t *not_after,
    char **reason)
{
    json_t                  *list;
    ngx_int_t                rc;
    json_error_t             err;
    STACK_OF(X509)          *certs;
    ngx_http_thim_signer_e   role;
    u_char                   fmspc[NGX_HTTP_THIM_FMSPC_BYTES];

    if (ngx_http_thim_pck_set_ca(set, &role, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (set->fmspc.len
        && (set->fmspc.len != 2 * NGX_HTTP_THIM_FMSPC_BYTES
            || ngx_http_thim_hex_decode(fmspc, set->fmspc.data,
                                        set->fmspc.len)
               != NGX_OK))
    {
        *reason = "SGX-FMSPC is not 12 hexadecimal digits";
        return NGX_DECLINED;
    }

    certs = ngx_http_thim_pem_certs(set->chain, set->chain_len);
    if (certs == NULL) {
        *reason = "the issuer chain is not PEM certificates";
        return NGX_DECLINED;
    }

    list = NULL;
    rc = ngx_http_thim_verify_signer(certs, set->root, role, &set->root_crl,
                                     set->at, reason);
    if (rc != NGX_OK) {
        rc = NGX_DECLINED;
        goto done;
    }

    rc = NGX_DECLINED;

    /* one reading only: no duplicate, escaped name or trailing data */
    if (ngx_http_thim_json_strict(set->body, set->len, reason) != NGX_OK) {
        goto done;
    }

    list = json_loadb((const char *) set->body, set->len,
                      JSON_REJECT_DUPLICATES, &err);

    if (!json_is_array(list)
        || json_array_size(list) == 0
        || json_array_size(list) > NGX_HTTP_THIM_PCK_MAX)
    {
        *reason = "the body is not a list of PCK certificates";
        goto done;
    }

    if (ngx_http_thim_pck_set_list(set, list, sk_X509_value(certs, 0),
                                   fmspc, not_after, reason)
        != NGX_OK)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    json_decref(list);
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return rc;
}


/*
 * Every certificate of the list: issued by signer (the chain's first
 * certificate), of the FMSPC named (if any), all of one platform;
 * *not_after is the earliest notAfter.
 */

static ngx_int_t
ngx_http_thim_pck_set_list(ngx_http_thim_pck_set_t *set, json_t *list,
    X509 *signer, u_char *fmspc, time_t *not_after, char **reason)
{
    size_t                      i;
    json_t                     *item;
    ngx_uint_t                  n;
    ngx_http_thim_sgx_ext_t     first, ext;
    ngx_http_thim_pck_entry_t   e;

    n = 0;
    *not_after = 0;

    json_array_foreach(list, i, item) {
        if (ngx_http_thim_pck_entry(item, &e) != NGX_OK) {
            *reason = "an entry lacks its tcb, tcbm or cert";
            return NGX_DECLINED;
        }

        if (e.cert == NULL) {
            /* "Not available": Intel has no certificate for that level */
            continue;
        }

        if (ngx_http_thim_pck_set_entry(set, &e, signer, &ext, reason)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (set->fmspc.len
            && ngx_memcmp(ext.fmspc, fmspc, NGX_HTTP_THIM_FMSPC_BYTES) != 0)
        {
            *reason = "a certificate is not of the FMSPC SGX-FMSPC names";
            return NGX_DECLINED;
        }

        /* the first certificate's identity binds the others */
        if (n++ == 0) {
            first = ext;

        } else if (ngx_http_thim_pck_set_same(&first, &ext, reason)
                   != NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (*not_after == 0 || ext.not_after < *not_after) {
            *not_after = ext.not_after;
        }
    }

    if (n == 0) {
        *reason = "the list holds no certificate";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the PCK CA the CA type names, or either */

static ngx_int_t
ngx_http_thim_pck_set_ca(ngx_http_thim_pck_set_t *set,
    ngx_http_thim_signer_e *role, char **reason)
{
    if (set->ca_type.len == 0) {
        *role = NGX_HTTP_THIM_SIGNER_PCK_ANY;

    } else if (ngx_http_thim_strcaseeq(set->ca_type.data, set->ca_type.len,
                                       "processor"))
    {
        *role = NGX_HTTP_THIM_SIGNER_PCK_PROCESSOR;

    } else if (ngx_http_thim_strcaseeq(set->ca_type.data, set->ca_type.len,
                                       "platform"))
    {
        *role = NGX_HTTP_THIM_SIGNER_PCK_PLATFORM;

    } else {
        *reason = "SGX-PCK-Certificate-CA-Type is neither processor nor "
                  "platform";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* one certificate: genuine, and of exactly the TCB its entry lists */

static ngx_int_t
ngx_http_thim_pck_set_entry(ngx_http_thim_pck_set_t *set,
    ngx_http_thim_pck_entry_t *e, X509 *ca, ngx_http_thim_sgx_ext_t *ext,
    char **reason)
{
    size_t               len;
    u_char              *pem, cpusvn[NGX_HTTP_THIM_TCB_COMPONENTS];
    ngx_int_t            rc;
    ngx_http_thim_tcb_t  tcbm;

    len = ngx_strlen(e->cert);

    pem = malloc(len + 1);
    if (pem == NULL) {
        *reason = "out of memory";
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    if (ngx_http_thim_pct_decode(pem, (u_char *) e->cert, len, &len)
        != NGX_OK)
    {
        *reason = "a certificate is not percent-encoded PEM";
        goto done;
    }

    if (ngx_http_thim_verify_pck(pem, len, ca, set->at, ext, reason)
        != NGX_OK)
    {
        goto done;
    }

    if (ngx_http_thim_tcbm_of(e->tcbm, &tcbm, cpusvn) != NGX_OK
        || ngx_memcmp(cpusvn, ext->cpusvn, NGX_HTTP_THIM_TCB_COMPONENTS) != 0
        || tcbm.pcesvn != ext->tcb.pcesvn
        || ngx_memcmp(e->tcb.comp, ext->tcb.comp,
                      NGX_HTTP_THIM_TCB_COMPONENTS) != 0
        || e->tcb.pcesvn != ext->tcb.pcesvn)
    {
        *reason = "a certificate's TCB is not the one its entry lists";
        goto done;
    }

    if (set->pceid
        && ngx_memcmp(ext->pceid, set->pceid, NGX_HTTP_THIM_PCEID_BYTES) != 0)
    {
        *reason = "a certificate is not of the PCE ID asked for";
        goto done;
    }

    rc = NGX_OK;

done:

    free(pem);

    return rc;
}


static ngx_int_t
ngx_http_thim_pck_set_same(ngx_http_thim_sgx_ext_t *first,
    ngx_http_thim_sgx_ext_t *ext, char **reason)
{
    if (ngx_memcmp(first->ppid, ext->ppid, NGX_HTTP_THIM_PPID_LEN) != 0) {
        *reason = "the certificates are of more than one platform";
        return NGX_DECLINED;
    }

    if (ngx_memcmp(first->fmspc, ext->fmspc, NGX_HTTP_THIM_FMSPC_BYTES) != 0
        || ngx_memcmp(first->pceid, ext->pceid, NGX_HTTP_THIM_PCEID_BYTES)
           != 0)
    {
        *reason = "the certificates are of more than one FMSPC or PCE ID";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
