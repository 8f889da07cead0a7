
/*
 * Unit tests: Intel CRL distribution point recognition
 * (src/ngx_thim_crl_uri.c) and Intel-style percent-encoding.
 */


#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_crl_uri.c"


static ngx_int_t
parse(char *uri, ngx_uint_t *crl, ngx_uint_t *enc)
{
    ngx_int_t                rc;
    ngx_http_thim_crl_uri_t  t;

    t.crl = 0;
    t.encoding = 0;

    rc = ngx_http_thim_crl_uri_parse((u_char *) uri, strlen(uri), &t);

    *crl = t.crl;
    *enc = t.encoding;

    return rc;
}


static void
accepts(char *uri, ngx_uint_t want_crl, ngx_uint_t want_enc)
{
    ngx_uint_t  crl, enc;

    ok(parse(uri, &crl, &enc) == NGX_OK && crl == want_crl
       && enc == want_enc, "accepted: %s", uri);
}


static void
refuses(char *uri)
{
    ngx_uint_t  crl, enc;

    ok(parse(uri, &crl, &enc) == NGX_DECLINED, "refused: %s", uri);
}


int
main(void)
{
    u_char   out[64];
    size_t   n;
    char     big[NGX_HTTP_THIM_CRL_URI_MAX + 2];

    accepts("https://certificates.trustedservices.intel.com/IntelSGXRootCA.der",
            NGX_HTTP_THIM_CRL_ROOT, NGX_HTTP_THIM_CRL_DER);
    accepts("https://certificates.trustedservices.intel.com/IntelSGXRootCA.crl",
            NGX_HTTP_THIM_CRL_ROOT, NGX_HTTP_THIM_CRL_PEM);
    accepts("https://certificates.trustedservices.intel.com/intelsgxrootca.crl",
            NGX_HTTP_THIM_CRL_ROOT, NGX_HTTP_THIM_CRL_PEM);
    accepts("HTTPS://CERTIFICATES.TRUSTEDSERVICES.INTEL.COM/INTELSGXROOTCA.DER",
            NGX_HTTP_THIM_CRL_ROOT, NGX_HTTP_THIM_CRL_DER);
    accepts("https://certificates.trustedservices.intel.com/"
            "IntelSGXPCKProcessor.crl",
            NGX_HTTP_THIM_CRL_PROCESSOR, NGX_HTTP_THIM_CRL_PEM);

    /* Azure's double encoding, PROTOCOLS.md 1b */
    accepts("https%253a%252f%252fcertificates.trustedservices.intel.com"
            "%252fintelsgxrootca.crl",
            NGX_HTTP_THIM_CRL_ROOT, NGX_HTTP_THIM_CRL_PEM);
    accepts("https%3A%2F%2Fapi.trustedservices.intel.com%2Fsgx%2F"
            "certification%2Fv3%2Fpckcrl%3Fca%3Dplatform%26encoding%3Dpem",
            NGX_HTTP_THIM_CRL_PLATFORM, NGX_HTTP_THIM_CRL_PEM);

    accepts("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?ca=processor&encoding=der",
            NGX_HTTP_THIM_CRL_PROCESSOR, NGX_HTTP_THIM_CRL_DER);
    accepts("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?encoding=der&ca=PLATFORM",
            NGX_HTTP_THIM_CRL_PLATFORM, NGX_HTTP_THIM_CRL_DER);
    accepts("https://api.trustedservices.intel.com/sgx/certification/v2/"
            "pckcrl?ca=processor",
            NGX_HTTP_THIM_CRL_PROCESSOR, NGX_HTTP_THIM_CRL_PEM);

    refuses("");
    refuses("http://certificates.trustedservices.intel.com/IntelSGXRootCA.der");
    refuses("https://certificates.trustedservices.intel.com.evil.com/"
            "IntelSGXRootCA.der");
    refuses("https://evil.com/?x=https://certificates.trustedservices."
            "intel.com/IntelSGXRootCA.der");
    refuses("https://certificates.trustedservices.intel.com/"
            "IntelSGXRootCA.der?x");
    refuses("https://certificates.trustedservices.intel.com/../etc/passwd");
    refuses("https://certificates.trustedservices.intel.com/"
            "IntelSGXRootCA.der%00");
    refuses("https://certificates.trustedservices.intel.com/"
            "IntelSGXRootCA.der ");
    refuses("https://certificates.trustedservices.intel.com/Other.crl");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?ca=other");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?ca=processor&ca=platform");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?ca=processor&encoding=xml");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "pckcrl?ca=processor&x=1");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v4/"
            "tcb?fmspc=00906ed50000");
    refuses("https://api.trustedservices.intel.com/sgx/certification/v9/"
            "pckcrl?ca=processor");
    refuses("https%25252525253a%25252525252f");
    refuses("%zz");

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    refuses(big);

    n = ngx_http_thim_pct_encode(out, (u_char *) "A b+/=\n-._~", 11) - out;
    is_str(out, n, "A%20b%2B%2F%3D%0A-._~",
           "Intel-style percent-encoding: %%20, %%0A, upper-case hex");

    return done_testing();
}
