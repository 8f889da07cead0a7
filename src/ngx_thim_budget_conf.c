
/*
 * ngx_thim: the thim_origin_rate directive (the budgets themselves are
 * in ngx_thim_budget.c, their buckets in the zone).
 *
 *     thim_origin_rate intel|intel-root|amd <N>r/s|<N>r/m|off [burst=N];
 *
 * Neither Intel nor AMD publishes a number for PCS or KDS
 * (docs/directives.md): the defaults are conservative guesses, well
 * under what a single machine asks in a normal attestation flow times a
 * small fleet, and an operator with a known allowance raises them.
 */


#include "ngx_thim_budget_conf.h"


typedef struct {
    ngx_str_t                  name;
    ngx_uint_t                 origin;
    ngx_uint_t                 rate;        /* requests per 1000 s */
    ngx_uint_t                 burst;
} ngx_http_thim_rate_default_t;


static ngx_http_thim_rate_default_t  ngx_http_thim_rate_defaults[] = {
    { ngx_string("intel"), NGX_HTTP_THIM_ORIGIN_INTEL, 5000, 10 },
    { ngx_string("intel-root"), NGX_HTTP_THIM_ORIGIN_INTEL_ROOT, 1000, 2 },
    { ngx_string("amd"), NGX_HTTP_THIM_ORIGIN_AMD, 1000, 5 },
    { ngx_null_string, 0, 0, 0 }
};


char *
ngx_http_thim_origin_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_int_t                      burst;
    ngx_str_t                     *value;
    ngx_uint_t                     rate;
    ngx_http_thim_rate_t          *r;
    ngx_http_thim_rate_default_t  *d;

    value = cf->args->elts;

    for (d = ngx_http_thim_rate_defaults; d->name.len; d++) {
        if (d->name.len == value[1].len
            && ngx_strncmp(d->name.data, value[1].data, value[1].len) == 0)
        {
            break;
        }
    }

    if (d->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown origin \"%V\": intel, intel-root or amd",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    r = &tlcf->origin_rate[d->origin];

    if (r->rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (value[2].len == 3 && ngx_strncmp(value[2].data, "off", 3) == 0) {
        rate = 0;

    } else if (ngx_http_thim_budget_parse_rate(&value[2], &rate) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"%V\": <N>r/s, <N>r/m or off",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    /* two seconds' worth by default, and room for a refresh reserve */
    burst = ngx_max((ngx_int_t) (rate * 2 / 1000), 2);

    if (cf->args->nelts == 4) {
        if (rate == 0 || value[3].len <= 6
            || ngx_strncmp(value[3].data, "burst=", 6) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        burst = ngx_atoi(value[3].data + 6, value[3].len - 6);

        if (burst <= 0 || burst > 1000000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid burst \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }
    }

    r->rate = rate;
    r->burst = (ngx_uint_t) burst;

    return NGX_CONF_OK;
}


void
ngx_http_thim_origin_rate_init(ngx_http_thim_loc_conf_t *tlcf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_THIM_ORIGINS; i++) {
        tlcf->origin_rate[i].rate = NGX_CONF_UNSET_UINT;
        tlcf->origin_rate[i].burst = NGX_CONF_UNSET_UINT;
    }
}


void
ngx_http_thim_origin_rate_merge(ngx_http_thim_loc_conf_t *conf,
    ngx_http_thim_loc_conf_t *prev)
{
    ngx_http_thim_rate_t          *r, *p;
    ngx_http_thim_rate_default_t  *d;

    for (d = ngx_http_thim_rate_defaults; d->name.len; d++) {
        r = &conf->origin_rate[d->origin];
        p = &prev->origin_rate[d->origin];

        if (r->rate != NGX_CONF_UNSET_UINT) {
            continue;
        }

        if (p->rate != NGX_CONF_UNSET_UINT) {
            *r = *p;
            continue;
        }

        r->rate = d->rate;
        r->burst = d->burst;
    }
}
