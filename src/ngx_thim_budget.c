
/*
 * ngx_thim: a request budget per origin (see ngx_thim_budget.h).
 *
 * The bucket holds "burst" tokens and gains "rate" per second; a fetch
 * takes one.  Half the bucket (burst / 2, rounded down) is the refreshes'
 * reserve: a refresh takes a token whenever there is one, a cold key only
 * while more than the reserve is left, so after a flood the refills go
 * to the reserve first and a refresh due meanwhile still reaches the
 * origin.  Over any interval of t seconds an origin sees at most
 * burst + rate * t requests, whatever the mix.
 *
 * Tokens are kept in thousandths, so a rate below one a second (r/m)
 * refills smoothly; times are ngx_current_msec, the leases' clock.
 */


#include "ngx_thim_budget.h"


static void ngx_http_thim_budget_refill(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_msec_t now);
static ngx_msec_t ngx_http_thim_budget_wait(ngx_http_thim_rate_t *rate,
    ngx_uint_t have, ngx_uint_t need);
static void ngx_http_thim_budget_judge(ngx_http_thim_budget_t *b);


/*
 * Takes a token for a fetch: a refresh of a record that exists, or a
 * cold key.  Returns 0, or the ms until the fetch could be made (it is
 * not: a cold miss is refused, a refresh put off).
 */

ngx_msec_t
ngx_http_thim_budget_take(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_uint_t cold, ngx_msec_t now)
{
    ngx_uint_t      need;
    ngx_msec_int_t  pace;

    b->rate = rate->rate;
    b->burst = rate->burst;

    if (rate->rate == 0) {
        /* unlimited: counted only */
        if (cold) {
            b->cold++;

        } else {
            b->refreshes++;
        }

        return 0;
    }

    ngx_http_thim_budget_refill(b, rate, now);

    if (!cold) {
        if (b->tokens >= 1000) {
            b->tokens -= 1000;
            b->refreshes++;
            return 0;
        }

        b->deferred++;
        return ngx_http_thim_budget_wait(rate, b->tokens, 1000);
    }

    need = (rate->burst / 2 + 1) * 1000;
    pace = b->shift ? (ngx_msec_int_t) (b->cold_next - now) : 0;

    if (b->tokens >= need && pace <= 0) {
        b->tokens -= 1000;
        b->cold++;

        if (b->shift) {
            /* a tightened origin: the next cold key after 2^shift - 1
               more tokens' time */
            b->cold_next = now + (ngx_msec_t)
                ((((ngx_uint_t) 1 << b->shift) - 1) * 1000000 / rate->rate);
        }

        return 0;
    }

    b->refused++;

    return ngx_max(ngx_http_thim_budget_wait(rate, b->tokens, need),
                   (ngx_msec_t) ngx_max(pace, 0));
}


/* a token taken for a fetch that is not made after all */

void
ngx_http_thim_budget_give_back(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_uint_t cold)
{
    if (cold) {
        b->cold--;

    } else {
        b->refreshes--;
    }

    if (rate->rate) {
        b->tokens = ngx_min(b->tokens + 1000, rate->burst * 1000);
    }
}


/*
 * The answer to a cold key's fetch: a 404 (negative) or a checked 200.
 * A random-ID flood is a burst of cold keys that all come back 404; each
 * window of at least NGX_HTTP_THIM_BUDGET_WINDOW ms and
 * NGX_HTTP_THIM_BUDGET_WINDOW_MIN answers, three in four of them or more
 * negative, halves the share of the rate cold keys may take; each
 * positive answer doubles it back, and a window as positive as negative
 * gives it back whole: a legitimate new platform loosens it at once.
 */

void
ngx_http_thim_budget_answer(ngx_http_thim_budget_t *b,
    ngx_uint_t negative, ngx_msec_t now)
{
    ngx_msec_int_t  age;

    /* the rate its last fetch was taken under */
    if (b->rate == 0) {
        return;
    }

    age = (ngx_msec_int_t) (now - b->window);

    if (b->window == 0 || age > NGX_HTTP_THIM_BUDGET_WINDOW_STALE) {
        b->window = now ? now : 1;
        b->negative = 0;
        b->positive = 0;
        age = 0;
    }

    if (negative) {
        b->negative++;

    } else {
        b->positive++;

        if (b->shift) {
            b->shift--;
            b->cold_next = now;
        }
    }

    if (age < NGX_HTTP_THIM_BUDGET_WINDOW
        || b->negative + b->positive < NGX_HTTP_THIM_BUDGET_WINDOW_MIN)
    {
        return;
    }

    ngx_http_thim_budget_judge(b);

    b->window = now ? now : 1;
    b->negative = 0;
    b->positive = 0;
}


static void
ngx_http_thim_budget_judge(ngx_http_thim_budget_t *b)
{
    if (b->negative >= 3 * b->positive) {
        if (b->shift < NGX_HTTP_THIM_BUDGET_MAX_SHIFT) {
            b->shift++;
        }

        b->tightened++;
        return;
    }

    if (b->positive >= b->negative) {
        b->shift = 0;
        b->cold_next = 0;
    }
}


static void
ngx_http_thim_budget_refill(ngx_http_thim_budget_t *b,
    ngx_http_thim_rate_t *rate, ngx_msec_t now)
{
    ngx_uint_t      add, full;
    ngx_msec_int_t  elapsed;

    full = rate->burst * 1000;

    if (!b->started) {
        b->started = 1;
        b->tokens = full;
        b->refilled = now;
        return;
    }

    elapsed = (ngx_msec_int_t) (now - b->refilled);

    if (elapsed <= 0) {
        b->tokens = ngx_min(b->tokens, full);
        return;
    }

    add = (ngx_uint_t) elapsed * rate->rate / 1000;

    if (add == 0 && b->tokens < full) {
        /* too soon for a thousandth: keep the time it has accrued */
        return;
    }

    b->tokens = ngx_min(b->tokens + add, full);
    b->refilled = now;
}


static ngx_msec_t
ngx_http_thim_budget_wait(ngx_http_thim_rate_t *rate, ngx_uint_t have,
    ngx_uint_t need)
{
    if (have >= need) {
        return 1;
    }

    return (ngx_msec_t) (((need - have) * 1000 + rate->rate - 1)
                         / rate->rate);
}


/* "10r/s", "30r/m": in requests per 1000 s; NGX_ERROR if not a rate */

ngx_int_t
ngx_http_thim_budget_parse_rate(ngx_str_t *value, ngx_uint_t *rate)
{
    u_char      *p, *last;
    ngx_uint_t   n;

    if (value->len < 4) {
        return NGX_ERROR;
    }

    last = value->data + value->len - 3;

    if (last[0] != 'r' || last[1] != '/') {
        return NGX_ERROR;
    }

    n = 0;

    for (p = value->data; p < last; p++) {
        if (*p < '0' || *p > '9' || n > 1000000) {
            return NGX_ERROR;
        }

        n = n * 10 + (*p - '0');
    }

    if (n == 0 || n > 1000000) {
        return NGX_ERROR;
    }

    switch (last[2]) {

    case 's':
        *rate = n * 1000;
        break;

    case 'm':
        *rate = n * 1000 / 60;
        break;

    default:
        return NGX_ERROR;
    }

    return (*rate > 0) ? NGX_OK : NGX_ERROR;
}
