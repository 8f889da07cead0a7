
/*
 * Unit tests: the one strict reading of origin JSON
 * (src/ngx_thim_strict_json.c) and the fields of Intel's signed
 * documents read from their signed bytes (src/ngx_thim_intel_json.c), on
 * every real fixture and on hand-made variants of each refusal.
 */


#include <dirent.h>
#include <stdlib.h>

#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"
#include "ngx_thim_strict_json.c"
#include "ngx_thim_intel_json.c"


static char  *data_dir = "t/data";



static char *
signed_key(char *name)
{
    if (strstr(name, "tcbevaluationdatanumbers")) {
        return "tcbEvaluationDataNumbers";
    }

    if (strstr(name, "tcb_")) {
        return "tcbInfo";
    }

    return "enclaveIdentity";
}


/* every real signed document reads, from the bytes verify.c checks */

static void
fixtures(char *sub)
{
    DIR                        *dir;
    char                        path[1024], *key, *reason, *e, *f;
    u_char                     *body, *v;
    size_t                      len, n;
    struct dirent              *de;
    ngx_http_thim_intel_doc_t   doc;

    snprintf(path, sizeof(path), "%s/intel/pcs/%s", data_dir, sub);
    dir = opendir(path);
    if (dir == NULL) {
        ok(0, "open %s", path);
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        n = strlen(de->d_name);

        if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/intel/pcs/%s/%s", data_dir, sub,
                 de->d_name);
        len = tap_slurp(path, &body);
        key = signed_key(de->d_name);
        reason = "";

        ok(ngx_http_thim_intel_json_read(body, len, key, &doc, &reason)
           == NGX_OK, "%s/%s reads (%s)", sub, de->d_name, reason);

        ok(ngx_http_thim_json_member(body, len, key, &v, &n) == NGX_OK
           && v == doc.signed_data && n == doc.signed_len,
           "%s: the fields come from the bytes the signature covers",
           de->d_name);

        /* the file names say the evaluation number and the FMSPC */
        e = strstr(de->d_name, "_eval");
        if (e) {
            ok(doc.eval == atoi(e + 5), "%s: tcbEvaluationDataNumber %d",
               de->d_name, (int) doc.eval);
        }

        f = strstr(de->d_name, "tcb_");
        if (f) {
            ok(doc.has_fmspc && memcmp(doc.fmspc, f + 4, 12) == 0,
               "%s: fmspc", de->d_name);
        }

        free(body);
    }

    closedir(dir);
}


/* the body with "from" replaced by "to" (once), then refused for "why" */

static void
variant(u_char *body, char *key, char *from, char *to, char *why,
    char *what)
{
    char                       *p, *reason;
    u_char                     *buf;
    size_t                      len, flen, tlen;
    ngx_http_thim_intel_doc_t   doc;

    p = strstr((char *) body, from);
    if (p == NULL) {
        ok(0, "%s: \"%s\" is in the document", what, from);
        return;
    }

    flen = strlen(from);
    tlen = strlen(to);
    len = strlen((char *) body) - flen + tlen;

    buf = malloc(len + 1);
    memcpy(buf, body, p - (char *) body);
    memcpy(buf + (p - (char *) body), to, tlen);
    strcpy((char *) buf + (p - (char *) body) + tlen, p + flen);

    reason = "";

    ok(ngx_http_thim_intel_json_read(buf, len, key, &doc, &reason)
       == NGX_DECLINED && strstr(reason, why) != NULL,
       "%s: refused (%s)", what, reason);

    free(buf);
}


/* the body with bytes around it */

static void
wrapped(u_char *body, size_t len, char *key, char *head, size_t hlen,
    char *tail, size_t tlen, char *why, char *what)
{
    char                       *reason;
    u_char                     *buf;
    ngx_int_t                   rc;
    ngx_http_thim_intel_doc_t   doc;

    buf = malloc(hlen + len + tlen);
    memcpy(buf, head, hlen);
    memcpy(buf + hlen, body, len);
    memcpy(buf + hlen + len, tail, tlen);

    reason = "";
    rc = ngx_http_thim_intel_json_read(buf, hlen + len + tlen, key, &doc,
                                       &reason);

    if (why) {
        ok(rc == NGX_DECLINED && strstr(reason, why) != NULL,
           "%s: refused (%s)", what, reason);

    } else {
        ok(rc == NGX_OK, "%s: accepted (%s)", what, reason);
    }

    free(buf);
}


static void
strict(char *json, ngx_int_t want, char *what)
{
    char  *reason;

    reason = "";

    ok(ngx_http_thim_json_strict((u_char *) json, strlen(json), &reason)
       == want, "%s (%s)", what, want == NGX_OK ? "valid" : reason);
}


static void
refusals(void)
{
    char     path[1024], forged[1024], copy[1024], *key;
    u_char  *body;
    size_t   len;

    snprintf(path, sizeof(path),
             "%s/intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06.json",
             data_dir);
    len = tap_slurp(path, &body);
    ok(len > 0, "the eval 17 tcbInfo is there");
    if (len == 0) {
        return;
    }

    while (len && (body[len - 1] == '\n' || body[len - 1] == ' ')) {
        body[--len] = '\0';
    }

    key = "tcbInfo";

    /* a forged signed member again, after the signature */
    sprintf(forged, ",\"tcbInfo\":{\"id\":\"SGX\",\"version\":3,"
            "\"issueDate\":\"2025-06-06T12:30:41Z\","
            "\"nextUpdate\":\"2099-01-01T00:00:00Z\","
            "\"fmspc\":\"00606a000000\",\"tcbEvaluationDataNumber\":17,"
            "\"tcbLevels\":[]}}");

    wrapped(body, len - 1, key, "", 0, forged, strlen(forged),
            "twice", "the signed tcbInfo first, a forged one last");

    /* forged first, genuine last */
    sprintf(copy, "{\"tcbInfo\":{\"id\":\"SGX\",\"version\":3,"
            "\"issueDate\":\"2025-06-06T12:30:41Z\","
            "\"nextUpdate\":\"2099-01-01T00:00:00Z\","
            "\"fmspc\":\"00606a000000\",\"tcbLevels\":[]},");
    wrapped(body + 1, len - 1, key, copy, strlen(copy),
            "", 0, "twice", "a forged tcbInfo first, the signed one last");

    variant(body, key, "{\"id\":\"SGX\",", "{\"id\":\"SGX\",\"id\":\"TDX\",",
            "twice", "a duplicate id inside the signed object");
    variant(body, key, "\"svn\":14,", "\"svn\":14,\"svn\":15,", "twice",
            "a duplicate deep inside the TCB levels");
    variant(body, key, "\"tcbInfo\"", "\"tcb\\u0049nfo\"", "escape",
            "an escaped top-level member name");
    variant(body, key, "\"fmspc\"", "\"fmsp\\u0063\"", "escape",
            "an escaped member name inside the signed object");
    variant(body, key, "\"fmspc\"", "\"fmspc\\\"\"", "escape",
            "a member name with an escaped quote");
    variant(body, key, "{\"tcbInfo\":", "{\"comment\":1,\"tcbInfo\":",
            "neither the signed object nor its signature",
            "another top-level member");
    variant(body, key, "T12:30:41Z", "T12:30\x01" "41Z", "control byte",
            "a control byte in a string");
    variant(body, key, "\"SGX\"", "\"SG\xff\"", "UTF-8",
            "an invalid UTF-8 byte");
    variant(body, key, "\"SGX\"", "\"S\xc0\xafX\"", "UTF-8",
            "an overlong UTF-8 sequence");
    variant(body, key, "\"SGX\"", "\"S\xed\xa0\x80X\"", "UTF-8",
            "a UTF-8 encoded surrogate");
    variant(body, key, "\"SGX\"", "\"S\\u0000X\"", "NUL",
            "an escaped NUL");
    variant(body, key, "\"SGX\"", "\"S\\udc00X\"", "surrogate",
            "a lone low surrogate");
    variant(body, key, ",\"signature\":\"", ",\"signatur\":\"",
            "neither", "no signature");
    variant(body, key, "\"tcbEvaluationDataNumber\":17",
            "\"tcbEvaluationDataNumber\":\"17\"", "malformed",
            "an evaluation number that is not a number");

    wrapped(body, len, key, "\xef\xbb\xbf", 3, "", 0, "byte order mark",
            "a UTF-8 byte order mark");
    wrapped(body, len, key, "", 0, "\0", 1, "NUL", "a NUL byte after it");
    wrapped(body, len, key, "", 0, (char *) body, len, "after",
            "a second document after it");
    wrapped(body, len, key, "", 0, "x", 1, "after", "a byte after it");
    wrapped(body, len, key, " \r\n\t", 4, "\n \n", 3, NULL,
            "whitespace around it");

    free(body);
}


static void
grammar(void)
{
    char    deep[200];
    size_t  i;

    strict("[0,-1.5e+3,1E9,true,false,null,\"a\\n\\u00e9\\ud83d\\ude00\","
           "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",{},[]]", NGX_OK,
           "every kind of value");
    strict("{\"a\":1,\"b\":{\"a\":2}}", NGX_OK,
           "one name in two objects");
    strict("{\"a\":1,\"b\":2,\"a\":3}", NGX_DECLINED, "a name twice");
    strict("[{\"a\":1},{\"a\":1,\"a\":1}]", NGX_DECLINED,
           "a name twice in a nested object");
    strict("01", NGX_DECLINED, "a leading zero");
    strict("1.", NGX_DECLINED, "a bare decimal point");
    strict("-", NGX_DECLINED, "a lone minus");
    strict("1e", NGX_DECLINED, "a bare exponent");
    strict("[1,]", NGX_DECLINED, "a trailing comma");
    strict("{\"a\" 1}", NGX_DECLINED, "a missing colon");
    strict("{\"a\":1", NGX_DECLINED, "an unclosed object");
    strict("\"abc", NGX_DECLINED, "an unclosed string");
    strict("\"\\x\"", NGX_DECLINED, "an unknown escape");
    strict("\"\\ud800\"", NGX_DECLINED, "a lone high surrogate");
    strict("tru", NGX_DECLINED, "a cut literal");
    strict("", NGX_DECLINED, "nothing");
    strict("{}{}", NGX_DECLINED, "two documents");
    strict("\"\xe2\x82\"", NGX_DECLINED, "a cut UTF-8 sequence");
    strict("\"\xf4\x90\x80\x80\"", NGX_DECLINED, "past U+10FFFF");

    for (i = 0; i < 40; i++) {
        deep[i] = '[';
        deep[80 - 1 - i] = ']';
    }

    deep[80] = '\0';
    strict(deep, NGX_DECLINED, "nested 40 deep");

    deep[40 - 32] = '\0';
    strict(deep + 40 - 32 - 8, NGX_DECLINED, "an unclosed array");

    /* many names: the list moves to the heap, duplicates still found */
    {
        char   big[8192], *p;
        int    k;

        p = big;
        *p++ = '{';
        for (k = 0; k < 300; k++) {
            p += sprintf(p, "%s\"k%d\":%d", k ? "," : "", k, k);
        }
        strcpy(p, "}");
        strict(big, NGX_OK, "an object of 300 names");

        strcpy(p, ",\"k7\":0}");
        strict(big, NGX_DECLINED, "an object of 300 names, one twice");
    }
}


/* what the request asked, against what the signed document says */

static void
binding(void)
{
    char                          path[1024], *reason;
    u_char                       *body;
    size_t                        len;
    ngx_http_thim_intel_doc_t     doc;
    ngx_http_thim_intel_expect_t  e;

    snprintf(path, sizeof(path),
             "%s/intel/pcs/eval-series/tcb_00606a000000_eval17_2025-06-06.json",
             data_dir);
    len = tap_slurp(path, &body);

    e.key = "tcbInfo";
    e.id = "SGX";
    e.version = 3;
    e.fmspc = (u_char *) "00606A000000";
    e.eval = 17;
    e.eval_min = -1;

    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason) == NGX_OK,
       "the asked FMSPC (any case) and evaluation number");

    e.eval = 18;
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "tcbEvaluationDataNumber 17 in the body, 18 asked")
          == 0, "another evaluation number than asked: %s", reason);

    e.eval = -1;
    e.eval_min = 19;
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "tcbEvaluationDataNumber 17 in the body is older "
                         "than the 19 cached") == 0,
       "older than the cached one: %s", reason);

    e.eval_min = 17;
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason) == NGX_OK,
       "as new as the cached one");

    e.eval_min = -1;
    e.fmspc = (u_char *) "00906ed50000";
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "fmspc 00606a000000 in the body, 00906ed50000 asked")
          == 0, "another FMSPC: %s", reason);

    e.fmspc = NULL;
    e.version = 2;
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "version 3 in the body, 2 asked") == 0,
       "another version: %s", reason);

    free(body);

    snprintf(path, sizeof(path),
             "%s/intel/pcs/tdx/tcb_00a06d080000_eval18_2026-02-26.json",
             data_dir);
    len = tap_slurp(path, &body);
    e.version = 3;

    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "id TDX in the body, SGX asked") == 0,
       "a TDX tcbInfo for SGX: %s", reason);

    free(body);

    snprintf(path, sizeof(path),
             "%s/intel/negative/qvl-sample-fake-root/qveIdentity.json",
             data_dir);
    len = tap_slurp(path, &body);

    e.key = "enclaveIdentity";
    e.id = "QE";
    e.version = 2;

    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "id QVE in the body, QE asked") == 0,
       "a QvE identity for the QE: %s", reason);

    free(body);

    snprintf(path, sizeof(path), "%s/intel/pcs/eval-series/"
             "tcbevaluationdatanumbers_sgx_2025-06-03.json", data_dir);
    len = tap_slurp(path, &body);

    e.key = "tcbEvaluationDataNumbers";
    e.id = "TDX";
    e.version = 1;

    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason)
       == NGX_DECLINED
       && strcmp(reason, "id SGX in the body, TDX asked") == 0,
       "SGX evaluation numbers for TDX: %s", reason);

    e.id = "SGX";
    ok(ngx_http_thim_intel_json_check(body, len, &e, &doc, &reason) == NGX_OK
       && doc.nnumbers == 3 && doc.numbers[0] == 19 && doc.numbers[2] == 17
       && doc.eval == 19, "the numbers listed, 19 the newest");

    free(body);

    ok(ngx_http_thim_intel_asked_eval((u_char *) "fmspc=00606a000000&"
                                      "tcbEvaluationDataNumber=17", 45) == 17,
       "the asked evaluation number from the canonical query");
    ok(ngx_http_thim_intel_asked_eval((u_char *) "tcbEvaluationDataNumber=9",
                                      25) == 9, "... alone");
    ok(ngx_http_thim_intel_asked_eval((u_char *) "update=standard", 15) == -1,
       "none for update=");
    ok(ngx_http_thim_intel_asked_eval((u_char *) "xtcbEvaluationDataNumber=9",
                                      26) == -1, "none in another name");
}


/* Intel's pckcerts lists pass the same strict reading */

static void
pckcerts(void)
{
    DIR            *dir;
    char            path[1024], *reason;
    u_char         *body;
    size_t          len, n;
    struct dirent  *de;

    snprintf(path, sizeof(path), "%s/intel/pckcerts", data_dir);
    dir = opendir(path);
    if (dir == NULL) {
        ok(0, "open %s", path);
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        n = strlen(de->d_name);

        if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/intel/pckcerts/%s", data_dir,
                 de->d_name);
        len = tap_slurp(path, &body);
        reason = "";

        ok(ngx_http_thim_json_strict(body, len, &reason) == NGX_OK,
           "pckcerts %s is strict JSON (%s)", de->d_name, reason);

        free(body);
    }

    closedir(dir);
}


int
main(int argc, char **argv)
{
    if (argc > 1) {
        data_dir = argv[1];
    }

    fixtures("sgx");
    fixtures("tdx");
    fixtures("v3");
    fixtures("eval-series");
    refusals();
    grammar();
    binding();
    pckcerts();

    return done_testing();
}
