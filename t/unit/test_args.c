
/*
 * Unit tests: query-string parsing and validation (src/ngx_thim_args.c).
 */


#include "tap.h"
#include "ngx_thim_args.c"


#define S(s)  (u_char *) (s), sizeof(s) - 1


static void
test_parse(void)
{
    ngx_http_thim_arg_t   *a;
    ngx_http_thim_args_t   args;

    ok(ngx_http_thim_args_parse(S("fmspc=00906ED50000&update=early"), &args)
       == NGX_OK && args.nargs == 2, "two pairs");
    is_str(args.args[0].key.data, args.args[0].key.len, "fmspc", "key 0");
    is_str(args.args[0].value.data, args.args[0].value.len, "00906ED50000",
           "value 0");
    is_str(args.args[1].value.data, args.args[1].value.len, "early",
           "value 1");

    ok(ngx_http_thim_args_parse(S("&&a=1&&b&=x&"), &args) == NGX_OK
       && args.nargs == 3, "empty pairs skipped, bare key and bare value kept");
    ok(args.args[1].key.len == 1 && args.args[1].value.len == 0,
       "a key without '=' has an empty value");
    ok(args.args[2].key.len == 0 && args.args[2].value.len == 1,
       "'=x' has an empty key");

    ok(ngx_http_thim_args_parse(S(""), &args) == NGX_OK && args.nargs == 0,
       "empty query");

    ok(ngx_http_thim_args_parse(S("a=1&a=2&A=3"), &args) == NGX_OK,
       "repeated keys parse");
    a = ngx_http_thim_args_find(&args, S("a"));
    ok(a && a->value.len == 1 && a->value.data[0] == '1',
       "first occurrence wins");
    a = ngx_http_thim_args_find(&args, S("A"));
    ok(a && a->value.data[0] == '3', "keys are case-sensitive");
    ok(ngx_http_thim_args_find(&args, S("b")) == NULL, "absent key");
    ok(ngx_http_thim_args_find(&args, S("")) == NULL, "empty key not found");
}


static void
test_limits(void)
{
    int                   i;
    char                  q[NGX_HTTP_THIM_ARGS_MAX_LEN + 2];
    size_t                len;
    ngx_http_thim_args_t  args;

    memset(q, 'a', sizeof(q));
    ok(ngx_http_thim_args_parse((u_char *) q, NGX_HTTP_THIM_ARGS_MAX_LEN,
                                &args) == NGX_OK,
       "a query of the maximum length parses");
    ok(ngx_http_thim_args_parse((u_char *) q, NGX_HTTP_THIM_ARGS_MAX_LEN + 1,
                                &args) == NGX_DECLINED,
       "a longer one is declined");

    len = 0;
    for (i = 0; i < NGX_HTTP_THIM_ARGS_MAX; i++) {
        len += sprintf(q + len, "k%d=v&", i);
    }

    ok(ngx_http_thim_args_parse((u_char *) q, len, &args) == NGX_OK
       && args.nargs == NGX_HTTP_THIM_ARGS_MAX, "the maximum pair count");

    len += sprintf(q + len, "x=1");
    ok(ngx_http_thim_args_parse((u_char *) q, len, &args) == NGX_DECLINED,
       "one pair more is declined");
}


static void
test_pct_decode(void)
{
    u_char  buf[64];
    size_t  len;

    ok(ngx_http_thim_pct_decode(buf, S("a%20b%2Bc+d%2f"), &len) == NGX_OK,
       "decode");
    is_str(buf, len, "a b+c+d/", "'+' stays '+', escapes any case");

    ok(ngx_http_thim_pct_decode(buf, S("%zz"), &len) == NGX_ERROR,
       "bad escape refused");
    ok(ngx_http_thim_pct_decode(buf, S("ab%2"), &len) == NGX_ERROR,
       "truncated escape refused");
    ok(ngx_http_thim_pct_decode(buf, S("%"), &len) == NGX_ERROR,
       "lone percent refused");
    ok(ngx_http_thim_pct_decode(buf, S("%00"), &len) == NGX_OK && len == 1
       && buf[0] == 0, "NUL decodes (callers validate what they accept)");
    ok(ngx_http_thim_pct_decode(buf, S(""), &len) == NGX_OK && len == 0,
       "empty");

    memcpy(buf, "x%41y", 5);
    ok(ngx_http_thim_pct_decode(buf, buf, 5, &len) == NGX_OK, "in place");
    is_str(buf, len, "xAy", "in place result");
}


static void
test_decimal_and_hex(void)
{
    uint64_t  v;

    ok(ngx_http_thim_parse_decimal(S("17"), 10, &v) == NGX_OK && v == 17,
       "17");
    ok(ngx_http_thim_parse_decimal(S("0017"), 10, &v) == NGX_OK && v == 17,
       "leading zeros");
    ok(ngx_http_thim_parse_decimal(S("9999999999"), 10, &v) == NGX_OK
       && v == 9999999999ULL, "ten digits");
    ok(ngx_http_thim_parse_decimal(S("12345678901"), 10, &v) == NGX_ERROR,
       "eleven digits refused");
    ok(ngx_http_thim_parse_decimal(S(""), 10, &v) == NGX_ERROR,
       "empty refused");
    ok(ngx_http_thim_parse_decimal(S("-1"), 10, &v) == NGX_ERROR,
       "sign refused");
    ok(ngx_http_thim_parse_decimal(S("1 "), 10, &v) == NGX_ERROR,
       "space refused");
    ok(ngx_http_thim_parse_decimal(S("0x1"), 10, &v) == NGX_ERROR,
       "hex refused");

    ok(ngx_http_thim_is_hex(S("00906eD50000")), "hex any case");
    ok(!ngx_http_thim_is_hex(S("00906g")), "g is not hex");
    ok(ngx_http_thim_is_hex(S("")), "empty is (vacuously) hex");

    {
        u_char  b[3];

        ok(ngx_http_thim_hex_decode(b, (u_char *) "0aFf7E", 6) == NGX_OK
           && b[0] == 0x0a && b[1] == 0xff && b[2] == 0x7e, "hex decode");
        ok(ngx_http_thim_hex_decode(b, (u_char *) "0aF", 3) == NGX_ERROR,
           "odd length refused");
        ok(ngx_http_thim_hex_decode(b, (u_char *) "0g", 2) == NGX_ERROR,
           "non-hex refused");
    }

    ok(ngx_http_thim_strcaseeq(S("EaRlY"), "early"), "case-insensitive eq");
    ok(!ngx_http_thim_strcaseeq(S("earl"), "early"), "prefix is not equal");
    ok(!ngx_http_thim_strcaseeq(S("earlyy"), "early"), "longer is not equal");
}


int
main(void)
{
    test_parse();
    test_limits();
    test_pct_decode();
    test_decimal_and_hex();

    return done_testing();
}
