
/*
 * ngx_thim: the fields of Intel's signed JSON (pure; see
 * ngx_thim_intel_json.h).
 */


#include <stdio.h>
#include <jansson.h>

#include "ngx_thim_args.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_strict_json.h"
#include "ngx_thim_intel_json.h"


#define NGX_HTTP_THIM_FMSPC_HEX        12
#define NGX_HTTP_THIM_SIGNATURE_HEX    128

/* Intel's evaluation numbers are small; this keeps them in an ngx_int_t */
#define NGX_HTTP_THIM_EVAL_MAX         0x7fffffff


static ngx_int_t ngx_http_thim_intel_json_fields(json_t *body,
    ngx_http_thim_intel_doc_t *doc, char **reason);
static ngx_int_t ngx_http_thim_intel_json_numbers(json_t *body,
    ngx_http_thim_intel_doc_t *doc);
static ngx_int_t ngx_http_thim_intel_json_eval(json_t *value,
    ngx_int_t *eval);
static ngx_int_t ngx_http_thim_intel_json_date(json_t *obj, char *name,
    time_t *t);
static char *ngx_http_thim_intel_json_both(ngx_http_thim_intel_doc_t *doc,
    char *what, char *body, char *asked);


/*
 * A strict document of exactly the signed object and its signature
 * (ngx_http_thim_json_signed()), the fields read from the signed bytes
 * alone: the whole body is never parsed for them.
 */

ngx_int_t
ngx_http_thim_intel_json_read(u_char *body, size_t len, char *key,
    ngx_http_thim_intel_doc_t *doc, char **reason)
{
    size_t         sig_len;
    json_t        *obj;
    u_char        *sig;
    ngx_int_t      rc;
    json_error_t   err;

    ngx_memzero(doc, sizeof(ngx_http_thim_intel_doc_t));
    doc->eval = -1;

    if (ngx_http_thim_json_signed(body, len, key, &doc->signed_data,
                                  &doc->signed_len, &sig, &sig_len, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (sig_len != NGX_HTTP_THIM_SIGNATURE_HEX + 2
        || !ngx_http_thim_is_hex(sig + 1, NGX_HTTP_THIM_SIGNATURE_HEX))
    {
        *reason = "signature is not 64 bytes of hex";
        return NGX_DECLINED;
    }

    doc->signature = sig + 1;

    /* a second parser on the same bytes, as a second line */
    obj = json_loadb((const char *) doc->signed_data, doc->signed_len,
                     JSON_REJECT_DUPLICATES, &err);

    if (!json_is_object(obj)) {
        json_decref(obj);
        *reason = "the signed object is not JSON";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_intel_json_fields(obj, doc, reason);

    if (rc == NGX_OK && ngx_strcmp(key, "tcbEvaluationDataNumbers") == 0
        && ngx_http_thim_intel_json_numbers(obj, doc) != NGX_OK)
    {
        *reason = "the tcbEvalNumbers list is malformed";
        rc = NGX_DECLINED;
    }

    json_decref(obj);

    return rc;
}


/*
 * The document read, then bound to the request: its kind, id, version,
 * FMSPC and evaluation number are what the route and query asked for,
 * and its evaluation number is not older than the copy already cached.
 */

ngx_int_t
ngx_http_thim_intel_json_check(u_char *body, size_t len,
    ngx_http_thim_intel_expect_t *expect, ngx_http_thim_intel_doc_t *doc,
    char **reason)
{
    char  a[NGX_INT_T_LEN + 1], b[NGX_INT_T_LEN + 1];

    if (ngx_http_thim_intel_json_read(body, len, expect->key, doc, reason)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (expect->id && ngx_strcmp(doc->id, expect->id) != 0) {
        *reason = ngx_http_thim_intel_json_both(doc, "id",
                                   doc->id[0] ? doc->id : "(none)",
                                   expect->id);
        return NGX_DECLINED;
    }

    if (expect->version && doc->version != expect->version) {
        snprintf(a, sizeof(a), "%ld", (long) doc->version);
        snprintf(b, sizeof(b), "%ld", (long) expect->version);
        *reason = ngx_http_thim_intel_json_both(doc, "version", a, b);
        return NGX_DECLINED;
    }

    if (expect->fmspc) {
        if (!doc->has_fmspc) {
            *reason = "fmspc missing in the body";
            return NGX_DECLINED;
        }

        ngx_memcpy(a, doc->fmspc, NGX_HTTP_THIM_FMSPC_HEX);
        a[NGX_HTTP_THIM_FMSPC_HEX] = '\0';

        if (!ngx_http_thim_strcaseeq(expect->fmspc, NGX_HTTP_THIM_FMSPC_HEX,
                                     a))
        {
            ngx_memcpy(b, expect->fmspc, NGX_HTTP_THIM_FMSPC_HEX);
            b[NGX_HTTP_THIM_FMSPC_HEX] = '\0';
            *reason = ngx_http_thim_intel_json_both(doc, "fmspc", a, b);
            return NGX_DECLINED;
        }
    }

    if (expect->eval >= 0 && doc->eval != expect->eval) {
        if (doc->eval < 0) {
            *reason = "tcbEvaluationDataNumber missing in the body";
            return NGX_DECLINED;
        }

        snprintf(a, sizeof(a), "%ld", (long) doc->eval);
        snprintf(b, sizeof(b), "%ld", (long) expect->eval);
        *reason = ngx_http_thim_intel_json_both(doc,
                                                "tcbEvaluationDataNumber",
                                                a, b);
        return NGX_DECLINED;
    }

    /* never a silent downgrade of what is cached under the same key */
    if (expect->eval_min >= 0 && doc->eval < expect->eval_min) {
        snprintf(doc->text, sizeof(doc->text),
                 "tcbEvaluationDataNumber %ld in the body is older than "
                 "the %ld cached", (long) doc->eval,
                 (long) expect->eval_min);
        *reason = doc->text;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The tcbEvaluationDataNumber a canonical query asks for, -1 for none:
 * the query is the module's own canonical form, so one spelling only.
 */

ngx_int_t
ngx_http_thim_intel_asked_eval(u_char *query, size_t len)
{
    u_char     *p, *last;
    size_t      n;
    ngx_int_t   eval;

    n = sizeof("tcbEvaluationDataNumber=") - 1;
    last = query + len;

    for (p = query; (size_t) (last - p) > n; p++) {
        if ((p == query || p[-1] == '&')
            && ngx_memcmp(p, "tcbEvaluationDataNumber=", n) == 0)
        {
            eval = 0;

            for (p += n; p < last && *p >= '0' && *p <= '9'; p++) {
                if (eval > NGX_HTTP_THIM_EVAL_MAX / 10) {
                    return -1;
                }

                eval = eval * 10 + (*p - '0');
            }

            return eval;
        }
    }

    return -1;
}


static ngx_int_t
ngx_http_thim_intel_json_fields(json_t *body, ngx_http_thim_intel_doc_t *doc,
    char **reason)
{
    json_t      *value;
    size_t       n;
    const char  *s;

    value = json_object_get(body, "id");

    if (value) {
        s = json_string_value(value);

        if (s == NULL
            || (n = ngx_strlen(s)) == 0 || n > NGX_HTTP_THIM_INTEL_ID_MAX)
        {
            *reason = "id malformed";
            return NGX_DECLINED;
        }

        ngx_memcpy(doc->id, s, n + 1);
    }

    value = json_object_get(body, "version");

    if (!json_is_integer(value)
        || json_integer_value(value) < 1
        || json_integer_value(value) > 1000)
    {
        *reason = "version missing or malformed";
        return NGX_DECLINED;
    }

    doc->version = (ngx_int_t) json_integer_value(value);

    value = json_object_get(body, "fmspc");

    if (value) {
        s = json_string_value(value);

        if (s == NULL || ngx_strlen(s) != NGX_HTTP_THIM_FMSPC_HEX
            || !ngx_http_thim_is_hex((u_char *) s, NGX_HTTP_THIM_FMSPC_HEX))
        {
            *reason = "fmspc malformed";
            return NGX_DECLINED;
        }

        ngx_http_thim_strlow(doc->fmspc, (u_char *) s,
                             NGX_HTTP_THIM_FMSPC_HEX);
        doc->has_fmspc = 1;
    }

    if (ngx_http_thim_intel_json_date(body, "issueDate", &doc->issued)
        != NGX_OK)
    {
        *reason = "issueDate missing or malformed";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_intel_json_date(body, "nextUpdate", &doc->next_update)
        != NGX_OK)
    {
        *reason = "nextUpdate missing or malformed";
        return NGX_DECLINED;
    }

    value = json_object_get(body, "tcbEvaluationDataNumber");

    if (value
        && ngx_http_thim_intel_json_eval(value, &doc->eval) != NGX_OK)
    {
        *reason = "tcbEvaluationDataNumber malformed";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Intel signs "tcbEvalNumbers" (a transcription of the spec says
 * "tcbNumbers"): a non-empty list, each with its number; the document's
 * own number is the newest listed.
 */

static ngx_int_t
ngx_http_thim_intel_json_numbers(json_t *body, ngx_http_thim_intel_doc_t *doc)
{
    size_t   i;
    json_t  *list, *item;

    list = json_object_get(body, "tcbEvalNumbers");

    if (list == NULL) {
        list = json_object_get(body, "tcbNumbers");
    }

    if (!json_is_array(list)
        || json_array_size(list) == 0
        || json_array_size(list) > NGX_HTTP_THIM_EVAL_NUMBERS_MAX)
    {
        return NGX_DECLINED;
    }

    json_array_foreach(list, i, item) {
        if (ngx_http_thim_intel_json_eval(
                          json_object_get(item, "tcbEvaluationDataNumber"),
                          &doc->numbers[i])
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (doc->numbers[i] > doc->eval) {
            doc->eval = doc->numbers[i];
        }
    }

    doc->nnumbers = json_array_size(list);

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_intel_json_eval(json_t *value, ngx_int_t *eval)
{
    if (!json_is_integer(value)
        || json_integer_value(value) < 0
        || json_integer_value(value) > NGX_HTTP_THIM_EVAL_MAX)
    {
        return NGX_DECLINED;
    }

    *eval = (ngx_int_t) json_integer_value(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_intel_json_date(json_t *obj, char *name, time_t *t)
{
    json_t      *value;
    const char  *s;

    value = json_object_get(obj, name);
    s = json_is_string(value) ? json_string_value(value) : NULL;

    if (s == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_thim_parse_iso8601((u_char *) s, ngx_strlen(s), t);
}


/* "id TDX in the body, SGX asked": both values, in the document's buffer */

static char *
ngx_http_thim_intel_json_both(ngx_http_thim_intel_doc_t *doc, char *what,
    char *body, char *asked)
{
    snprintf(doc->text, sizeof(doc->text), "%s %s in the body, %s asked",
             what, body, asked);

    return doc->text;
}
