
/*
 * ngx_thim: the SGX extension of PCK certificates (pure; see
 * ngx_thim_sgx_ext.h).
 *
 * The extension's value is a SEQUENCE of { OID, value } pairs under
 * 1.2.840.113741.1.13.1: .1 PPID (16 bytes), .2 TCB (itself pairs: .2.1 to
 * .2.16 the component SVNs, .2.17 the PCESVN, .2.18 the CPUSVN), .3 PCE-ID
 * (2 bytes), .4 FMSPC (6 bytes), .5 SGX type, and more on platform CA
 * certificates.  Only what selection and the consistency checks need is
 * read; every one of those must be present and of its exact size.
 */


#include <openssl/err.h>
#include <openssl/pem.h>

#include "ngx_thim_sgx_ext.h"


#define NGX_HTTP_THIM_SGX_OID      "1.2.840.113741.1.13.1"
#define NGX_HTTP_THIM_OID_MAX      64

/* what a PCK's extension must carry, as bits of "found" */
#define NGX_HTTP_THIM_HAVE_PPID    0x01
#define NGX_HTTP_THIM_HAVE_TCB     0x02
#define NGX_HTTP_THIM_HAVE_PCEID   0x04
#define NGX_HTTP_THIM_HAVE_FMSPC   0x08
#define NGX_HTTP_THIM_HAVE_ALL     0x0f

/* within the TCB: 16 components, the PCESVN and the CPUSVN */
#define NGX_HTTP_THIM_TCB_ITEMS    18


typedef STACK_OF(ASN1_TYPE)  ngx_http_thim_asn1_seq_t;


static ngx_http_thim_asn1_seq_t *ngx_http_thim_asn1_seq(u_char *der,
    size_t len);
static ngx_int_t ngx_http_thim_asn1_pair(ASN1_TYPE *t,
    ngx_http_thim_asn1_seq_t **pair, char *oid, ASN1_TYPE **value);
static ngx_int_t ngx_http_thim_sgx_item(char *name, ASN1_TYPE *value,
    ngx_http_thim_sgx_ext_t *ext);
static ngx_int_t ngx_http_thim_sgx_tcb(ASN1_TYPE *value,
    ngx_http_thim_sgx_ext_t *ext);
static ngx_int_t ngx_http_thim_sgx_octets(ASN1_TYPE *value, u_char *dst,
    size_t len);
static ngx_int_t ngx_http_thim_sgx_integer(ASN1_TYPE *value, long max,
    ngx_uint_t *n);


ngx_int_t
ngx_http_thim_sgx_ext(X509 *cert, ngx_http_thim_sgx_ext_t *ext)
{
    int                        i, idx;
    char                       oid[NGX_HTTP_THIM_OID_MAX];
    ngx_int_t                  rc, item;
    ASN1_TYPE                 *value;
    ASN1_OBJECT               *obj;
    ASN1_OCTET_STRING         *data;
    ngx_http_thim_asn1_seq_t  *seq, *pair;

    ngx_memzero(ext, sizeof(ngx_http_thim_sgx_ext_t));

    obj = OBJ_txt2obj(NGX_HTTP_THIM_SGX_OID, 1);
    if (obj == NULL) {
        return NGX_ERROR;
    }

    idx = X509_get_ext_by_OBJ(cert, obj, -1);
    ASN1_OBJECT_free(obj);

    if (idx < 0) {
        return NGX_DECLINED;
    }

    data = X509_EXTENSION_get_data(X509_get_ext(cert, idx));

    seq = ngx_http_thim_asn1_seq((u_char *) ASN1_STRING_get0_data(data),
                                 ASN1_STRING_length(data));
    if (seq == NULL) {
        return NGX_DECLINED;
    }

    rc = 0;

    for (i = 0; i < sk_ASN1_TYPE_num(seq); i++) {

        if (ngx_http_thim_asn1_pair(sk_ASN1_TYPE_value(seq, i), &pair, oid,
                                    &value)
            != NGX_OK)
        {
            rc = NGX_DECLINED;
            break;
        }

        item = ngx_http_thim_sgx_item(oid, value, ext);

        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);

        if (item < 0) {
            rc = NGX_DECLINED;
            break;
        }

        rc |= item;
    }

    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    ERR_clear_error();

    return (rc == NGX_HTTP_THIM_HAVE_ALL) ? NGX_OK : NGX_DECLINED;
}


/*
 * A PEM certificate (exactly one), signed by ca, within its validity at
 * "at", with a complete SGX extension.
 */

ngx_int_t
ngx_http_thim_verify_pck(u_char *pem, size_t len, X509 *ca, time_t at,
    ngx_http_thim_sgx_ext_t *ext, char **reason)
{
    BIO        *bio;
    X509       *cert, *extra;
    ngx_int_t   rc;
    struct tm   tm;

    rc = NGX_DECLINED;
    cert = NULL;
    extra = NULL;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        *reason = "out of memory";
        return NGX_ERROR;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        *reason = "a PCK certificate is not PEM";
        goto done;
    }

    ERR_clear_error();

    extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (extra) {
        *reason = "a PCK certificate entry holds more than one certificate";
        goto done;
    }

    if (X509_check_issued(ca, cert) != X509_V_OK
        || X509_verify(cert, X509_get0_pubkey(ca)) != 1)
    {
        *reason = "a PCK certificate is not signed by the PCK CA of the "
                  "issuer chain";
        goto done;
    }

    if (X509_cmp_time(X509_get0_notBefore(cert), &at) >= 0
        || X509_cmp_time(X509_get0_notAfter(cert), &at) <= 0)
    {
        *reason = "a PCK certificate is outside its validity";
        goto done;
    }

    if (ngx_http_thim_sgx_ext(cert, ext) != NGX_OK) {
        *reason = "a PCK certificate has no complete SGX extension";
        goto done;
    }

    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
        *reason = "a PCK certificate has no valid notAfter";
        goto done;
    }

    ext->not_after = timegm(&tm);

    rc = NGX_OK;

done:

    X509_free(extra);
    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


static ngx_http_thim_asn1_seq_t *
ngx_http_thim_asn1_seq(u_char *der, size_t len)
{
    const u_char              *p;
    ngx_http_thim_asn1_seq_t  *seq;

    p = der;

    seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long) len);

    if (seq && p != der + len) {
        sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
        return NULL;
    }

    return seq;
}


/* { OID, value }: the OID as dotted text, the value (owned by *pair) */

static ngx_int_t
ngx_http_thim_asn1_pair(ASN1_TYPE *t, ngx_http_thim_asn1_seq_t **pair,
    char *oid, ASN1_TYPE **value)
{
    ASN1_TYPE  *name;

    if (t->type != V_ASN1_SEQUENCE) {
        return NGX_DECLINED;
    }

    *pair = ngx_http_thim_asn1_seq((u_char *) t->value.sequence->data,
                                   t->value.sequence->length);
    if (*pair == NULL) {
        return NGX_DECLINED;
    }

    name = sk_ASN1_TYPE_value(*pair, 0);

    if (sk_ASN1_TYPE_num(*pair) != 2
        || name->type != V_ASN1_OBJECT
        || OBJ_obj2txt(oid, NGX_HTTP_THIM_OID_MAX, name->value.object, 1)
           <= 0)
    {
        sk_ASN1_TYPE_pop_free(*pair, ASN1_TYPE_free);
        return NGX_DECLINED;
    }

    *value = sk_ASN1_TYPE_value(*pair, 1);

    return NGX_OK;
}


/* one item of the extension: the NGX_HTTP_THIM_HAVE_* bit, 0, or -1 */

static ngx_int_t
ngx_http_thim_sgx_item(char *name, ASN1_TYPE *value,
    ngx_http_thim_sgx_ext_t *ext)
{
    size_t  n;

    n = sizeof(NGX_HTTP_THIM_SGX_OID) - 1;

    if (ngx_strncmp(name, NGX_HTTP_THIM_SGX_OID, n) != 0
        || name[n] != '.')
    {
        return -1;
    }

    name += n + 1;

    if (ngx_strcmp(name, "1") == 0) {
        return ngx_http_thim_sgx_octets(value, ext->ppid,
                                        NGX_HTTP_THIM_PPID_LEN) == NGX_OK
               ? NGX_HTTP_THIM_HAVE_PPID : -1;
    }

    if (ngx_strcmp(name, "2") == 0) {
        return ngx_http_thim_sgx_tcb(value, ext) == NGX_OK
               ? NGX_HTTP_THIM_HAVE_TCB : -1;
    }

    if (ngx_strcmp(name, "3") == 0) {
        return ngx_http_thim_sgx_octets(value, ext->pceid,
                                        NGX_HTTP_THIM_PCEID_BYTES) == NGX_OK
               ? NGX_HTTP_THIM_HAVE_PCEID : -1;
    }

    if (ngx_strcmp(name, "4") == 0) {
        return ngx_http_thim_sgx_octets(value, ext->fmspc,
                                        NGX_HTTP_THIM_FMSPC_BYTES) == NGX_OK
               ? NGX_HTTP_THIM_HAVE_FMSPC : -1;
    }

    /* SGX type, platform instance id, configuration: not needed here */
    return 0;
}


/* .2: sixteen component SVNs (.2.1-.2.16), PCESVN (.2.17), CPUSVN (.2.18) */

static ngx_int_t
ngx_http_thim_sgx_tcb(ASN1_TYPE *value, ngx_http_thim_sgx_ext_t *ext)
{
    int                        i;
    char                       oid[NGX_HTTP_THIM_OID_MAX];
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_uint_t                 k, n, svn, seen;
    ASN1_TYPE                 *v;
    ngx_http_thim_asn1_seq_t  *seq, *pair;

    if (value->type != V_ASN1_SEQUENCE) {
        return NGX_DECLINED;
    }

    seq = ngx_http_thim_asn1_seq((u_char *) value->value.sequence->data,
                                 value->value.sequence->length);
    if (seq == NULL) {
        return NGX_DECLINED;
    }

    seen = 0;
    svn = 0;
    rc = NGX_OK;

    for (i = 0; rc == NGX_OK && i < sk_ASN1_TYPE_num(seq); i++) {

        if (ngx_http_thim_asn1_pair(sk_ASN1_TYPE_value(seq, i), &pair, oid,
                                    &v)
            != NGX_OK)
        {
            rc = NGX_DECLINED;
            break;
        }

        /* the item number after "<sgx oid>.2.": 1 to 18, else 0 */
        n = sizeof(NGX_HTTP_THIM_SGX_OID ".2.") - 1;
        k = 0;

        if (ngx_strncmp(oid, NGX_HTTP_THIM_SGX_OID ".2.", n) == 0) {
            for (p = (u_char *) oid + n; *p >= '0' && *p <= '9' && k < 100;
                 p++)
            {
                k = k * 10 + (*p - '0');
            }

            if (*p != '\0') {
                k = 0;
            }
        }

        if (k >= 1 && k <= NGX_HTTP_THIM_TCB_COMPONENTS) {
            rc = ngx_http_thim_sgx_integer(v, 255, &svn);
            ext->tcb.comp[k - 1] = (u_char) svn;

        } else if (k == NGX_HTTP_THIM_TCB_COMPONENTS + 1) {
            rc = ngx_http_thim_sgx_integer(v, 65535, &ext->tcb.pcesvn);

        } else if (k == NGX_HTTP_THIM_TCB_ITEMS) {
            rc = ngx_http_thim_sgx_octets(v, ext->cpusvn,
                                          NGX_HTTP_THIM_TCB_COMPONENTS);

        } else {
            rc = NGX_DECLINED;
        }

        if (rc == NGX_OK) {
            if (seen & ((ngx_uint_t) 1 << k)) {
                rc = NGX_DECLINED;          /* an item twice */
            }

            seen |= (ngx_uint_t) 1 << k;
        }

        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
    }

    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);

    /* items 1 to 18, each once */
    if (rc != NGX_OK || seen != ((ngx_uint_t) 1 << 19) - 2) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_sgx_octets(ASN1_TYPE *value, u_char *dst, size_t len)
{
    if (value->type != V_ASN1_OCTET_STRING
        || (size_t) ASN1_STRING_length(value->value.octet_string) != len)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(dst, ASN1_STRING_get0_data(value->value.octet_string), len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_sgx_integer(ASN1_TYPE *value, long max, ngx_uint_t *n)
{
    long  v;

    if (value->type != V_ASN1_INTEGER) {
        return NGX_DECLINED;
    }

    v = ASN1_INTEGER_get(value->value.integer);

    if (v < 0 || v > max) {
        return NGX_DECLINED;
    }

    *n = (ngx_uint_t) v;

    return NGX_OK;
}
