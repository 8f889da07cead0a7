
/*
 * Unit tests: the per-origin request budget (src/ngx_thim_budget.c): the
 * bound over any interval, the refreshes' reserve, the cold share halved
 * by windows of 404s and given back by positive answers, and the rate
 * syntax.
 */


#include "tap.h"
#include "ngx_thim_budget.c"


/* takes whatever it can for "ms" ms, one try a ms; returns how many */
static ngx_uint_t
drain(ngx_http_thim_budget_t *b, ngx_http_thim_rate_t *rate,
    ngx_uint_t cold, ngx_msec_t from, ngx_msec_t ms)
{
    ngx_uint_t  n;
    ngx_msec_t  t;

    n = 0;

    for (t = from; t < from + ms; t++) {
        while (ngx_http_thim_budget_take(b, rate, cold, t) == 0) {
            n++;
        }
    }

    return n;
}


static void
bounded(void)
{
    ngx_uint_t              n, s, worst;
    ngx_http_thim_rate_t    rate = { 5000, 10 };
    ngx_http_thim_budget_t  b;

    ngx_memzero(&b, sizeof(b));

    /* cold keys: the burst less the reserve, then the rate */
    n = drain(&b, &rate, 1, 1000, 1000);
    ok(n <= 10 + 5 && n >= 5 + 4, "first second: %u cold (burst 10, "
       "reserve 5, 5 r/s)", (unsigned) n);

    worst = 0;

    for (s = 2; s < 30; s++) {
        n = drain(&b, &rate, 1, s * 1000, 1000);
        worst = ngx_max(worst, n);
    }

    ok(worst <= 5, "any later second: at most 5 cold (%u)", (unsigned) worst);
    ok(b.refused > 0, "refusals counted (%u)", (unsigned) b.refused);

    /* the reserve is the refreshes' own */
    n = drain(&b, &rate, 0, 30000, 1);
    ok(n == 5 || n == 6, "refreshes take the reserve a cold flood left: %u",
       (unsigned) n);

    /* when a cold key could go, in ms */
    ok(ngx_http_thim_budget_take(&b, &rate, 1, 30001) > 0,
       "a cold key is told how long to wait");
}


static void
refreshes_first(void)
{
    ngx_uint_t              n;
    ngx_http_thim_rate_t    rate = { 2000, 4 };
    ngx_http_thim_budget_t  b;

    ngx_memzero(&b, sizeof(b));

    (void) drain(&b, &rate, 1, 1000, 1);     /* cold take all they may */
    ok(b.tokens / 1000 == 2, "cold keys leave the reserve (2 of 4)");

    /* 1 s later the bucket is full again: cold keys take only what is
       above the reserve */
    n = drain(&b, &rate, 1, 2000, 1);
    ok(n == 2, "cold keys take only what is above the reserve (%u)",
       (unsigned) n);

    n = drain(&b, &rate, 0, 2000, 1);
    ok(n == 2, "refreshes still have the reserve (%u)", (unsigned) n);

    n = b.deferred;
    ok(ngx_http_thim_budget_take(&b, &rate, 0, 2000) > 0
       && b.deferred == n + 1, "a refresh with no token left is put off");
}


static void
tightened(void)
{
    ngx_uint_t              i, n, before, after;
    ngx_msec_t              t;
    ngx_http_thim_rate_t    rate = { 8000, 2 };
    ngx_http_thim_budget_t  b;

    ngx_memzero(&b, sizeof(b));

    before = drain(&b, &rate, 1, 1000, 5000);

    /* windows of 404s: three halvings */
    t = 6000;

    for (i = 0; i < 3; i++) {
        for (n = 0; n < 4; n++) {
            ngx_http_thim_budget_answer(&b, 1, t);
        }

        t += NGX_HTTP_THIM_BUDGET_WINDOW;
        ngx_http_thim_budget_answer(&b, 1, t);
    }

    ok(b.shift >= 3 && b.tightened >= 3, "404 windows tightened the cold "
       "share: 1/%u", 1u << b.shift);

    after = drain(&b, &rate, 1, t, 5000);

    ok(after * 6 <= before, "cold keys in 5 s: %u before, %u after",
       (unsigned) before, (unsigned) after);

    n = drain(&b, &rate, 0, t + 5000, 1);
    ok(n >= 1, "refreshes are not tightened (%u)", (unsigned) n);

    /* each positive answer doubles it back; a positive window whole */
    t += 10000;
    n = b.shift;
    ngx_http_thim_budget_answer(&b, 0, t);
    ok(b.shift == n - 1, "a positive answer halves the tightening");

    b.shift = 5;

    for (n = 0; n < 2; n++) {
        ngx_http_thim_budget_answer(&b, 0, t);
        ngx_http_thim_budget_answer(&b, 1, t);
    }

    ngx_http_thim_budget_answer(&b, 0, t + NGX_HTTP_THIM_BUDGET_WINDOW);

    ok(b.shift == 0, "a window as positive as negative restores the cold "
       "share (%u)", (unsigned) b.shift);

    /* a window with too few answers judges nothing */
    ngx_memzero(&b, sizeof(b));
    b.rate = 8000;
    ngx_http_thim_budget_answer(&b, 1, 100);
    ngx_http_thim_budget_answer(&b, 1, 5000);
    ok(b.shift == 0, "two 404s are not a flood");

    /* unlimited: counted, never refused, never tightened */
    ngx_memzero(&b, sizeof(b));
    rate.rate = 0;
    ok(ngx_http_thim_budget_take(&b, &rate, 1, 1) == 0 && b.cold == 1,
       "off: nothing refused");
}


static void
rate_syntax(void)
{
    ngx_str_t   s;
    ngx_uint_t  r;

    s = (ngx_str_t) ngx_string("10r/s");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_OK && r == 10000,
       "10r/s");
    s = (ngx_str_t) ngx_string("30r/m");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_OK && r == 500,
       "30r/m");

    s = (ngx_str_t) ngx_string("0r/s");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_ERROR, "0r/s refused");
    s = (ngx_str_t) ngx_string("10r/h");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_ERROR, "r/h refused");
    s = (ngx_str_t) ngx_string("r/s");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_ERROR, "no number");
    s = (ngx_str_t) ngx_string("1x0r/s");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_ERROR, "not digits");
    s = (ngx_str_t) ngx_string("99999999999999999999r/s");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_ERROR, "overflow");
    s = (ngx_str_t) ngx_string("1r/m");
    ok(ngx_http_thim_budget_parse_rate(&s, &r) == NGX_OK && r == 16,
       "1r/m");
}


int
main(void)
{
    bounded();
    refreshes_first();
    tightened();
    rate_syntax();

    return done_testing();
}
