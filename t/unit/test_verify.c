
/*
 * Unit tests: verification of Intel's signed JSON (src/ngx_thim_verify.c)
 * on every signed fixture, and refusal of the negative ones.
 */


#include <dirent.h>
#include <stdlib.h>

#include <openssl/pem.h>

#include "tap.h"
#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"


static char  *data_dir = "t/data";
static X509  *anchor;


static size_t
slurp(char *path, u_char **buf)
{
    FILE    *f;
    long     n;

    *buf = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    *buf = malloc(n + 1);
    if (*buf == NULL || fread(*buf, 1, n, f) != (size_t) n) {
        fclose(f);
        return 0;
    }

    fclose(f);

    return (size_t) n;
}


static char *
signed_key(char *name)
{
    if (strstr(name, "tcbevaluationdatanumbers")) {
        return "tcbEvaluationDataNumbers";
    }

    if (strstr(name, "tcb_")) {
        return "tcbInfo";
    }

    if (strstr(name, "qe_identity") || strstr(name, "qve_identity")) {
        return "enclaveIdentity";
    }

    return NULL;
}


/* the issueDate inside the signed object */
static time_t
issue_date(u_char *body, size_t len)
{
    u_char  *p;
    time_t   t;

    p = (u_char *) strstr((char *) body, "\"issueDate\":\"");

    if (p == NULL
        || ngx_http_thim_parse_iso8601(p + 13, 20, &t) != NGX_OK)
    {
        return 0;
    }

    return t;
}


static ngx_int_t
verify_file(char *dir, char *name, time_t at_override, char **reason)
{
    char       path[1024], *key, *dot;
    u_char    *body, *chain;
    size_t     blen, clen;
    time_t     at;
    ngx_int_t  rc;

    key = signed_key(name);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    blen = slurp(path, &body);

    dot = strrchr(path, '.');
    snprintf(dot, sizeof(path) - (dot - path), ".issuer_chain.pem");
    clen = slurp(path, &chain);

    at = at_override ? at_override : issue_date(body, blen);

    *reason = "";
    rc = ngx_http_thim_verify_intel_json(body, blen, key, chain, clen, anchor,
                                         NULL, at, reason);

    free(body);
    free(chain);

    return rc;
}


static void
every_fixture(char *sub)
{
    DIR            *d;
    char            dir[512], *reason;
    struct dirent  *e;

    snprintf(dir, sizeof(dir), "%s/intel/pcs/%s", data_dir, sub);
    d = opendir(dir);
    ok(d != NULL, "open %s", dir);

    while (d && (e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".issuer_chain.pem")
            || !strstr(e->d_name, ".json")
            || signed_key(e->d_name) == NULL)
        {
            continue;
        }

        ok(verify_file(dir, e->d_name, 0, &reason) == NGX_OK,
           "%s/%s verifies at its issueDate (%s)", sub, e->d_name, reason);
    }

    if (d) {
        closedir(d);
    }
}


static void
test_member(void)
{
    u_char   *v;
    size_t    n;
    char     *doc = "{ \"a\" : {\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]} ,"
                    "\"signature\":\"ab\", \"z\": 12 }";

    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "a", &v, &n)
       == NGX_OK
       && n == strlen("{\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]}")
       && memcmp(v, "{\"s\":\"}{\\\"\", \"n\":[1,{\"x\":2}]}", n) == 0,
       "the exact bytes of an object with braces and quotes in strings");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "signature",
                                 &v, &n) == NGX_OK
       && n == 4 && memcmp(v, "\"ab\"", 4) == 0, "a string member");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "z", &v, &n)
       == NGX_OK && n == 2, "a number member");
    ok(ngx_http_thim_json_member((u_char *) doc, strlen(doc), "x", &v, &n)
       == NGX_DECLINED, "nested keys are not top-level members");
    ok(ngx_http_thim_json_member((u_char *) "[1]", 3, "a", &v, &n)
       == NGX_DECLINED, "not an object");
    ok(ngx_http_thim_json_member((u_char *) "{\"a\":{\"b\":1", 11, "a", &v,
                                 &n) == NGX_DECLINED, "a truncated member");
    ok(ngx_http_thim_json_member((u_char *) "{\"a\":\"x}", 9, "a", &v, &n)
       == NGX_DECLINED, "an unterminated string");
}


int
main(int argc, char **argv)
{
    char      path[1024], dir[512], *reason;
    u_char   *buf, *p;
    size_t    len;
    BIO      *bio;
    time_t    now;

    if (argc > 1) {
        data_dir = argv[1];
    }

    test_member();

    snprintf(path, sizeof(path), "%s/intel/root/Intel_SGX_Root_CA.pem",
             data_dir);
    bio = BIO_new_file(path, "r");
    anchor = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ok(anchor != NULL, "the Intel SGX Root CA loads");

    every_fixture("sgx");
    every_fixture("tdx");
    every_fixture("v3");
    every_fixture("eval-series");

    /* a byte changed inside the signed object */
    snprintf(dir, sizeof(dir), "%s/intel/pcs/sgx", data_dir);
    snprintf(path, sizeof(path), "%s/tcb_00906ed50000_eval19_2025-06-04.json",
             dir);
    len = slurp(path, &buf);
    p = (u_char *) strstr((char *) buf, "\"tcbEvaluationDataNumber\":19");
    ok(p != NULL, "find a signed field");
    if (p) {
        u_char  *chain;
        size_t   clen;

        snprintf(path, sizeof(path),
                 "%s/tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem", dir);
        clen = slurp(path, &chain);

        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo", chain, clen,
                                           anchor, NULL, 1749000000, &reason)
           == NGX_OK, "the untouched body verifies");

        p[26] = '8';
        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo", chain, clen,
                                           anchor, NULL, 1749000000, &reason)
           == NGX_DECLINED, "one byte changed in the signed object: refused "
           "(%s)", reason);

        ok(ngx_http_thim_verify_intel_json(buf, len, "tcbInfo",
                                           (u_char *) "", 0, anchor, NULL,
                                           1749000000, &reason)
           == NGX_DECLINED, "no chain: refused (%s)", reason);
        free(chain);
    }
    free(buf);

    /* Intel's own corrupted samples */
    snprintf(dir, sizeof(dir), "%s/intel/negative", data_dir);
    ok(verify_file(dir, "corrupted_tcb_00906ea10000_eval8_3000-05-18.json",
                   1589800000, &reason) == NGX_DECLINED,
       "corrupted tcbInfo refused (%s)", reason);
    ok(verify_file(dir, "corrupted_qe_identity_eval8_3000-05-18.json",
                   1589800000, &reason) == NGX_DECLINED,
       "corrupted QE identity refused (%s)", reason);

    /* Intel's QVL sample, signed under a look-alike "Intel SGX Root CA" */
    snprintf(dir, sizeof(dir), "%s/intel/negative/qvl-sample-fake-root",
             data_dir);
    {
        u_char  *body, *chain;
        size_t   blen, clen;

        snprintf(path, sizeof(path), "%s/tcbInfo.json", dir);
        blen = slurp(path, &body);
        snprintf(path, sizeof(path), "%s/tcbSignChain.pem", dir);
        clen = slurp(path, &chain);

        ok(blen && clen
           && ngx_http_thim_verify_intel_json(body, blen, "tcbInfo", chain,
                                              clen, anchor, NULL,
                                              issue_date(body, blen), &reason)
              == NGX_DECLINED,
           "a chain to a fake root is refused (%s)", reason);
        free(body);
        free(chain);
    }

    /* Intel's 2018-2025 signer: fine at issue time, expired today */
    now = time(NULL);
    snprintf(dir, sizeof(dir), "%s/intel/pcs/sgx", data_dir);
    ok(verify_file(dir, "tcb_00906ea10000_eval16_2024-06-28.json", now,
                   &reason) == NGX_DECLINED,
       "at today's date the 2018-2025 TCB Signing certificate has expired "
       "(%s): verify at issue time", reason);

    return done_testing();
}
