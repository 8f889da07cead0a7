
/*
 * ngx_thim: an attestation-collateral edge cache for nginx.
 *
 * This file holds the module definition, the one table of its
 * directives, and the configuration; the work is done in src/ (see
 * src/ngx_thim.h).  Directive handlers live here, except those of a
 * concern with a file of its own: thim_amd_trust in ngx_thim_amd.c (it
 * loads and checks the ARK/ASK chain), thim_status in ngx_thim_status.c,
 * and the snapshot, seed and refresh parameters of thim_cache_zone in
 * ngx_thim_persist.c (ngx_http_thim_persist_zone_param()).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_thim.h"
#include "ngx_thim_args.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_fetch.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_pckcert.h"
#include "ngx_thim_pccs.h"
#include "ngx_thim_amd.h"
#include "ngx_thim_amd_azure.h"
#include "ngx_thim_tier.h"
#include "ngx_thim_response.h"
#include "ngx_thim_status.h"
#include "ngx_thim_persist.h"
#include "ngx_thim_x509.h"
#include "ngx_thim_conf_check.h"
#include "ngx_thim_budget_conf.h"
#include "ngx_thim_wake.h"


/* limit_req's floor: smaller zones cannot hold their own bookkeeping */
#define NGX_HTTP_THIM_MIN_ZONE_PAGES   8


static ngx_int_t ngx_http_thim_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_thim_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_thim_init_process(ngx_cycle_t *cycle);
static void ngx_http_thim_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_thim_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_thim_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_thim_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_thim_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_thim_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_thim_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_intel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_amd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_amd_azure(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_refresh(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_set_handler(ngx_conf_t *cf, ngx_flag_t *flag,
    ngx_http_handler_pt handler);
static char *ngx_http_thim_merge_complex(ngx_conf_t *cf,
    ngx_http_complex_value_t **conf, ngx_http_complex_value_t *prev,
    char *value);
static char *ngx_http_thim_cache_valid(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_intel_root_ca(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_intel_api_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_thim_baseline(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_next_update_grace(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_thim_fetch_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_eval_override(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thim_origin_uri(ngx_conf_t *cf, void *post, void *data);


static ngx_conf_post_handler_pt  ngx_http_thim_origin_uri_p =
    ngx_http_thim_origin_uri;

static ngx_conf_enum_t  ngx_http_thim_update_values[] = {
    { ngx_string("standard"), 0 },
    { ngx_string("early"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_thim_max_fetches_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_HTTP_THIM_MAX_FETCH_SLOTS
};


static ngx_command_t  ngx_http_thim_commands[] = {

    { ngx_string("thim_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_thim_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_cache,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_intel"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thim_intel,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_amd"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thim_amd,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_amd_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, amd_origin),
      &ngx_http_thim_origin_uri_p },

    { ngx_string("thim_amd_azure"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thim_amd_azure,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_amd_platform_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, amd_platform_id),
      NULL },

    { ngx_string("thim_amd_tcb_version"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, amd_tcb_version),
      NULL },

    { ngx_string("thim_amd_product"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, amd_product),
      NULL },

    { ngx_string("thim_amd_trust"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_thim_amd_trust,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_amd_max_fetches"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, amd_max_fetches),
      &ngx_http_thim_max_fetches_bounds },

    { ngx_string("thim_intel_max_fetches"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, intel_max_fetches),
      &ngx_http_thim_max_fetches_bounds },

    { ngx_string("thim_origin_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_thim_origin_rate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_refresh"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thim_refresh,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thim_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_intel_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, intel_origin),
      &ngx_http_thim_origin_uri_p },

    { ngx_string("thim_intel_baseline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_baseline,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_pccs_user_token_hash"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_pccs_token_hash,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, pccs_user_hash),
      NULL },

    { ngx_string("thim_pccs_admin_token_hash"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_pccs_token_hash,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, pccs_admin_hash),
      NULL },

    { ngx_string("thim_pccs_offline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, pccs_offline),
      NULL },

    { ngx_string("thim_intel_update"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, update_early),
      &ngx_http_thim_update_values },

    { ngx_string("thim_intel_eval_override"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_eval_override,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_intel_root_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, intel_root_origin),
      &ngx_http_thim_origin_uri_p },

    { ngx_string("thim_intel_root_ca"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_intel_root_ca,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_intel_api_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_intel_api_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_fetch_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, fetch_timeout),
      NULL },

    { ngx_string("thim_fetch_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_thim_fetch_backoff,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_thim_cache_valid,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_next_update_grace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thim_next_update_grace,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thim_cache_negative_valid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thim_loc_conf_t, negative_valid),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_thim_module_ctx = {
    ngx_http_thim_add_variables,           /* preconfiguration */
    ngx_http_thim_postconfiguration,       /* postconfiguration */

    ngx_http_thim_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_thim_create_loc_conf,         /* create location configuration */
    ngx_http_thim_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_thim_module = {
    NGX_MODULE_V1,
    &ngx_http_thim_module_ctx,             /* module context */
    ngx_http_thim_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_thim_pckcert_init_module,     /* init module */
    ngx_http_thim_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_thim_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_thim_vars[] = {

    { ngx_string("thim_cache_status"), NULL,
      ngx_http_thim_cache_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("thim_intel_api_key"), NULL,
      ngx_http_thim_api_key_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    /* the canonical key, for "hash $thim_key consistent" (tier.c) */
    { ngx_string("thim_key"), NULL,
      ngx_http_thim_key_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * After the configuration is read: the body filter that bounds origin
 * answers (fetch.c), the checks that refuse a half-written configuration
 * (conf_check.c) and the hooks that keep machine identifiers out of
 * the logs (pckcert.c).
 */

static ngx_int_t
ngx_http_thim_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_thim_fetch_init_filter(cf) != NGX_OK
        || ngx_http_thim_conf_check(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_thim_pckcert_init(cf);
}


/*
 * A worker starts: what the configuration check could not know is said
 * once, the worker takes its wake-up row, then the snapshot writer.
 */

static ngx_int_t
ngx_http_thim_init_process(ngx_cycle_t *cycle)
{
    ngx_http_thim_conf_check_notes(cycle);

    if (ngx_http_thim_wake_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_thim_persist_init_process(cycle);
}


/* the last snapshot first: its waiters are told after */

static void
ngx_http_thim_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_thim_persist_exit_process(cycle);
    ngx_http_thim_wake_exit_process(cycle);
}


static ngx_int_t
ngx_http_thim_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_thim_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_thim_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *name;
    ngx_http_thim_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_thim_module);

    if (ctx == NULL || ctx->cache_status == NGX_HTTP_THIM_CACHE_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_http_thim_cache_status_name(ctx->cache_status);

    v->len = name->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = name->data;

    return NGX_OK;
}


/*
 * Intel's API key, for "proxy_set_header Ocp-Apim-Subscription-Key
 * $thim_intel_api_key" in the Intel origin location: set only in the
 * subrequest of a fetch that needs it (pckcert, pckcerts), empty
 * everywhere else, so that the header is sent on those alone (nginx
 * sends no header whose value is empty).
 */

static ngx_int_t
ngx_http_thim_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_thim_ctx_t       *ctx;
    ngx_http_thim_loc_conf_t  *tlcf;

    v->len = 0;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) "";

    ctx = ngx_http_get_module_ctx(r, ngx_http_thim_module);

    if (r == r->main || ctx == NULL || ctx->route == NULL
        || !ctx->route->api_key)
    {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_thim_module);

    v->len = tlcf->intel_api_key.len;
    v->data = tlcf->intel_api_key.data;

    return NGX_OK;
}


static void *
ngx_http_thim_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_thim_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_thim_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&tmcf->zones, cf->pool, 1, sizeof(ngx_shm_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return tmcf;
}


static void *
ngx_http_thim_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_thim_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->intel_origin = { 0, NULL };
     *     tlcf->intel_root_origin = { 0, NULL };
     *     tlcf->intel_root_chain = { 0, NULL };
     *     tlcf->intel_root = NULL;
     *     tlcf->amd_trust[] = { NULL, NULL };
     *     tlcf->amd_origin = { 0, NULL };
     *     tlcf->intel = 0;
     *     tlcf->amd = 0;
     *     tlcf->amd_azure = 0;
     */

    tlcf->zone = NGX_CONF_UNSET_PTR;
    tlcf->fetch_timeout = NGX_CONF_UNSET_MSEC;
    tlcf->backoff_min = NGX_CONF_UNSET_MSEC;
    tlcf->backoff_max = NGX_CONF_UNSET_MSEC;
    tlcf->valid_min = NGX_CONF_UNSET;
    tlcf->valid_max = NGX_CONF_UNSET;
    tlcf->negative_valid = NGX_CONF_UNSET;
    tlcf->amd_max_fetches = NGX_CONF_UNSET_UINT;
    tlcf->intel_max_fetches = NGX_CONF_UNSET_UINT;
    ngx_http_thim_origin_rate_init(tlcf);
    tlcf->baseline = NGX_CONF_UNSET;
    tlcf->next_update_grace = NGX_CONF_UNSET;
    tlcf->update_early = NGX_CONF_UNSET_UINT;
    tlcf->eval_min = NGX_CONF_UNSET_UINT;
    tlcf->eval_max = NGX_CONF_UNSET_UINT;
    tlcf->amd_platform_id = NGX_CONF_UNSET_PTR;
    tlcf->amd_tcb_version = NGX_CONF_UNSET_PTR;
    tlcf->amd_product = NGX_CONF_UNSET_PTR;
    tlcf->pccs_offline = NGX_CONF_UNSET;

    return tlcf;
}


static char *
ngx_http_thim_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_thim_loc_conf_t *prev = parent;
    ngx_http_thim_loc_conf_t *conf = child;

    ngx_uint_t                   i, trusted;
    ngx_shm_zone_t             **zones;
    ngx_http_thim_main_conf_t   *tmcf;

    trusted = 0;

    ngx_conf_merge_ptr_value(conf->zone, prev->zone, NULL);
    ngx_conf_merge_str_value(conf->intel_origin, prev->intel_origin,
                             "/_thim/intel");
    ngx_conf_merge_str_value(conf->intel_root_origin, prev->intel_root_origin,
                             "/_thim/intel-root");
    ngx_conf_merge_str_value(conf->intel_root_chain, prev->intel_root_chain,
                             "");

    if (conf->intel_root == NULL) {
        conf->intel_root = prev->intel_root;
    }

    ngx_conf_merge_str_value(conf->intel_api_key, prev->intel_api_key, "");
    ngx_conf_merge_str_value(conf->pccs_user_hash, prev->pccs_user_hash, "");
    ngx_conf_merge_str_value(conf->pccs_admin_hash, prev->pccs_admin_hash,
                             "");
    ngx_conf_merge_value(conf->pccs_offline, prev->pccs_offline, 0);

    for (i = 0; i < NGX_HTTP_THIM_AMD_PRODUCTS; i++) {
        if (conf->amd_trust[i].ark == NULL) {
            conf->amd_trust[i] = prev->amd_trust[i];
        }

        trusted |= (conf->amd_trust[i].ark != NULL);
    }
    ngx_conf_merge_str_value(conf->amd_origin, prev->amd_origin,
                             "/_thim/amd");
    ngx_conf_merge_uint_value(conf->amd_max_fetches, prev->amd_max_fetches, 2);
    ngx_conf_merge_uint_value(conf->intel_max_fetches,
                              prev->intel_max_fetches, 8);
    ngx_http_thim_origin_rate_merge(conf, prev);
    ngx_conf_merge_uint_value(conf->update_early, prev->update_early, 0);
    ngx_conf_merge_value(conf->next_update_grace, prev->next_update_grace,
                         -1);

    if (conf->baseline == NGX_CONF_UNSET) {
        conf->baseline = (prev->baseline == NGX_CONF_UNSET)
                         ? 0 : prev->baseline;
        conf->baseline_kind = (prev->baseline == NGX_CONF_UNSET)
                              ? NGX_HTTP_THIM_BASELINE_LATEST
                              : prev->baseline_kind;
    }

    if (conf->eval_max == NGX_CONF_UNSET_UINT) {
        /* by default a client may ask for any number, as at Intel */
        conf->eval_min = (prev->eval_max == NGX_CONF_UNSET_UINT)
                         ? 0 : prev->eval_min;
        conf->eval_max = (prev->eval_max == NGX_CONF_UNSET_UINT)
                         ? NGX_MAX_UINT32_VALUE : prev->eval_max;
    }

    /* newer Azure clients send the platform as these query arguments */
    if (ngx_http_thim_merge_complex(cf, &conf->amd_platform_id,
                                    prev->amd_platform_id, "$arg_platformId")
        != NGX_CONF_OK
        || ngx_http_thim_merge_complex(cf, &conf->amd_tcb_version,
                                       prev->amd_tcb_version,
                                       "$arg_tcbVersion")
           != NGX_CONF_OK
        || ngx_http_thim_merge_complex(cf, &conf->amd_product,
                                       prev->amd_product, "$arg_productName")
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_msec_value(conf->fetch_timeout, prev->fetch_timeout,
                              15000);

    if (conf->backoff_min == NGX_CONF_UNSET_MSEC) {
        conf->backoff_min = (prev->backoff_min == NGX_CONF_UNSET_MSEC)
                            ? 1000 : prev->backoff_min;
        conf->backoff_max = (prev->backoff_min == NGX_CONF_UNSET_MSEC)
                            ? 300000 : prev->backoff_max;
    }
    ngx_conf_merge_sec_value(conf->negative_valid, prev->negative_valid, 60);

    if (conf->valid_min == NGX_CONF_UNSET) {
        conf->valid_min = (prev->valid_min == NGX_CONF_UNSET)
                          ? 300 : prev->valid_min;
        conf->valid_max = (prev->valid_max == NGX_CONF_UNSET)
                          ? 86400 : prev->valid_max;
    }

    if (conf->zone && conf->zone->data == NULL) {
        /* "thim_cache NAME" with no such thim_cache_zone in the block */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"thim_cache %V\" names a zone that no "
                      "\"thim_cache_zone\" declares: add \"thim_cache_zone "
                      "name=%V:64m;\" at the http level",
                      &conf->zone->shm.name, &conf->zone->shm.name);
        return NGX_CONF_ERROR;
    }

    if (conf->zone == NULL) {
        /* the whole http block is parsed by now: a single zone is implied */
        tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thim_module);

        if (tmcf->zones.nelts == 1) {
            zones = tmcf->zones.elts;
            conf->zone = zones[0];
        }
    }

    if (conf->intel && conf->intel_root == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"thim_intel\" verifies what Intel signs: name the "
                      "Intel SGX Root CA with \"thim_intel_root_ca\" in %V:%ui",
                      &conf->handler_file, conf->handler_line);
        return NGX_CONF_ERROR;
    }

    /*
     * Merged at the end of the http block, where ngx_conf_log_error()
     * would cite its closing brace, and once per location: said once per
     * configuration, at the first such thim_intel.
     */
    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thim_module);

    if (conf->intel && conf->intel_api_key.len == 0 && !tmcf->no_key_warned) {
        tmcf->no_key_warned = 1;

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"thim_intel\" has no \"thim_intel_api_key_file\": "
                      "PCK certificates (pckcert, pckcerts) are fetched "
                      "without Intel's API key unless the Intel origin "
                      "location sets Ocp-Apim-Subscription-Key itself "
                      "(or is a regional ngx_thim that has the key) "
                      "in %V:%ui", &conf->handler_file, conf->handler_line);
    }

    if ((conf->amd || conf->amd_azure) && !trusted) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" verifies what AMD signs: name the ARKs with "
                      "\"thim_amd_trust\" in %V:%ui",
                      conf->amd ? "thim_amd" : "thim_amd_azure",
                      &conf->handler_file, conf->handler_line);
        return NGX_CONF_ERROR;
    }

    if ((conf->intel || conf->amd || conf->amd_azure) && conf->zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" needs a zone: declare one with "
                      "\"thim_cache_zone\" and, if there are several, "
                      "choose it with \"thim_cache\" in %V:%ui",
                      conf->intel ? "thim_intel"
                      : conf->amd ? "thim_amd" : "thim_amd_azure",
                      &conf->handler_file, conf->handler_line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_thim_persist_register(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * thim_cache_zone name=NAME:SIZE [snapshot=FILE] [snapshot_interval=TIME]
 *     [seed=DIR];
 */

static char *
ngx_http_thim_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_main_conf_t *tmcf = conf;

    u_char                   *p;
    ssize_t                   size;
    ngx_int_t                 rc;
    ngx_str_t                *value, name, s;
    ngx_uint_t                i;
    ngx_shm_zone_t           *shm_zone, **zp;
    ngx_http_thim_zone_t     *ctx;
    ngx_http_thim_persist_t  *persist;

    value = cf->args->elts;

    size = 0;
    persist = NULL;
    ngx_str_null(&name);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (NGX_HTTP_THIM_MIN_ZONE_PAGES * ngx_pagesize))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_http_thim_persist_zone_param(cf, &value[i], &persist);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
        }

        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"name\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_thim_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->name = name;

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_thim_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already bound",
                           &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_thim_cache_init_zone;
    shm_zone->data = ctx;

    if (ngx_http_thim_persist_bind(cf, shm_zone, persist) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    zp = ngx_array_push(&tmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = shm_zone;

    return NGX_CONF_OK;
}


/*
 * thim_cache NAME; the zone may be declared later in the http block: a
 * zone never declared ends up with size 0, which nginx reports.
 */

static char *
ngx_http_thim_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->zone = ngx_shared_memory_add(cf, &value[1], 0,
                                       &ngx_http_thim_module);
    if (tlcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_thim_intel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    return ngx_http_thim_set_handler(cf, &tlcf->intel, ngx_http_thim_intel_handler);
}


/*
 * thim_cache_valid min [max]; freshness comes from the collateral's
 * nextUpdate, held within [min, max]; one value fixes it.
 */

static char *
ngx_http_thim_cache_valid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->valid_min != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->valid_min = ngx_parse_time(&value[1], 1);
    tlcf->valid_max = (cf->args->nelts == 3) ? ngx_parse_time(&value[2], 1)
                                             : tlcf->valid_min;

    if (tlcf->valid_min == (time_t) NGX_ERROR
        || tlcf->valid_max == (time_t) NGX_ERROR
        || tlcf->valid_min < 1
        || tlcf->valid_max < tlcf->valid_min)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a minimum and a maximum time, "
                           "at least 1s, the maximum not below the minimum",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * thim_intel_root_ca file; the Intel SGX Root CA certificate, read once:
 * it is served, percent-encoded as Intel encodes chains, as the issuer
 * chain of the root CA CRL (PCCS sends none; Azure's TDX client needs it).
 */

static char *
ngx_http_thim_intel_root_ca(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    BIO                 *bio;
    X509                *cert;
    u_char              *pem;
    size_t               len;
    ngx_str_t           *value, file;
    ngx_pool_cleanup_t  *cln;

    if (tlcf->intel_root_chain.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) file.data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read \"%s\"", file.data);
        return NGX_CONF_ERROR;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (cert == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" holds no PEM certificate", file.data);
        return NGX_CONF_ERROR;
    }

    /* re-encode: what is served is the certificate, not the file's text */
    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
        X509_free(cert);
        BIO_free(bio);
        return NGX_CONF_ERROR;
    }

    /* the trust anchor of every Intel verification, for the cycle's life */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        X509_free(cert);
        BIO_free(bio);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_thim_x509_free;
    cln->data = cert;

    tlcf->intel_root = cert;

    len = BIO_get_mem_data(bio, (char **) &pem);

    tlcf->intel_root_chain.data = ngx_pnalloc(cf->pool, 3 * len);
    if (tlcf->intel_root_chain.data == NULL) {
        BIO_free(bio);
        return NGX_CONF_ERROR;
    }

    tlcf->intel_root_chain.len = ngx_http_thim_pct_encode(
                                     tlcf->intel_root_chain.data, pem, len)
                                 - tlcf->intel_root_chain.data;

    BIO_free(bio);

    return NGX_CONF_OK;
}


static char *
ngx_http_thim_amd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    return ngx_http_thim_set_handler(cf, &tlcf->amd, ngx_http_thim_amd_handler);
}


static char *
ngx_http_thim_amd_azure(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    return ngx_http_thim_set_handler(cf, &tlcf->amd_azure, ngx_http_thim_amd_azure_handler);
}


/* a location's content handler: one of thim_intel, thim_amd, ... */

static char *
ngx_http_thim_set_handler(ngx_conf_t *cf, ngx_flag_t *flag,
    ngx_http_handler_pt handler)
{
    ngx_http_thim_loc_conf_t  *tlcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (*flag) {
        return "is duplicate";
    }

    *flag = 1;

    /* for what is said about this location once the block is read */
    tlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_thim_module);
    tlcf->handler_file = cf->conf_file->file.name;
    tlcf->handler_line = cf->conf_file->line;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    return NGX_CONF_OK;
}


/* inherit, or compile the default complex value */

static char *
ngx_http_thim_merge_complex(ngx_conf_t *cf, ngx_http_complex_value_t **conf,
    ngx_http_complex_value_t *prev, char *value)
{
    ngx_str_t                          v;
    ngx_http_compile_complex_value_t   ccv;

    if (*conf != NGX_CONF_UNSET_PTR) {
        return NGX_CONF_OK;
    }

    if (prev != NGX_CONF_UNSET_PTR && prev != NULL) {
        *conf = prev;
        return NGX_CONF_OK;
    }

    *conf = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*conf == NULL) {
        return NGX_CONF_ERROR;
    }

    v.data = (u_char *) value;
    v.len = ngx_strlen(value);

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &v;
    ccv.complex_value = *conf;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* thim_next_update_grace off | time; off (-1) is THIM's behaviour */

static char *
ngx_http_thim_next_update_grace(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->next_update_grace != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->next_update_grace = -1;
        return NGX_CONF_OK;
    }

    tlcf->next_update_grace = ngx_parse_time(&value[1], 1);

    if (tlcf->next_update_grace == (time_t) NGX_ERROR) {
        return "takes off or a time";
    }

    return NGX_CONF_OK;
}


/* thim_fetch_backoff min max; */

static char *
ngx_http_thim_fetch_backoff(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->backoff_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->backoff_min = ngx_parse_time(&value[1], 0);
    tlcf->backoff_max = ngx_parse_time(&value[2], 0);

    if (tlcf->backoff_min == (ngx_msec_t) NGX_ERROR
        || tlcf->backoff_max == (ngx_msec_t) NGX_ERROR
        || tlcf->backoff_min == 0
        || tlcf->backoff_max < tlcf->backoff_min
        || tlcf->backoff_max > 86400000)
    {
        return "takes two times, min above 0 and at most max, max at most 1d";
    }

    return NGX_CONF_OK;
}


/* thim_intel_baseline latest | N | latest-K; */

/*
 * The key is read once, at configuration: nginx's master reads it as
 * root, so the file can be readable by root alone.  One line; leading and
 * trailing white space is dropped; it must be a valid header value.
 */

static char *
ngx_http_thim_intel_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    u_char     *p, *last;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_str_t  *value, file;
    u_char      buf[1024];

    if (tlcf->intel_api_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));
    ngx_close_file(fd);

    if (n < 0 || n == sizeof(buf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" cannot be read or is too long for an "
                           "API key", file.data);
        return NGX_CONF_ERROR;
    }

    for (p = buf, last = buf + n; p < last && isspace(*p); p++) { /* void */ }
    while (last > p && isspace(last[-1])) { last--; }

    tlcf->intel_api_key.len = last - p;

    if (tlcf->intel_api_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" holds no API key", file.data);
        return NGX_CONF_ERROR;
    }

    for (n = 0; n < (ssize_t) tlcf->intel_api_key.len; n++) {
        if (p[n] < 0x21 || p[n] > 0x7e) {
            /* never echo the key itself, not even in an error */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" holds more than one word or "
                               "characters a header cannot carry",
                               file.data);
            return NGX_CONF_ERROR;
        }
    }

    tlcf->intel_api_key.data = ngx_pnalloc(cf->pool,
                                           tlcf->intel_api_key.len);

    if (tlcf->intel_api_key.data) {
        ngx_memcpy(tlcf->intel_api_key.data, p, tlcf->intel_api_key.len);
    }

    ngx_explicit_memzero(buf, sizeof(buf));

    if (tlcf->intel_api_key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_thim_baseline(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (tlcf->baseline != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "latest") == 0) {
        tlcf->baseline = 0;
        tlcf->baseline_kind = NGX_HTTP_THIM_BASELINE_LATEST;
        return NGX_CONF_OK;
    }

    if (value[1].len > sizeof("latest-") - 1
        && ngx_strncmp(value[1].data, "latest-", sizeof("latest-") - 1) == 0)
    {
        n = ngx_atoi(value[1].data + sizeof("latest-") - 1,
                     value[1].len - (sizeof("latest-") - 1));
        tlcf->baseline_kind = NGX_HTTP_THIM_BASELINE_BEHIND;

    } else {
        n = ngx_atoi(value[1].data, value[1].len);
        tlcf->baseline_kind = NGX_HTTP_THIM_BASELINE_FIXED;
    }

    if (n == NGX_ERROR || n > (ngx_int_t) NGX_MAX_UINT32_VALUE) {
        return "takes latest, a tcbEvaluationDataNumber, or latest-N";
    }

    tlcf->baseline = n;

    return NGX_CONF_OK;
}


/* thim_intel_eval_override on | off | MIN-MAX; */

static char *
ngx_http_thim_eval_override(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    u_char     *dash;
    ngx_int_t   min, max;
    ngx_str_t  *value;

    if (tlcf->eval_max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        tlcf->eval_min = 0;
        tlcf->eval_max = NGX_MAX_UINT32_VALUE;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        /* no number is in [1, 0] */
        tlcf->eval_min = 1;
        tlcf->eval_max = 0;
        return NGX_CONF_OK;
    }

    dash = ngx_strlchr(value[1].data, value[1].data + value[1].len, '-');

    min = dash ? ngx_atoi(value[1].data, dash - value[1].data) : NGX_ERROR;
    max = dash ? ngx_atoi(dash + 1, value[1].data + value[1].len - dash - 1)
               : NGX_ERROR;

    if (min == NGX_ERROR || max == NGX_ERROR || max < min) {
        return "takes on, off, or a range such as 17-19";
    }

    tlcf->eval_min = min;
    tlcf->eval_max = max;

    return NGX_CONF_OK;
}


/* the origin prefix is a local URI: subrequests cannot leave the server */

static char *
ngx_http_thim_origin_uri(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *uri = data;

    if (uri->len < 2 || uri->data[0] != '/' || uri->data[uri->len - 1] == '/')
    {
        return "must be a local URI prefix such as /_thim/intel, "
               "without a trailing slash";
    }

    return NGX_CONF_OK;
}


/* thim_refresh; the loopback location of the refresh sweep */

static char *
ngx_http_thim_refresh(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thim_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_thim_refresh_handler;

    tlcf->handler_file = cf->conf_file->file.name;
    tlcf->handler_line = cf->conf_file->line;

    return NGX_CONF_OK;
}
