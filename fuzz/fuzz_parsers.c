
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
#include "ngx_thim_strict_json.c"
#include "ngx_thim_intel_json.c"
#include "thimctl_parse.c"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_thimctl(u_char *p, size_t len);
static void fuzz_pck_json(u_char *p, size_t len);
static void fuzz_strict(u_char *p, size_t len);
static void fuzz_intel_doc(u_char *p, size_t len, char *key);
static void fuzz_same_fields(ngx_http_thim_intel_doc_t *a,
    ngx_http_thim_intel_doc_t *b);
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
    ngx_http_thim_intel_doc_t     doc;
    ngx_http_thim_intel_expect_t  expect = { "tcbInfo", "SGX", 3,
                                             (u_char *) "00906ed50000",
                                             -1, 17 };

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
        (void) ngx_http_thim_intel_json_check(p, len, &expect, &doc,
                                              &reason);
        fuzz_strict(p, len);
        fuzz_intel_doc(p, len, "tcbInfo");
        fuzz_intel_doc(p, len, "enclaveIdentity");
        fuzz_intel_doc(p, len, "tcbEvaluationDataNumbers");
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


/*
 * jansson refusing duplicates is the oracle for names seen twice: the
 * strict reading never accepts what jansson finds a duplicate in, and
 * never finds one jansson accepts (names have no escapes, so raw bytes
 * compare as decoded names do).
 */

static void
fuzz_strict(u_char *p, size_t len)
{
    char          *reason;
    json_t        *root;
    ngx_int_t      rc;
    json_error_t   err;

    reason = NULL;
    rc = ngx_http_thim_json_strict(p, len, &reason);

    if (rc != NGX_OK
        && (reason == NULL || strstr(reason, "name twice") == NULL))
    {
        return;
    }

    root = json_loadb((const char *) p, len,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);

    if (rc == NGX_OK && root == NULL && strstr(err.text, "duplicate")) {
        abort();
    }

    if (rc != NGX_OK && root != NULL) {
        abort();
    }

    json_decref(root);
}


/*
 * The differential: a document the strict reading accepts is read the
 * same by everyone.  Its signed bytes are those the signature check
 * covers (the first member of that name); jansson, refusing duplicates,
 * accepts it and reads the same fields from the whole body; and the
 * signed bytes alone, wrapped again, give the same fields.
 */

static void
fuzz_intel_doc(u_char *p, size_t len, char *key)
{
    char                       *reason;
    u_char                     *v, *w, *q;
    size_t                      n, klen;
    json_t                     *root;
    json_error_t                err;
    ngx_http_thim_intel_doc_t   a, b, c;

    if (ngx_http_thim_intel_json_read(p, len, key, &a, &reason) != NGX_OK) {
        return;
    }

    /* verify.c's scan finds the very bytes the fields were read from */
    if (ngx_http_thim_json_member(p, len, key, &v, &n) != NGX_OK
        || v != a.signed_data || n != a.signed_len)
    {
        abort();
    }

    /* jansson may refuse what it cannot represent, never a duplicate */
    root = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        if (strstr(err.text, "duplicate") != NULL) {
            abort();
        }

        return;
    }

    if (!json_is_object(root) || json_object_size(root) != 2
        || !json_is_string(json_object_get(root, "signature")))
    {
        abort();
    }

    ngx_memzero(&c, sizeof(c));
    c.eval = -1;

    if (ngx_http_thim_intel_json_fields(json_object_get(root, key), &c,
                                        &reason)
        != NGX_OK)
    {
        abort();
    }

    if (ngx_strcmp(key, "tcbEvaluationDataNumbers") == 0
        && ngx_http_thim_intel_json_numbers(json_object_get(root, key), &c)
           != NGX_OK)
    {
        abort();
    }

    json_decref(root);
    fuzz_same_fields(&a, &c);

    /* the signed bytes alone, in a document of their own */
    klen = ngx_strlen(key);
    w = malloc(a.signed_len + klen + 160);
    if (w == NULL) {
        return;
    }

    q = ngx_cpymem(w, "{\"", 2);
    q = ngx_cpymem(q, key, klen);
    q = ngx_cpymem(q, "\":", 2);
    q = ngx_cpymem(q, a.signed_data, a.signed_len);
    q = ngx_cpymem(q, ",\"signature\":\"", sizeof(",\"signature\":\"") - 1);
    q = ngx_cpymem(q, a.signature, 128);
    q = ngx_cpymem(q, "\"}", 2);

    if (ngx_http_thim_intel_json_read(w, q - w, key, &b, &reason) != NGX_OK) {
        abort();
    }

    fuzz_same_fields(&a, &b);

    free(w);
}


static void
fuzz_same_fields(ngx_http_thim_intel_doc_t *a, ngx_http_thim_intel_doc_t *b)
{
    if (ngx_strcmp(a->id, b->id) != 0
        || a->version != b->version
        || a->has_fmspc != b->has_fmspc
        || ngx_memcmp(a->fmspc, b->fmspc, sizeof(a->fmspc)) != 0
        || a->issued != b->issued
        || a->next_update != b->next_update
        || a->eval != b->eval
        || a->nnumbers != b->nnumbers
        || ngx_memcmp(a->numbers, b->numbers,
                      a->nnumbers * sizeof(a->numbers[0]))
           != 0)
    {
        abort();
    }
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
