
/*
 * ngx_thim: certificate and CRL helpers (pure; see ngx_thim_x509.h).
 */


#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_thim_x509.h"


/* PEM puts 48 bytes, 64 base64 characters, on a line */
#define NGX_HTTP_THIM_PEM_LINE_BYTES   48


static ngx_int_t ngx_http_thim_asn1_time(const ASN1_TIME *at, time_t *t);
static time_t ngx_http_thim_timegm(struct tm *tm);


/*
 * Parses a DER CRL (which is also the check that it is one, to the last
 * byte) and returns its nextUpdate.  A CRL without nextUpdate is refused:
 * Intel's and AMD's always carry one, and freshness depends on it.
 */

ngx_int_t
ngx_http_thim_crl_next_update(u_char *der, size_t len, time_t *next_update)
{
    X509_CRL             *crl;
    ngx_int_t             rc;
    const u_char         *p;

    p = der;

    crl = d2i_X509_CRL(NULL, &p, (long) len);
    if (crl == NULL) {
        /* nginx's TLS code must not trip over our parse errors later */
        ERR_clear_error();
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (p == der + len) {
        rc = ngx_http_thim_asn1_time(X509_CRL_get0_nextUpdate(crl),
                                     next_update);
    }

    X509_CRL_free(crl);

    return rc;
}


/* a DER certificate, to its last byte, and its notAfter */

ngx_int_t
ngx_http_thim_cert_not_after(u_char *der, size_t len, time_t *not_after)
{
    X509          *cert;
    ngx_int_t      rc;
    const u_char  *p;

    p = der;

    cert = d2i_X509(NULL, &p, (long) len);
    if (cert == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (p == der + len) {
        rc = ngx_http_thim_asn1_time(X509_get0_notAfter(cert), not_after);
    }

    X509_free(cert);

    return rc;
}


/*
 * Exactly "count" PEM certificates and nothing but white space around
 * them (KDS's cert_chain; Turin's uses CRLF), and the earliest notAfter.
 */

ngx_int_t
ngx_http_thim_pem_certs_not_after(u_char *pem, size_t len, ngx_uint_t count,
    time_t *not_after)
{
    BIO         *bio;
    X509        *cert;
    u_char       c;
    time_t       t;
    ngx_int_t    rc;
    ngx_uint_t   n;

    if (len > INT_MAX) {
        return NGX_ERROR;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    *not_after = 0;

    for (n = 0; n < count; n++) {
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (cert == NULL) {
            rc = NGX_ERROR;
            break;
        }

        rc = ngx_http_thim_asn1_time(X509_get0_notAfter(cert), &t);

        X509_free(cert);

        if (rc != NGX_OK) {
            break;
        }

        if (*not_after == 0 || t < *not_after) {
            *not_after = t;
        }
    }

    while (rc == NGX_OK && BIO_read(bio, &c, 1) == 1) {
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
            rc = NGX_ERROR;
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


static ngx_int_t
ngx_http_thim_asn1_time(const ASN1_TIME *at, time_t *t)
{
    struct tm  tm;

    if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    *t = ngx_http_thim_timegm(&tm);

    return NGX_OK;
}


size_t
ngx_http_thim_pem_size(size_t der_len, char *label)
{
    size_t  lines;

    lines = (der_len + NGX_HTTP_THIM_PEM_LINE_BYTES - 1)
            / NGX_HTTP_THIM_PEM_LINE_BYTES;

    return sizeof("-----BEGIN -----\n") - 1
           + sizeof("-----END -----\n") - 1
           + 2 * ngx_strlen(label)
           + 4 * ((der_len + 2) / 3) + lines;
}


/* as openssl's PEM writer: 64-column base64, LF line ends */

u_char *
ngx_http_thim_pem_encode(u_char *dst, u_char *der, size_t len, char *label)
{
    size_t  n;

    dst = ngx_cpymem(dst, "-----BEGIN ", sizeof("-----BEGIN ") - 1);
    dst = ngx_cpymem(dst, label, ngx_strlen(label));
    dst = ngx_cpymem(dst, "-----\n", sizeof("-----\n") - 1);

    while (len) {
        n = ngx_min(len, NGX_HTTP_THIM_PEM_LINE_BYTES);

        dst += EVP_EncodeBlock(dst, der, (int) n);
        *dst++ = '\n';

        der += n;
        len -= n;
    }

    dst = ngx_cpymem(dst, "-----END ", sizeof("-----END ") - 1);
    dst = ngx_cpymem(dst, label, ngx_strlen(label));

    return ngx_cpymem(dst, "-----\n", sizeof("-----\n") - 1);
}


/*
 * "2026-02-06T12:08:20Z", the only form in Intel's signed JSON; anything
 * else is an error rather than a guess.
 */

ngx_int_t
ngx_http_thim_parse_iso8601(u_char *p, size_t len, time_t *t)
{
    static const char  *shape = "dddd-dd-ddTdd:dd:ddZ";

    struct tm   tm;
    ngx_uint_t  i, v[6], k;

    if (len != 20) {
        return NGX_ERROR;
    }

    k = 0;
    ngx_memzero(v, sizeof(v));

    for (i = 0; i < len; i++) {

        if (shape[i] != 'd') {
            if (p[i] != shape[i]) {
                return NGX_ERROR;
            }

            k++;
            continue;
        }

        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        v[k] = v[k] * 10 + (p[i] - '0');
    }

    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23
        || v[4] > 59 || v[5] > 60)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&tm, sizeof(struct tm));

    tm.tm_year = (int) v[0] - 1900;
    tm.tm_mon = (int) v[1] - 1;
    tm.tm_mday = (int) v[2];
    tm.tm_hour = (int) v[3];
    tm.tm_min = (int) v[4];
    tm.tm_sec = (int) v[5];

    *t = ngx_http_thim_timegm(&tm);

    return NGX_OK;
}


/* UTC broken-down time to time_t, without the TZ dance of mktime() */

static time_t
ngx_http_thim_timegm(struct tm *tm)
{
    int     y, m;
    time_t  days;

    y = tm->tm_year + 1900;
    m = tm->tm_mon + 1;

    /* days from 1970-01-01, the civil-from-days inverse (March-based year) */
    if (m <= 2) {
        y--;
        m += 12;
    }

    days = (time_t) 365 * y + y / 4 - y / 100 + y / 400
           + (153 * (m - 3) + 2) / 5 + tm->tm_mday - 719469;

    return days * 86400 + tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec;
}


/* a pool cleanup handler for a certificate the configuration holds */

void
ngx_http_thim_x509_free(void *data)
{
    X509_free(data);
}
