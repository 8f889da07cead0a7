
/*
 * libFuzzer target for ngx_thim's pure parsers, and thimctl's parsers of
 * user input: whatever a client, an origin or a user sends must never
 * crash, overread or hang them.  The first byte chooses the parser; the
 * rest is its input.
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
#include "ngx_thim_sgx_ext.c"
#include "ngx_thim_intel_json.c"
#include "thimctl_parse.c"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_thimctl(u_char *p, size_t len);
static void fuzz_pck_json(u_char *p, size_t len);
static void fuzz_sgx_ext(u_char *p, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *p, *v, buf[NGX_HTTP_THIM_ARGS_MAX_LEN];
    size_t                    len, n;
    time_t                    t;
    uint64_t                  u;
    ngx_http_thim_args_t      args;
    ngx_http_thim_record_t    rec;
    char                     *reason;
    ngx_http_thim_crl_uri_t   target;
    ngx_http_thim_intel_expect_t  expect = { "tcbInfo", "SGX", 3,
                                             (u_char *) "00906ed50000" };

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
        fuzz_thimctl(p, len);
        break;

    case 4:
        (void) ngx_http_thim_tcbm_parse(p, len, &u);
        (void) ngx_http_thim_parse_iso8601(p, len, &t);
        (void) ngx_http_thim_parse_decimal(p, len, 10, &u);
        n = len;
        (void) ngx_http_thim_hwid_check(p, &n, len & 1, &reason);
        break;

    case 5:
        (void) ngx_http_thim_json_member(p, len, "tcbInfo", &v, &n);
        (void) ngx_http_thim_intel_json_check(p, len, &expect, &t, &t,
                                              &reason);
        fuzz_pck_json(p, len);
        break;

    case 6:
        (void) ngx_http_thim_crl_next_update(p, len, &t);
        (void) ngx_http_thim_cert_not_after(p, len, &t);
        break;

    default:
        (void) ngx_http_thim_pem_certs_not_after(p, len, 2, &t);
        sk_X509_pop_free(ngx_http_thim_pem_certs(p, len), X509_free);
        fuzz_sgx_ext(p, len);
        break;
    }

    free(p);

    return 0;
}


/* thimctl's parsers of user input take NUL-terminated, writable text */

static void
fuzz_thimctl(u_char *p, size_t len)
{
    char             *s, *list, *reason, out[32];
    thimctl_vcek_t    vcek;
    thimctl_pckid_t   id;

    s = malloc(len + 1);
    if (s == NULL) {
        return;
    }

    memcpy(s, p, len);
    s[len] = '\0';
    (void) thimctl_vcek_arg(s, &vcek, &reason);
    (void) thimctl_query_get(s, "fmspc", out, sizeof(out));
    (void) thimctl_pckid_line(s, &id, &reason);

    memcpy(s, p, len);
    s[len] = '\0';
    list = s;

    while (thimctl_list_next(&list)) {
        /* each item */
    }

    free(s);
}


/* a pckcerts list (or a rust-sgx wrapper of one) and a tcbInfo's levels */

static void
fuzz_pck_json(u_char *p, size_t len)
{
    size_t                      i;
    json_t                     *root, *list, *item;
    ngx_uint_t                  n, nlevels, chosen;
    json_error_t                err;
    ngx_http_thim_tcb_t         levels[NGX_HTTP_THIM_PCK_MAX], raw;
    ngx_http_thim_tcb_t         certs[NGX_HTTP_THIM_PCK_MAX];
    ngx_http_thim_pck_entry_t   e;

    root = json_loadb((const char *) p, len, 0, &err);
    if (root == NULL) {
        return;
    }

    list = json_is_array(root) ? root : json_object_get(root, "pck_data");
    n = 0;

    json_array_foreach(list, i, item) {
        if (ngx_http_thim_pck_entry(item, &e) == NGX_OK
            && n < NGX_HTTP_THIM_PCK_MAX)
        {
            (void) ngx_http_thim_tcbm_of(e.tcbm, &raw, NULL);
            certs[n++] = e.tcb;
        }
    }

    if (ngx_http_thim_pck_levels(root, levels, NGX_HTTP_THIM_PCK_MAX,
                                 &nlevels)
        == NGX_OK && n)
    {
        (void) ngx_http_thim_pck_select(&certs[0], certs, n, levels, nlevels,
                                        &chosen);
    }

    json_decref(root);
}


/* the SGX extension of every certificate in a PEM text */

static void
fuzz_sgx_ext(u_char *p, size_t len)
{
    int                       i;
    STACK_OF(X509)           *certs;
    ngx_http_thim_sgx_ext_t   ext;

    certs = ngx_http_thim_pem_certs(p, len);

    for (i = 0; certs && i < sk_X509_num(certs); i++) {
        (void) ngx_http_thim_sgx_ext(sk_X509_value(certs, i), &ext);
    }

    sk_X509_pop_free(certs, X509_free);
}
