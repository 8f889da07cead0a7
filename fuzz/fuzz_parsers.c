
/*
 * libFuzzer target for ngx_thim's pure parsers: whatever a client or an
 * origin sends must never crash, overread or hang them.  The first byte
 * chooses the parser; the rest is its input.
 *
 *     make fuzz            (clang -fsanitize=fuzzer,address,undefined)
 */


#include <openssl/pem.h>

#include "ngx_thim_args.c"
#include "ngx_thim_record.c"
#include "ngx_thim_crl_uri.c"
#include "ngx_thim_tcbm.c"
#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"
#include "ngx_thim_pck.c"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *p, *v, buf[NGX_HTTP_THIM_ARGS_MAX_LEN];
    size_t                    len, n;
    time_t                    t;
    uint64_t                  u;
    ngx_http_thim_args_t      args;
    ngx_http_thim_record_t    rec;
    ngx_http_thim_crl_uri_t   target;

    if (size < 1) {
        return 0;
    }

    /* a private copy: the parsers may only read within it */
    len = size - 1;
    p = malloc(len ? len : 1);
    if (p == NULL) {
        return 0;
    }

    memcpy(p, data + 1, len);

    switch (data[0] % 8) {

    case 0:
        if (ngx_http_thim_args_parse(p, len, &args) == NGX_OK) {
            (void) ngx_http_thim_args_find(&args, (u_char *) "fmspc", 5);
        }
        break;

    case 1:
        if (len <= sizeof(buf)) {
            (void) ngx_http_thim_pct_decode(buf, p, len, &n);
        }
        break;

    case 2:
        if (ngx_http_thim_record_read(p, len, &rec) == NGX_OK) {
            (void) ngx_http_thim_record_header(&rec, (u_char *) "x", 1);
        }
        break;

    case 3:
        (void) ngx_http_thim_crl_uri_parse(p, len, &target);
        break;

    case 4:
        (void) ngx_http_thim_tcbm_parse(p, len, &u);
        (void) ngx_http_thim_parse_iso8601(p, len, &t);
        (void) ngx_http_thim_parse_decimal(p, len, 10, &u);
        break;

    case 5:
        (void) ngx_http_thim_json_member(p, len, "tcbInfo", &v, &n);
        break;

    case 6:
        (void) ngx_http_thim_crl_next_update(p, len, &t);
        (void) ngx_http_thim_cert_not_after(p, len, &t);
        break;

    default:
        (void) ngx_http_thim_pem_certs_not_after(p, len, 2, &t);
        sk_X509_pop_free(ngx_http_thim_pem_certs(p, len), X509_free);
        break;
    }

    free(p);

    return 0;
}
