
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
 *
 * Chaining to the root is not enough: each kind of collateral has its
 * signer (ngx_http_thim_signer_e), a certificate of that name and kind
 * (CA or not, key usages) issued directly by the root, and not listed in
 * the root CA CRL when one is known (passed in, DER, by the caller).
 */


#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ngx_thim_verify.h"


#define NGX_HTTP_THIM_SIG_HEX          128


/* what the certificate of a signer role is, as Intel issues it */
typedef struct {
    char                      *cn;
    char                      *cn2;             /* or this one */
    ngx_uint_t                 ca;              /* CA:TRUE, else not a CA */
    uint32_t                   usage;           /* key usages it carries */
    char                      *not_named;
    char                      *not_kind;
} ngx_http_thim_role_t;


static ngx_http_thim_role_t  ngx_http_thim_roles[] = {

    /* NGX_HTTP_THIM_SIGNER_ROOT: the anchor itself, no certificate */
    { NULL, NULL, 0, 0, NULL, NULL },

    { "Intel SGX TCB Signing", NULL, 0, KU_DIGITAL_SIGNATURE,
      "the signer is not the Intel SGX TCB Signing certificate",
      "the TCB signer is a CA or lacks digitalSignature" },

    { "Intel SGX PCK Processor CA", NULL, 1, KU_KEY_CERT_SIGN | KU_CRL_SIGN,
      "the signer is not the Intel SGX PCK Processor CA",
      "the PCK CA is not a CA with keyCertSign and cRLSign" },

    { "Intel SGX PCK Platform CA", NULL, 1, KU_KEY_CERT_SIGN | KU_CRL_SIGN,
      "the signer is not the Intel SGX PCK Platform CA",
      "the PCK CA is not a CA with keyCertSign and cRLSign" },

    { "Intel SGX PCK Processor CA", "Intel SGX PCK Platform CA", 1,
      KU_KEY_CERT_SIGN | KU_CRL_SIGN,
      "the signer is not a PCK CA",
      "the PCK CA is not a CA with keyCertSign and cRLSign" }
};


/*
 * Signers already verified, while a load re-checks thousands of records
 * signed by a handful of chains (ngx_http_thim_verify_memo()): by the
 * digest of the chain, the anchor, the role and the root CA CRL, with the
 * times the chain's certificates are all valid.  A chain that verified
 * once verifies at any other time in that window: nothing else of its
 * verification depends on the time.
 */
#define NGX_HTTP_THIM_MEMO_SIZE  64

typedef struct {
    u_char                     digest[SHA256_DIGEST_LENGTH];
    time_t                     from;
    time_t                     until;
} ngx_http_thim_memo_t;

static ngx_http_thim_memo_t  ngx_http_thim_memo[NGX_HTTP_THIM_MEMO_SIZE];
static ngx_uint_t            ngx_http_thim_memo_used;
static ngx_uint_t            ngx_http_thim_memo_on;


static ngx_int_t ngx_http_thim_verify_memo_signer(STACK_OF(X509) *certs,
    X509 *anchor, ngx_http_thim_signer_e role, ngx_str_t *root_crl,
    time_t at, char **reason);
static ngx_int_t ngx_http_thim_memo_key(STACK_OF(X509) *certs, X509 *anchor,
    ngx_http_thim_signer_e role, ngx_str_t *root_crl, u_char *digest,
    time_t *from, time_t *until);
static ngx_int_t ngx_http_thim_revoked(X509 *cert, X509 *anchor,
    ngx_str_t *root_crl, char **reason);
static ngx_int_t ngx_http_thim_cert_kind(X509 *cert, ngx_uint_t ca,
    uint32_t usage);
static ngx_int_t ngx_http_thim_cn_is(X509 *cert, char *prefix, char *name);
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
    u_char *chain, size_t chain_len, X509 *anchor, ngx_str_t *root_crl,
    time_t at, char **reason)
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

    /* every signed Intel document is the TCB Signing certificate's */
    rc = ngx_http_thim_verify_signer(certs, anchor, NGX_HTTP_THIM_SIGNER_TCB,
                                     root_crl, at, reason);

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
 * certs[0] chains to the anchor at "at" and is the certificate of the
 * role: its name, issued by the anchor's key directly (Intel's hierarchy
 * has no intermediate), a CA or not, with the role's key usages, and not
 * revoked by the root CA CRL, if one is given.
 */

ngx_int_t
ngx_http_thim_verify_signer(STACK_OF(X509) *certs, X509 *anchor,
    ngx_http_thim_signer_e role, ngx_str_t *root_crl, time_t at,
    char **reason)
{
    X509                  *signer;
    ngx_http_thim_role_t  *ro;

    if (role == NGX_HTTP_THIM_SIGNER_ROOT
        || role > NGX_HTTP_THIM_SIGNER_PCK_ANY)
    {
        *reason = "no such signer role";
        return NGX_ERROR;
    }

    if (ngx_http_thim_memo_on) {
        return ngx_http_thim_verify_memo_signer(certs, anchor, role,
                                                root_crl, at, reason);
    }

    if (ngx_http_thim_verify_chain(certs, anchor, at, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    ro = &ngx_http_thim_roles[role];
    signer = sk_X509_value(certs, 0);

    if (ngx_http_thim_cn_is(signer, "", ro->cn) != NGX_OK
        && (ro->cn2 == NULL
            || ngx_http_thim_cn_is(signer, "", ro->cn2) != NGX_OK))
    {
        *reason = ro->not_named;
        return NGX_DECLINED;
    }

    if (X509_verify(signer, X509_get0_pubkey(anchor)) != 1) {
        ERR_clear_error();
        *reason = "the signer is not issued directly by the pinned root";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_cert_kind(signer, ro->ca, ro->usage) != NGX_OK) {
        *reason = ro->not_kind;
        return NGX_DECLINED;
    }

    if (ngx_http_thim_revoked(signer, anchor, root_crl, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    *reason = "verified";

    return NGX_OK;
}


/*
 * The memo on (a load begins a slice) or off (the slice ends): requests
 * never use it.  "clear" forgets what it holds.
 */

void
ngx_http_thim_verify_memo(ngx_uint_t on, ngx_uint_t clear)
{
    ngx_http_thim_memo_on = on;

    if (clear) {
        ngx_http_thim_memo_used = 0;
    }
}


/* ngx_http_thim_verify_signer(), each chain verified once while memo_on */

static ngx_int_t
ngx_http_thim_verify_memo_signer(STACK_OF(X509) *certs, X509 *anchor,
    ngx_http_thim_signer_e role, ngx_str_t *root_crl, time_t at,
    char **reason)
{
    u_char                 digest[SHA256_DIGEST_LENGTH];
    time_t                 from, until;
    ngx_int_t              rc;
    ngx_uint_t             i, n;
    ngx_http_thim_memo_t  *m;

    if (ngx_http_thim_memo_key(certs, anchor, role, root_crl, digest, &from,
                               &until)
        != NGX_OK)
    {
        from = 1;
        until = 0;                          /* never kept */
    }

    n = ngx_min(ngx_http_thim_memo_used, NGX_HTTP_THIM_MEMO_SIZE);

    for (i = 0; i < n; i++) {
        m = &ngx_http_thim_memo[i];

        if (at >= m->from && at <= m->until
            && ngx_memcmp(m->digest, digest, sizeof(digest)) == 0)
        {
            *reason = "verified";
            return NGX_OK;
        }
    }

    ngx_http_thim_memo_on = 0;
    rc = ngx_http_thim_verify_signer(certs, anchor, role, root_crl, at,
                                     reason);
    ngx_http_thim_memo_on = 1;

    if (rc == NGX_OK && from <= until) {
        m = &ngx_http_thim_memo[ngx_http_thim_memo_used++
                                % NGX_HTTP_THIM_MEMO_SIZE];
        ngx_memcpy(m->digest, digest, sizeof(digest));
        m->from = from;
        m->until = until;
    }

    return rc;
}


/* the memo's key, and the window in which every certificate is valid */

static ngx_int_t
ngx_http_thim_memo_key(STACK_OF(X509) *certs, X509 *anchor,
    ngx_http_thim_signer_e role, ngx_str_t *root_crl, u_char *digest,
    time_t *from, time_t *until)
{
    int            i;
    X509          *c;
    time_t         nb, na;
    u_char         md[EVP_MAX_MD_SIZE];
    ngx_int_t      rc;
    struct tm      tm;
    EVP_MD_CTX    *sha;
    unsigned int   len;

    *from = 0;
    *until = NGX_MAX_TIME_T_VALUE;

    sha = EVP_MD_CTX_new();

    if (sha == NULL
        || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(sha, &role, sizeof(role)) != 1
        || (root_crl
            && EVP_DigestUpdate(sha, root_crl->data, root_crl->len) != 1))
    {
        EVP_MD_CTX_free(sha);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    for (i = -1; i < sk_X509_num(certs); i++) {
        c = (i < 0) ? anchor : sk_X509_value(certs, i);

        if (X509_digest(c, EVP_sha256(), md, &len) != 1
            || ASN1_TIME_to_tm(X509_get0_notBefore(c), &tm) != 1)
        {
            goto done;
        }

        nb = timegm(&tm);

        if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm) != 1
            || EVP_DigestUpdate(sha, md, len) != 1)
        {
            goto done;
        }

        na = timegm(&tm);

        *from = ngx_max(*from, nb);
        *until = ngx_min(*until, na);
    }

    if (EVP_DigestFinal_ex(sha, digest, &len) == 1) {
        rc = NGX_OK;
    }

done:

    EVP_MD_CTX_free(sha);
    ERR_clear_error();

    return rc;
}


/*
 * Listed in the root CA CRL: refused, whatever the revocation date, a
 * key revoked once is not trusted for what it signed before.  A CRL
 * given that does not parse or verify with the anchor refuses too: it
 * came from the cache, where only verified ones are, so it is a bug or
 * an attack, not a reason to stop checking.
 */

static ngx_int_t
ngx_http_thim_revoked(X509 *cert, X509 *anchor, ngx_str_t *root_crl,
    char **reason)
{
    X509_CRL      *crl;
    ngx_int_t      rc;
    X509_REVOKED  *rev;
    const u_char  *p;

    if (root_crl == NULL || root_crl->len == 0) {
        return NGX_OK;
    }

    p = root_crl->data;

    crl = d2i_X509_CRL(NULL, &p, (long) root_crl->len);

    if (crl == NULL || X509_CRL_verify(crl, X509_get0_pubkey(anchor)) != 1) {
        *reason = "the cached Intel root CA CRL does not verify";
        rc = NGX_DECLINED;

    } else if (X509_CRL_get0_by_serial(crl, &rev,
                                       X509_get_serialNumber(cert))
               == 1)
    {
        *reason = "the signer is revoked by the Intel root CA CRL";
        rc = NGX_DECLINED;

    } else {
        rc = NGX_OK;
    }

    X509_CRL_free(crl);
    ERR_clear_error();

    return rc;
}


/*
 * A DER CRL signed by the first certificate of "chain", the certificate
 * of the role (a PCK CA, checked at the CRL's thisUpdate), or, for
 * NGX_HTTP_THIM_SIGNER_ROOT, by the anchor itself (the root CA CRL); its
 * issuer is the signer's name.
 */

ngx_int_t
ngx_http_thim_verify_crl(u_char *der, size_t len, u_char *chain,
    size_t chain_len, X509 *anchor, ngx_http_thim_signer_e role,
    ngx_str_t *root_crl, char **reason)
{
    X509            *signer;
    X509_CRL        *crl;
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

    if (role == NGX_HTTP_THIM_SIGNER_ROOT) {
        signer = anchor;

    } else {
        certs = chain_len ? ngx_http_thim_pem_certs(chain, chain_len) : NULL;

        if (certs == NULL) {
            *reason = "the CRL's issuer chain is not PEM certificates";
            goto done;
        }

        if (ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm) != 1) {
            *reason = "the CRL has no valid thisUpdate";
            goto done;
        }

        if (ngx_http_thim_verify_signer(certs, anchor, role, root_crl,
                                        timegm(&tm), reason)
            != NGX_OK)
        {
            goto done;
        }

        signer = sk_X509_value(certs, 0);
    }

    if (X509_CRL_verify(crl, X509_get0_pubkey(signer)) != 1) {
        *reason = "the CRL's signature does not verify";
        goto done;
    }

    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(signer))
        != 0)
    {
        *reason = "the CRL's issuer is not the certificate that signed it";
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
 * A VCEK: issued and signed by the product's ASK (RSA-PSS; the ASK
 * itself was checked against the pinned ARK when the configuration was
 * read), an end-entity certificate of an ECDSA P-384 key, and
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
    EVP_PKEY            *key;
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

    if (X509_check_issued(ask, cert) != X509_V_OK
        || X509_verify(cert, X509_get0_pubkey(ask)) != 1)
    {
        *reason = "the VCEK is not signed by the product's ASK";
        goto done;
    }

    /* AMD's VCEK: an end-entity ECDSA P-384 key, never a CA */
    if (ngx_http_thim_cert_kind(cert, 0, 0) != NGX_OK) {
        *reason = "the VCEK is a CA certificate";
        goto done;
    }

    key = X509_get0_pubkey(cert);

    if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_EC
        || EVP_PKEY_get_bits(key) != 384)
    {
        *reason = "the VCEK's key is not ECDSA P-384";
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


/*
 * KDS's cert_chain: exactly two certificates, the pinned ARK last and,
 * first, signed by it, the CA of the family: for /vcek/ the product's
 * ASK (the one pinned with the ARK), for /vlek/ the product's ASVK
 * ("SEV-VLEK-<product>", another key than the ASK).  Either is a CA with
 * keyCertSign, as AMD issues them.
 */

ngx_int_t
ngx_http_thim_verify_amd_chain(u_char *pem, size_t len, X509 *ask, X509 *ark,
    char *product, ngx_uint_t vlek, char **reason)
{
    X509            *ca;
    ngx_int_t        rc;
    STACK_OF(X509)  *certs;

    certs = ngx_http_thim_pem_certs(pem, len);

    if (certs == NULL || sk_X509_num(certs) != 2) {
        sk_X509_pop_free(certs, X509_free);
        *reason = "the chain is not two PEM certificates";
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    ca = sk_X509_value(certs, 0);

    if (ngx_http_thim_same_key(sk_X509_value(certs, 1), ark) != NGX_OK) {
        *reason = "the chain's ARK is not the trusted one";

    } else if (X509_verify(ca, X509_get0_pubkey(ark)) != 1) {
        *reason = "the chain's ASK is not signed by the ARK";

    } else if (!vlek && ngx_http_thim_same_key(ca, ask) != NGX_OK) {
        *reason = "the VCEK chain's CA is not the product's ASK";

    } else if (vlek
               && (ngx_http_thim_same_key(ca, ask) == NGX_OK
                   || ngx_http_thim_cn_is(ca, "SEV-VLEK-", product)
                      != NGX_OK))
    {
        *reason = "the VLEK chain's CA is not the product's ASVK";

    } else if (ngx_http_thim_cert_kind(ca, 1, KU_KEY_CERT_SIGN) != NGX_OK) {
        *reason = "the chain's ASK is not a CA with keyCertSign";

    } else {
        *reason = "verified";
        rc = NGX_OK;
    }

    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();

    return rc;
}


/*
 * A product's trust file, KDS's vcek cert_chain (ASK then ARK): the ARK
 * is the pin, so it must be self-signed, "ARK-<product>", a CA with
 * keyCertSign and cRLSign, and the ASK "SEV-<product>", a CA with
 * keyCertSign, signed by it.  NGX_ERROR when the file cannot be read,
 * NGX_DECLINED when it is not such a pair.
 */

ngx_int_t
ngx_http_thim_amd_trust_read(char *file, char *product, X509 **ask,
    X509 **ark)
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
        || X509_verify(*ask, X509_get0_pubkey(*ark)) != 1
        || ngx_http_thim_cn_is(*ark, "ARK-", product) != NGX_OK
        || ngx_http_thim_cn_is(*ask, "SEV-", product) != NGX_OK
        || ngx_http_thim_cert_kind(*ark, 1, KU_KEY_CERT_SIGN | KU_CRL_SIGN)
           != NGX_OK
        || ngx_http_thim_cert_kind(*ask, 1, KU_KEY_CERT_SIGN) != NGX_OK)
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
    return ngx_http_thim_verify_crl(der, len, NULL, 0, ark,
                                    NGX_HTTP_THIM_SIGNER_ROOT, NULL, reason);
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


/* the certificate's one common name is exactly prefix + name */

static ngx_int_t
ngx_http_thim_cn_is(X509 *cert, char *prefix, char *name)
{
    int          i, n;
    size_t       plen;
    char         buf[128];
    X509_NAME   *subject;

    subject = X509_get_subject_name(cert);

    i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);

    /* a second CN would let two readers see two names */
    if (i < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0) {
        return NGX_DECLINED;
    }

    n = X509_NAME_get_text_by_NID(subject, NID_commonName, buf, sizeof(buf));

    ERR_clear_error();

    plen = ngx_strlen(prefix);

    if (n <= 0 || (size_t) n != ngx_strlen(buf)
        || ngx_strncmp(buf, prefix, plen) != 0
        || ngx_strcmp(buf + plen, name) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A CA (basicConstraints CA:TRUE) or an end entity (no CA by any of
 * OpenSSL's rules), carrying the key usages given (and a keyUsage
 * extension at all, when some are).
 */

static ngx_int_t
ngx_http_thim_cert_kind(X509 *cert, ngx_uint_t ca, uint32_t usage)
{
    uint32_t  flags;

    flags = X509_get_extension_flags(cert);

    if (flags & EXFLAG_INVALID) {
        return NGX_DECLINED;
    }

    if (ca ? !(flags & EXFLAG_CA) : X509_check_ca(cert) != 0) {
        return NGX_DECLINED;
    }

    if (usage
        && (!(flags & EXFLAG_KUSAGE)
            || (X509_get_key_usage(cert) & usage) != usage))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
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
