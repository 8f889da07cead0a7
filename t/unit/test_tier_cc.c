
/*
 * Unit tests: an upper tier's Cache-Control, Age and X-Cache-Status
 * (src/ngx_thim_tier_cc.c).
 */


#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_tier_cc.c"


typedef ngx_int_t (*parse_pt)(u_char *p, size_t len, time_t *v);


static void
parses(char *what, parse_pt parse, char *in, ngx_int_t want_rc, time_t want)
{
    time_t     v;
    ngx_int_t  rc;

    v = -1;
    rc = parse((u_char *) in, strlen(in), &v);

    ok(rc == want_rc && (rc != NGX_OK || v == want),
       "%s \"%s\": rc %d, %ld", what, in, (int) rc, (long) v);
}


#define max_age(in, rc, v)                                                    \
    parses("Cache-Control", ngx_http_thim_cc_max_age, in, rc, v)
#define age(in, rc, v)  parses("Age", ngx_http_thim_age, in, rc, v)


int
main(void)
{
    /* what an upper ngx_thim sends */
    max_age("max-age=86400", NGX_OK, 86400);
    max_age("max-age=60", NGX_OK, 60);
    max_age("no-store", NGX_DECLINED, 0);

    /* what a mirror or a cache in between may send */
    max_age("public, max-age=300", NGX_OK, 300);
    max_age("Max-Age=12, must-revalidate", NGX_OK, 12);
    max_age("max-age=\"30\"", NGX_OK, 30);
    max_age("max-age=100, s-maxage=20", NGX_OK, 20);
    max_age("s-maxage=500, max-age=10", NGX_OK, 500);
    max_age("max-age=50, max-age=40", NGX_OK, 40);
    max_age("private=\"a, max-age=1\", max-age=70", NGX_OK, 70);
    max_age("max-age=0", NGX_OK, 0);
    max_age("max-age=99999999999999999999", NGX_OK, 2147483647);

    /* not a bound: ignored, never guessed */
    max_age("", NGX_DECLINED, 0);
    max_age("max-age=", NGX_DECLINED, 0);
    max_age("max-age=-5", NGX_DECLINED, 0);
    max_age("max-age=\"30", NGX_DECLINED, 0);
    max_age("xmax-age=5", NGX_DECLINED, 0);

    age("0", NGX_OK, 0);
    age(" 42 ", NGX_OK, 42);
    age("42s", NGX_DECLINED, 0);
    age("", NGX_DECLINED, 0);
    age("-1", NGX_DECLINED, 0);

    ok(ngx_http_thim_cc_stale((u_char *) "STALE", 5), "STALE is stale");
    ok(ngx_http_thim_cc_stale((u_char *) "updating", 8),
       "UPDATING is stale");
    ok(!ngx_http_thim_cc_stale((u_char *) "HIT", 3), "HIT is not");
    ok(!ngx_http_thim_cc_stale((u_char *) "MISS", 4), "MISS is not");
    ok(!ngx_http_thim_cc_stale((u_char *) "STALEX", 6), "STALEX is not");

    return done_testing();
}
