
/*
 * Unit tests: CRL parsing, PEM encoding and Intel's dates
 * (src/ngx_thim_x509.c), on the real Intel root CA CRL.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_thim_x509.c"


static size_t
slurp(char *path, u_char *buf, size_t size)
{
    FILE    *f;
    size_t   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }

    n = fread(buf, 1, size, f);
    fclose(f);

    return n;
}


int
main(int argc, char **argv)
{
    char     path[1024];
    u_char   der[4096], pem[8192], want[8192];
    size_t   len, plen, wlen;
    time_t   t;

    ok(ngx_http_thim_parse_iso8601((u_char *) "1970-01-01T00:00:00Z", 20, &t)
       == NGX_OK && t == 0, "epoch");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2026-02-06T12:08:20Z", 20, &t)
       == NGX_OK && t == 1770379700, "a real nextUpdate");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2024-02-29T23:59:59Z", 20, &t)
       == NGX_OK && t == 1709251199, "leap day");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2026-02-06 12:08:20Z", 20, &t)
       == NGX_ERROR, "space instead of T refused");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2026-13-06T12:08:20Z", 20, &t)
       == NGX_ERROR, "month 13 refused");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2026-02-06T12:08:20", 19, &t)
       == NGX_ERROR, "no Z refused");
    ok(ngx_http_thim_parse_iso8601((u_char *) "2026-02-06T12:08:20+01:00", 25,
                                   &t)
       == NGX_ERROR, "offsets refused");

    snprintf(path, sizeof(path), "%s/intel/root/IntelSGXRootCA_crl_2026-02-26.der",
             argc > 1 ? argv[1] : "t/data");
    len = slurp(path, der, sizeof(der));
    ok(len > 0, "read %s", path);

    ok(ngx_http_thim_crl_next_update(der, len, &t) == NGX_OK
       && t == 1803647040, "root CRL nextUpdate 2027-02-26T13:04:00Z");
    ok(ngx_http_thim_crl_next_update(der, len - 1, &t) == NGX_ERROR,
       "truncated CRL refused");
    ok(ngx_http_thim_crl_next_update((u_char *) "{\"a\":1}", 7, &t)
       == NGX_ERROR, "JSON is not a CRL");
    memcpy(pem, der, len);
    pem[len] = 0;
    ok(ngx_http_thim_crl_next_update(pem, len + 1, &t) == NGX_ERROR,
       "trailing bytes refused");

    plen = ngx_http_thim_pem_encode(pem, der, len, "X509 CRL") - pem;
    ok(plen == ngx_http_thim_pem_size(len, "X509 CRL"),
       "PEM size computed exactly (%zu)", plen);

    snprintf(path, sizeof(path),
             "openssl crl -inform der -outform pem -in %s/intel/root/"
             "IntelSGXRootCA_crl_2026-02-26.der", argc > 1 ? argv[1] : "t/data");
    {
        FILE  *p = popen(path, "r");

        wlen = p ? fread(want, 1, sizeof(want), p) : 0;
        if (p) {
            pclose(p);
        }
    }

    ok(wlen == plen && memcmp(want, pem, plen) == 0,
       "PEM identical to openssl crl -outform pem");

    plen = ngx_http_thim_pem_encode(pem, (u_char *) "", 0, "X") - pem;
    ok(plen == ngx_http_thim_pem_size(0, "X"), "empty body PEM size");

    return done_testing();
}
