
/*
 * ngx_thim: signature and chain verification (pure; see ngx_thim_verify.h).
 *
 * Intel signs the exact bytes of the value of one top-level key of its
 * JSON ("tcbInfo", "enclaveIdentity", "tcbEvaluationDataNumbers"), from
 * its "{" to the matching "}", with the key of the first certificate of
 * the issuer chain (ECDSA P-256, SHA-256); "signature" is r||s as 128 hex
 * digits.  The chain must lead to the pinned Intel SGX Root CA, compared
 * by key: the root exists in two encodings with one key.  Chains are
 * verified at the collateral's own issue time, since Intel's TCB Signing
 * certificate of 2018-2025 signed collateral that is still in use.
 */


#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ngx_thim_verify.h"


#define NGX_HTTP_THIM_SIG_HEX          128


static ngx_int_t ngx_http_thim_vcek_ext(X509 *cert, char *oid,
    ASN1_OCTET_STRING **value);
static ngx_int_t ngx_http_thim_vcek_spl(X509 *cert, char *oid,
    ngx_uint_t want);
static u_char *ngx_http_thim_json_skip_ws(u_char *p, u_char *last);
static u_char *ngx_http_thim_json_skip_string(u_char *p, u_char *last);
static u_char *ngx_http_thim_json_skip_value(u_char *p, u_char *last);
static ngx_int_t ngx_http_thim_ecdsa_der(u_char *hex, size_t len,
    u_char **der, int *der_len);
static ngx_int_t ngx_http_thim_hex_byte(u_char *p);


/*
 * The bytes of the value of a top-level member, exactly as sent: a scan
 * that knows strings and escapes, so a "}" inside a string is not an end.
 * NGX_DECLINED when the document is not an object or has no such member.
 */

ngx_int_t
ngx_http_thim_json_member(u_char *p, size_t len, char *key, u_char **value,
    size_t *value_len)
{
    u_char  *last, *k, *v, *end;
    size_t   klen;

    last = p + len;
    klen = ngx_strlen(key);

    p = ngx_http_thim_json_skip_ws(p, last);

    if (p == last || *p++ != '{') {
        return NGX_DECLINED;
    }

    for ( ;; ) {
        p = ngx_http_thim_json_skip_ws(p, last);

        if (p == last || *p != '"') {
            return NGX_DECLINED;
        }

        k = p + 1;
        p = ngx_http_thim_json_skip_string(p, last);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        end = p - 1;                           /* the closing quote */

        p = ngx_http_thim_json_skip_ws(p, last);

        if (p == last || *p++ != ':') {
            return NGX_DECLINED;
        }

        v = ngx_http_thim_json_skip_ws(p, last);
        p = ngx_http_thim_json_skip_value(v, last);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        /* keys compare as sent: Intel's keys have no escapes */
        if ((size_t) (end - k) == klen && ngx_memcmp(k, key, klen) == 0) {
            *value = v;
            *value_len = p - v;
            return NGX_OK;
        }

        p = ngx_http_thim_json_skip_ws(p, last);

        if (p == last || *p != ',') {
            return NGX_DECLINED;
        }

        p++;
    }
}


ngx_int_t
ngx_http_thim_verify_intel_json(u_char *body, size_t len, char *key,
    u_char *chain, size_t chain_len, X509 *anchor, time_t at, char **reason)
{
    int              der_len;
    u_char          *signed_bytes, *sig, *der;
    size_t           signed_len, sig_len;
    EVP_PKEY        *pkey;
    ngx_int_t        rc;
    EVP_MD_CTX      *md;
    STACK_OF(X509)  *certs;

    if (ngx_http_thim_json_member(body, len, key, &signed_bytes, &signed_len)
        != NGX_OK
        || signed_len == 0 || signed_bytes[0] != '{')
    {
        *reason = "the signed object is missing";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_json_member(body, len, "signature", &sig, &sig_len)
        != NGX_OK
        || sig_len != NGX_HTTP_THIM_SIG_HEX + 2
        || sig[0] != '"')
    {
        *reason = "the signature is missing or not 64 bytes of hex";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_ecdsa_der(sig + 1, NGX_HTTP_THIM_SIG_HEX, &der,
                                &der_len)
        != NGX_OK)
    {
        *reason = "the signature is not 64 bytes of hex";
        return NGX_DECLINED;
    }

    certs = ngx_http_thim_pem_certs(chain, chain_len);

    if (certs == NULL) {
        OPENSSL_free(der);
        *reason = "the issuer chain is not PEM certificates";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_verify_chain(certs, anchor, at, reason);

    if (rc == NGX_OK) {
        rc = NGX_DECLINED;
        *reason = "the signature does not verify";

        pkey = X509_get0_pubkey(sk_X509_value(certs, 0));
        md = EVP_MD_CTX_new();

        if (pkey && md
            && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1
            && EVP_DigestVerifyUpdate(md, signed_bytes, signed_len) == 1
            && EVP_DigestVerifyFinal(md, der, der_len) == 1)
        {
            *reason = "verified";
            rc = NGX_OK;
        }

        EVP_MD_CTX_free(md);
    }

    OPENSSL_free(der);
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return rc;
}


/*
 * certs[0] must chain to the anchor, at "at", through the other certs.
 * The anchor is the only trusted certificate: a chain's own copy of a
 * root counts only if it carries the anchor's key (Intel's root exists in
 * two encodings), so a look-alike root with another key fails.
 */

ngx_int_t
ngx_http_thim_verify_chain(STACK_OF(X509) *certs, X509 *anchor, time_t at,
    char **reason)
{
    int               i, ok;
    X509             *c;
    X509_STORE       *store;
    X509_STORE_CTX   *vctx;
    STACK_OF(X509)   *untrusted;

    if (sk_X509_num(certs) < 1) {
        *reason = "the issuer chain is empty";
        return NGX_DECLINED;
    }

    store = X509_STORE_new();
    vctx = X509_STORE_CTX_new();
    untrusted = sk_X509_new_null();

    ok = 0;

    if (store == NULL || vctx == NULL || untrusted == NULL
        || X509_STORE_add_cert(store, anchor) != 1)
    {
        goto done;
    }

    for (i = 1; i < sk_X509_num(certs); i++) {
        c = sk_X509_value(certs, i);

        /* a self-signed root: the anchor stands in for it, if the same */
        if (X509_check_issued(c, c) == X509_V_OK) {
            if (ngx_http_thim_same_key(c, anchor) != NGX_OK) {
                *reason = "the issuer chain ends in a root that is not "
                          "the trusted one";
                goto done;
            }

            continue;
        }

        if (sk_X509_push(untrusted, c) == 0) {
            goto done;
        }
    }

    if (X509_STORE_CTX_init(vctx, store, sk_X509_value(certs, 0), untrusted)
        != 1)
    {
        goto done;
    }

    X509_STORE_CTX_set_time(vctx, 0, at);

    if (X509_verify_cert(vctx) == 1) {
        ok = 1;

    } else {
        *reason = (char *) X509_verify_cert_error_string(
                                    X509_STORE_CTX_get_error(vctx));
    }

done:

    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    ERR_clear_error();

    return ok ? NGX_OK : NGX_DECLINED;
}


/*
 * A DER CRL signed by the first certificate of "chain" (a PCK CA, the
 * chain leading to the anchor at the CRL's thisUpdate), or, without a
 * chain, by the anchor itself (the root CA CRL).
 */

ngx_int_t
ngx_http_thim_verify_crl(u_char *der, size_t len, u_char *chain,
    size_t chain_len, X509 *anchor, char **reason)
{
    X509_CRL        *crl;
    EVP_PKEY        *key;
    ngx_int_t        rc;
    struct tm        tm;
    const u_char    *p;
    STACK_OF(X509)  *certs;

    p = der;
    certs = NULL;
    rc = NGX_DECLINED;

    crl = d2i_X509_CRL(NULL, &p, (long) len);
    if (crl == NULL || p != der + len) {
        *reason = "the body is not a DER CRL";
        goto done;
    }

    if (chain_len) {
        certs = ngx_http_thim_pem_certs(chain, chain_len);

        if (certs == NULL) {
            *reason = "the CRL's issuer chain is not PEM certificates";
            goto done;
        }

        if (ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm) != 1) {
            *reason = "the CRL has no valid thisUpdate";
            goto done;
        }

        if (ngx_http_thim_verify_chain(certs, anchor, timegm(&tm), reason)
            != NGX_OK)
        {
            goto done;
        }

        key = X509_get0_pubkey(sk_X509_value(certs, 0));

    } else {
        key = X509_get0_pubkey(anchor);
    }

    if (key == NULL || X509_CRL_verify(crl, key) != 1) {
        *reason = "the CRL's signature does not verify";
        goto done;
    }

    *reason = "verified";
    rc = NGX_OK;

done:

    X509_CRL_free(crl);
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return rc;
}


/*
 * A VCEK: signed by the product's ASK (RSA-PSS; the ASK itself was
 * checked against the pinned ARK when the configuration was read), and
 * naming the chip and TCB it was asked for in AMD's extensions
 * (1.3.6.1.4.1.3704.1.3.x: SPLs as INTEGERs; .1.4: the hwid's raw
 * bytes, 64 or, on Turin, 8).
 */

ngx_int_t
ngx_http_thim_verify_vcek(u_char *der, size_t len, X509 *ask, u_char *hwid,
    size_t hwid_len, ngx_http_thim_spl_t *spl, ngx_uint_t turin,
    char **reason)
{
    X509                *cert;
    ngx_int_t            rc;
    const u_char        *p, *d;
    ASN1_OCTET_STRING   *id;

    p = der;
    rc = NGX_DECLINED;

    cert = d2i_X509(NULL, &p, (long) len);
    if (cert == NULL || p != der + len) {
        *reason = "the body is not a DER certificate";
        goto done;
    }

    if (X509_verify(cert, X509_get0_pubkey(ask)) != 1) {
        *reason = "the VCEK is not signed by the product's ASK";
        goto done;
    }

    if (ngx_http_thim_vcek_ext(cert, "1.3.6.1.4.1.3704.1.4", &id) != NGX_OK) {
        *reason = "the VCEK names no hwid";
        goto done;
    }

    d = ASN1_STRING_get0_data(id);

    if ((size_t) ASN1_STRING_length(id) != hwid_len
        || ngx_memcmp(d, hwid, hwid_len) != 0)
    {
        *reason = "the VCEK is for another chip";
        goto done;
    }

    if (ngx_http_thim_vcek_spl(cert, "1.3.6.1.4.1.3704.1.3.1", spl->bl)
        != NGX_OK
        || ngx_http_thim_vcek_spl(cert, "1.3.6.1.4.1.3704.1.3.2", spl->tee)
           != NGX_OK
        || ngx_http_thim_vcek_spl(cert, "1.3.6.1.4.1.3704.1.3.3", spl->snp)
           != NGX_OK
        || ngx_http_thim_vcek_spl(cert, "1.3.6.1.4.1.3704.1.3.8", spl->ucode)
           != NGX_OK
        || (turin
            && ngx_http_thim_vcek_spl(cert, "1.3.6.1.4.1.3704.1.3.9",
                                      spl->fmc)
               != NGX_OK))
    {
        *reason = "the VCEK is for another TCB";
        goto done;
    }

    *reason = "verified";
    rc = NGX_OK;

done:

    X509_free(cert);
    ERR_clear_error();

    return rc;
}


/* KDS's cert_chain: exactly the ASK (or ASVK) signed by the pinned ARK */

ngx_int_t
ngx_http_thim_verify_amd_chain(u_char *pem, size_t len, X509 *ark,
    char **reason)
{
    ngx_int_t        rc;
    STACK_OF(X509)  *certs;

    certs = ngx_http_thim_pem_certs(pem, len);

    if (certs == NULL || sk_X509_num(certs) != 2) {
        sk_X509_pop_free(certs, X509_free);
        *reason = "the chain is not two PEM certificates";
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    if (ngx_http_thim_same_key(sk_X509_value(certs, 1), ark) != NGX_OK) {
        *reason = "the chain's ARK is not the trusted one";

    } else if (X509_verify(sk_X509_value(certs, 0), X509_get0_pubkey(ark))
               != 1)
    {
        *reason = "the chain's ASK is not signed by the ARK";

    } else {
        *reason = "verified";
        rc = NGX_OK;
    }

    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return rc;
}


/*
 * A product's trust file, KDS's cert_chain (ASK then ARK): the ARK is the
 * pin, so it must be self-signed and the ASK signed by it.  NGX_ERROR
 * when the file cannot be read, NGX_DECLINED when it is not such a pair.
 */

ngx_int_t
ngx_http_thim_amd_trust_read(char *file, X509 **ask, X509 **ark)
{
    BIO  *bio;

    bio = BIO_new_file(file, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    *ask = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    *ark = *ask ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);

    if (*ark == NULL
        || X509_verify(*ark, X509_get0_pubkey(*ark)) != 1
        || X509_verify(*ask, X509_get0_pubkey(*ark)) != 1)
    {
        X509_free(*ask);
        X509_free(*ark);
        *ask = NULL;
        *ark = NULL;
        ERR_clear_error();
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_thim_verify_amd_crl(u_char *der, size_t len, X509 *ark,
    char **reason)
{
    return ngx_http_thim_verify_crl(der, len, NULL, 0, ark, reason);
}


static ngx_int_t
ngx_http_thim_vcek_ext(X509 *cert, char *oid, ASN1_OCTET_STRING **value)
{
    int                 i;
    ASN1_OBJECT        *obj;
    X509_EXTENSION     *ext;

    obj = OBJ_txt2obj(oid, 1);
    if (obj == NULL) {
        return NGX_ERROR;
    }

    i = X509_get_ext_by_OBJ(cert, obj, -1);
    ASN1_OBJECT_free(obj);

    if (i < 0) {
        return NGX_DECLINED;
    }

    ext = X509_get_ext(cert, i);
    *value = X509_EXTENSION_get_data(ext);

    return (*value != NULL) ? NGX_OK : NGX_DECLINED;
}


/* an SPL extension: a DER INTEGER equal to what was asked for */

static ngx_int_t
ngx_http_thim_vcek_spl(X509 *cert, char *oid, ngx_uint_t want)
{
    long                v;
    const u_char       *p;
    ASN1_INTEGER       *n;
    ASN1_OCTET_STRING  *value;

    if (ngx_http_thim_vcek_ext(cert, oid, &value) != NGX_OK) {
        return NGX_DECLINED;
    }

    p = ASN1_STRING_get0_data(value);

    n = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(value));
    if (n == NULL) {
        return NGX_DECLINED;
    }

    v = ASN1_INTEGER_get(n);
    ASN1_INTEGER_free(n);

    return (v >= 0 && (ngx_uint_t) v == want) ? NGX_OK : NGX_DECLINED;
}


/* every PEM certificate of the text, in order; NULL if there is none */

STACK_OF(X509) *
ngx_http_thim_pem_certs(u_char *pem, size_t len)
{
    BIO             *bio;
    X509            *cert;
    STACK_OF(X509)  *certs;

    if (len > INT_MAX) {
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    certs = sk_X509_new_null();

    if (bio == NULL || certs == NULL) {
        BIO_free(bio);
        sk_X509_free(certs);
        return NULL;
    }

    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(certs, cert) == 0) {
            X509_free(cert);
            break;
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        return NULL;
    }

    return certs;
}


/* the common name of the first certificate of a PEM chain is exactly cn */

ngx_int_t
ngx_http_thim_leaf_cn_is(u_char *pem, size_t len, char *cn)
{
    int              n;
    char             buf[128];
    STACK_OF(X509)  *certs;

    certs = ngx_http_thim_pem_certs(pem, len);
    if (certs == NULL) {
        return NGX_DECLINED;
    }

    n = X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(certs,
                                                                      0)),
                                  NID_commonName, buf, sizeof(buf));

    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return (n > 0 && ngx_strcmp(buf, cn) == 0) ? NGX_OK : NGX_DECLINED;
}


/* keys, not certificate bytes */

ngx_int_t
ngx_http_thim_same_key(X509 *a, X509 *b)
{
    EVP_PKEY  *ka, *kb;

    ka = X509_get0_pubkey(a);
    kb = X509_get0_pubkey(b);

    if (ka && kb && EVP_PKEY_eq(ka, kb) == 1) {
        return NGX_OK;
    }

    ERR_clear_error();

    return NGX_DECLINED;
}


static u_char *
ngx_http_thim_json_skip_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* p at the opening quote; returns past the closing one, NULL if none */

static u_char *
ngx_http_thim_json_skip_string(u_char *p, u_char *last)
{
    for (p++; p < last; p++) {

        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


/* any value: objects and arrays by depth, strings by quotes */

static u_char *
ngx_http_thim_json_skip_value(u_char *p, u_char *last)
{
    size_t  depth;

    if (p == last) {
        return NULL;
    }

    if (*p == '"') {
        return ngx_http_thim_json_skip_string(p, last);
    }

    if (*p != '{' && *p != '[') {
        while (p < last && *p != ',' && *p != '}' && *p != ']'
               && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
        {
            p++;
        }

        return p;
    }

    depth = 0;

    while (p < last) {

        if (*p == '"') {
            p = ngx_http_thim_json_skip_string(p, last);

            if (p == NULL) {
                return NULL;
            }

            continue;
        }

        if (*p == '{' || *p == '[') {
            depth++;

        } else if (*p == '}' || *p == ']') {
            if (--depth == 0) {
                return p + 1;
            }
        }

        p++;
    }

    return NULL;
}


/* r||s as 128 hex digits -> a DER ECDSA-Sig-Value for EVP_DigestVerify */

static ngx_int_t
ngx_http_thim_ecdsa_der(u_char *hex, size_t len, u_char **der, int *der_len)
{
    u_char      raw[NGX_HTTP_THIM_SIG_HEX / 2];
    size_t      i;
    BIGNUM     *r, *s;
    ngx_int_t   b;
    ECDSA_SIG  *sig;

    for (i = 0; i < sizeof(raw); i++) {
        b = ngx_http_thim_hex_byte(hex + 2 * i);

        if (b < 0) {
            return NGX_DECLINED;
        }

        raw[i] = (u_char) b;
    }

    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);

    if (sig == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return NGX_ERROR;
    }

    *der = NULL;
    *der_len = i2d_ECDSA_SIG(sig, der);

    ECDSA_SIG_free(sig);

    return (*der_len > 0) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_thim_hex_byte(u_char *p)
{
    ngx_int_t  i, v, c;

    v = 0;

    for (i = 0; i < 2; i++) {
        c = ngx_tolower(p[i]);

        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = v * 16 + (c - 'a' + 10);

        } else {
            return -1;
        }
    }

    return v;
}
