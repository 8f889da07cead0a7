
/*
 * ngx_thim: the fields of Intel's signed JSON (pure; see
 * ngx_thim_intel_json.h).
 */


#include <jansson.h>

#include "ngx_thim_args.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_intel_json.h"


#define NGX_HTTP_THIM_FMSPC_HEX        12
#define NGX_HTTP_THIM_SIGNATURE_HEX    128


static ngx_int_t ngx_http_thim_intel_json_fields(json_t *root,
    ngx_http_thim_intel_expect_t *expect, time_t *issued,
    time_t *next_update, char **reason);
static ngx_int_t ngx_http_thim_intel_json_date(json_t *obj, char *name,
    time_t *t);


/*
 * A JSON object whose signed object is of the route's kind, id and
 * version, names the requested FMSPC, and carries parsable dates and a
 * signature of the right shape.
 */

ngx_int_t
ngx_http_thim_intel_json_check(u_char *body, size_t len,
    ngx_http_thim_intel_expect_t *expect, time_t *issued,
    time_t *next_update, char **reason)
{
    json_t        *root;
    ngx_int_t      rc;
    json_error_t   err;

    root = json_loadb((const char *) body, len, 0, &err);
    if (root == NULL) {
        *reason = "body is not JSON";
        return NGX_DECLINED;
    }

    rc = ngx_http_thim_intel_json_fields(root, expect, issued, next_update,
                                         reason);

    json_decref(root);

    return rc;
}


static ngx_int_t
ngx_http_thim_intel_json_fields(json_t *root,
    ngx_http_thim_intel_expect_t *expect, time_t *issued,
    time_t *next_update, char **reason)
{
    json_t      *body, *value;
    const char  *s;

    body = json_object_get(root, expect->key);
    if (!json_is_object(body)) {
        *reason = "signed object missing";
        return NGX_DECLINED;
    }

    value = json_object_get(body, "id");
    s = json_is_string(value) ? json_string_value(value) : NULL;

    if (expect->id && (s == NULL || ngx_strcmp(s, expect->id) != 0)) {
        *reason = "collateral id does not match the route";
        return NGX_DECLINED;
    }

    value = json_object_get(body, "version");

    if (!json_is_integer(value)
        || (expect->version && json_integer_value(value) != expect->version))
    {
        *reason = "collateral version does not match the route";
        return NGX_DECLINED;
    }

    if (expect->fmspc) {
        value = json_object_get(body, "fmspc");
        s = json_is_string(value) ? json_string_value(value) : NULL;

        if (s == NULL
            || !ngx_http_thim_strcaseeq(expect->fmspc,
                                        NGX_HTTP_THIM_FMSPC_HEX, (char *) s))
        {
            *reason = "fmspc in the body does not match the request";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_thim_intel_json_date(body, "issueDate", issued) != NGX_OK) {
        *reason = "issueDate missing or malformed";
        return NGX_DECLINED;
    }

    if (ngx_http_thim_intel_json_date(body, "nextUpdate", next_update)
        != NGX_OK)
    {
        *reason = "nextUpdate missing or malformed";
        return NGX_DECLINED;
    }

    value = json_object_get(root, "signature");
    s = json_is_string(value) ? json_string_value(value) : NULL;

    if (s == NULL
        || ngx_strlen(s) != NGX_HTTP_THIM_SIGNATURE_HEX
        || !ngx_http_thim_is_hex((u_char *) s, NGX_HTTP_THIM_SIGNATURE_HEX))
    {
        *reason = "signature is not 64 bytes of hex";
        return NGX_DECLINED;
    }

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
