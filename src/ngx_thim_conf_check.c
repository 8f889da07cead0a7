
/*
 * ngx_thim: a half-written configuration fails at nginx -t.
 *
 * A thim_intel, thim_amd, thim_amd_azure or thim_refresh location fetches
 * through in-memory subrequests to internal origin locations of its own
 * server (the prefixes of thim_intel_origin, thim_intel_root_origin and
 * thim_amd_origin).  A forgotten one used to fail at run time, request by
 * request.  Once the http block is read (postconfiguration), nginx has
 * built every server's location tree: here each thim location's server is
 * asked, as nginx itself will ask it for the subrequest (the same static
 * tree walk and regex order as ngx_http_core_find_location()), which
 * location takes a URI under each origin prefix.  It must be an internal
 * location that is not a thim location itself; anything else is an
 * [emerg] that says what to add.  The zone a thim_refresh location uses,
 * and the thim_refresh location a zone's refresh= sends to, are checked
 * the same way.
 *
 * What nginx cannot know here: where a proxy_pass with variables goes
 * (resolved per request) and what another content handler answers.  Such
 * an origin location passes, and the first worker logs it once at start
 * (ngx_http_thim_conf_check_notes()), never once per request.
 */


#include "ngx_thim.h"
#include "ngx_thim_cache.h"
#include "ngx_thim_intel.h"
#include "ngx_thim_amd.h"
#include "ngx_thim_amd_azure.h"
#include "ngx_thim_persist.h"
#include "ngx_thim_conf_check.h"


typedef struct {
    ngx_conf_t                   *cf;
    ngx_http_core_loc_conf_t     *server;       /* the server's root */
    ngx_http_thim_main_conf_t    *tmcf;
    ngx_int_t                     proxy;        /* its ctx_index, or -1 */
} ngx_http_thim_check_t;


/* an origin: what it is called, and a URI below its prefix to look up */
typedef struct {
    char                         *name;
    char                         *probe;
} ngx_http_thim_origin_desc_t;


static ngx_int_t ngx_http_thim_check_tree(ngx_http_thim_check_t *ck,
    ngx_http_location_tree_node_t *node);
static ngx_int_t ngx_http_thim_check_location(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_thim_check_route(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf, ngx_http_thim_loc_conf_t *tlcf);
static ngx_int_t ngx_http_thim_check_origin(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf, ngx_http_thim_loc_conf_t *tlcf,
    ngx_str_t *prefix, ngx_http_thim_origin_desc_t *origin);
static ngx_int_t ngx_http_thim_check_note(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *olcf);
static ngx_int_t ngx_http_thim_check_find(ngx_http_core_loc_conf_t *pclcf,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **loc);
static ngx_int_t ngx_http_thim_check_find_static(
    ngx_http_location_tree_node_t *node, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **loc);
static ngx_uint_t ngx_http_thim_check_is_thim(ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_thim_check_refresh(ngx_conf_t *cf,
    ngx_http_core_main_conf_t *cmcf, ngx_http_thim_main_conf_t *tmcf);
static char *ngx_http_thim_check_directive(ngx_http_thim_loc_conf_t *tlcf);


static ngx_http_thim_origin_desc_t  ngx_http_thim_origin_intel =
    { "Intel PCS", "/sgx/certification/v4/tcb" };
static ngx_http_thim_origin_desc_t  ngx_http_thim_origin_intel_root =
    { "Intel's root CRL host", "/IntelSGXRootCA.der" };
static ngx_http_thim_origin_desc_t  ngx_http_thim_origin_amd =
    { "AMD KDS", "/vcek/v1/Milan/cert_chain" };


ngx_int_t
ngx_http_thim_conf_check(ngx_conf_t *cf)
{
    ngx_uint_t                    s;
    ngx_module_t                **m;
    ngx_http_thim_check_t         ck;
    ngx_http_core_srv_conf_t    **cscfp;
    ngx_http_core_loc_conf_t    **clcfp;
    ngx_http_core_main_conf_t    *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    ck.cf = cf;
    ck.tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thim_module);
    ck.proxy = -1;

    /* by name: nginx may be built without the proxy module */
    for (m = cf->cycle->modules; *m; m++) {
        if (ngx_strcmp((*m)->name, "ngx_http_proxy_module") == 0) {
            ck.proxy = (*m)->ctx_index;
            break;
        }
    }

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        ck.server = cscfp[s]->ctx->loc_conf[ngx_http_core_module.ctx_index];

        if (ngx_http_thim_check_location(&ck, ck.server) != NGX_OK) {
            return NGX_ERROR;
        }

        for (clcfp = cscfp[s]->named_locations; clcfp && *clcfp; clcfp++) {
            if (ngx_http_thim_check_location(&ck, *clcfp) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return ngx_http_thim_check_refresh(cf, cmcf, ck.tmcf);
}


/* the first worker says once what the configuration test could not check */

void
ngx_http_thim_conf_check_notes(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_thim_note_t       *note;
    ngx_http_thim_main_conf_t  *tmcf;

    if (ngx_worker != 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_thim_module);

    if (tmcf == NULL || tmcf->notes == NULL) {
        return;
    }

    note = tmcf->notes->elts;

    for (i = 0; i < tmcf->notes->nelts; i++) {
        ngx_log_error(note[i].level, cycle->log, 0, "thim: %V", &note[i].text);
    }
}


/* every location of a static tree: exact, inclusive, and their children */

static ngx_int_t
ngx_http_thim_check_tree(ngx_http_thim_check_t *ck,
    ngx_http_location_tree_node_t *node)
{
    if (node == NULL) {
        return NGX_OK;
    }

    if ((node->exact
         && ngx_http_thim_check_location(ck, node->exact) != NGX_OK)
        || (node->inclusive
            && ngx_http_thim_check_location(ck, node->inclusive) != NGX_OK)
        || ngx_http_thim_check_tree(ck, node->left) != NGX_OK
        || ngx_http_thim_check_tree(ck, node->right) != NGX_OK
        || ngx_http_thim_check_tree(ck, node->tree) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one location, then its nested ones */

static ngx_int_t
ngx_http_thim_check_location(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_thim_loc_conf_t   *tlcf;
    ngx_http_core_loc_conf_t  **clcfp;

    if (clcf != ck->server && ngx_http_thim_check_is_thim(clcf)) {
        tlcf = clcf->loc_conf[ngx_http_thim_module.ctx_index];

        if (ngx_http_thim_check_route(ck, clcf, tlcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_thim_check_tree(ck, clcf->static_locations) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_PCRE)
    for (clcfp = clcf->regex_locations; clcfp && *clcfp; clcfp++) {
        if (ngx_http_thim_check_location(ck, *clcfp) != NGX_OK) {
            return NGX_ERROR;
        }
    }
#else
    (void) clcfp;
#endif

    return NGX_OK;
}


/* the origins a thim location fetches from must be there */

static ngx_int_t
ngx_http_thim_check_route(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf, ngx_http_thim_loc_conf_t *tlcf)
{
    ngx_http_thim_zone_t      *zone;
    ngx_http_thim_persist_t   *ps;
    ngx_http_thim_loc_conf_t  *intel, *amd;

    intel = (tlcf->intel) ? tlcf : NULL;
    amd = (tlcf->amd || tlcf->amd_azure) ? tlcf : NULL;

    if (clcf->handler == ngx_http_thim_refresh_handler) {

        if (tlcf->zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, ck->cf->log, 0,
                          "\"thim_refresh\" in location \"%V\" (%V:%ui) "
                          "needs a zone: declare one with "
                          "\"thim_cache_zone\" and, if there are several, "
                          "choose it with \"thim_cache\"",
                          &clcf->name, &tlcf->handler_file,
                          tlcf->handler_line);
            return NGX_ERROR;
        }

        /* it refreshes with the zone's registered configurations */
        zone = tlcf->zone->data;
        ps = zone ? zone->persist : NULL;
        intel = ps ? ps->intel : NULL;
        amd = ps ? ps->amd : NULL;
    }

    if (intel
        && (ngx_http_thim_check_origin(ck, clcf, tlcf, &intel->intel_origin,
                                       &ngx_http_thim_origin_intel)
            != NGX_OK
            || ngx_http_thim_check_origin(ck, clcf, tlcf,
                                          &intel->intel_root_origin,
                                          &ngx_http_thim_origin_intel_root)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (amd
        && ngx_http_thim_check_origin(ck, clcf, tlcf, &amd->amd_origin,
                                      &ngx_http_thim_origin_amd)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The location nginx gives a subrequest to prefix + probe must be an
 * internal one (else clients could reach the origin through it, with no
 * validation) and not a thim location (which would answer itself).
 */

static ngx_int_t
ngx_http_thim_check_origin(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *clcf, ngx_http_thim_loc_conf_t *tlcf,
    ngx_str_t *prefix, ngx_http_thim_origin_desc_t *origin)
{
    u_char                    *p;
    ngx_str_t                  uri, taken;
    ngx_http_core_loc_conf_t  *olcf;
    u_char                     buf[NGX_MAX_ERROR_STR];

    uri.len = prefix->len + ngx_strlen(origin->probe);
    uri.data = ngx_pnalloc(ck->cf->temp_pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, prefix->data, prefix->len);
    ngx_memcpy(p, origin->probe, ngx_strlen(origin->probe));

    olcf = ck->server;
    (void) ngx_http_thim_check_find(ck->server, &uri, &olcf);

    if (olcf != ck->server && olcf->internal
        && !ngx_http_thim_check_is_thim(olcf))
    {
        return ngx_http_thim_check_note(ck, olcf);
    }

    if (olcf == ck->server) {
        ngx_str_set(&taken, "it has none");

    } else {
        taken.len = ngx_snprintf(buf, sizeof(buf),
                        "location \"%V\" takes it, %s", &olcf->name,
                        ngx_http_thim_check_is_thim(olcf)
                        ? "a thim location, which would answer itself"
                        : "which is not internal: clients could reach the "
                          "origin through it")
                    - buf;
        taken.data = buf;
    }

    ngx_log_error(NGX_LOG_EMERG, ck->cf->log, 0,
                  "\"%s\" in location \"%V\" (%V:%ui) fetches from %s "
                  "through \"%V/\", and its server has no internal location "
                  "for it (%V): add \"include snippets/thim_routes.conf;\" "
                  "to the server, or an internal "
                  "\"location %V/ { internal; proxy_pass ...; }\" "
                  "(conf/nginx/thim_routes.conf)",
                  ngx_http_thim_check_directive(tlcf), &clcf->name,
                  &tlcf->handler_file, tlcf->handler_line, origin->name,
                  prefix, &taken, prefix);

    return NGX_ERROR;
}


/*
 * An internal origin location that proxies to an upstream{} (or a host)
 * fixed in the configuration was checked by nginx itself, which resolved
 * it.  Anything else is only known at run time: said once, by the first
 * worker.
 */

static ngx_int_t
ngx_http_thim_check_note(ngx_http_thim_check_t *ck,
    ngx_http_core_loc_conf_t *olcf)
{
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_thim_note_t       *note;
    ngx_http_upstream_conf_t   *ucf;

    /* the proxy module's location configuration starts with its upstream's */
    ucf = (ck->proxy >= 0) ? olcf->loc_conf[ck->proxy] : NULL;

    if (olcf->handler && ucf && ucf->upstream) {
        return NGX_OK;
    }

    if (ck->tmcf->notes == NULL) {
        ck->tmcf->notes = ngx_array_create(ck->cf->pool, 2,
                                           sizeof(ngx_http_thim_note_t));
        if (ck->tmcf->notes == NULL) {
            return NGX_ERROR;
        }
    }

    /* once per origin location, however many thim locations use it */
    note = ck->tmcf->notes->elts;

    for (i = 0; i < ck->tmcf->notes->nelts; i++) {
        if (note[i].location == olcf) {
            return NGX_OK;
        }
    }

    note = ngx_array_push(ck->tmcf->notes);
    if (note == NULL) {
        return NGX_ERROR;
    }

    note->location = olcf;

    len = sizeof("origin location \"\" has no proxy_pass: it answers "
                 "origin requests itself (static files, return); nginx -t "
                 "could not check that it reaches the origin, nor can "
                 "ngx_thim before a fetch") + olcf->name.len + 256;

    note->text.data = ngx_pnalloc(ck->cf->pool, len);
    if (note->text.data == NULL) {
        return NGX_ERROR;
    }

    if (olcf->handler == NULL) {
        note->level = NGX_LOG_WARN;
        note->text.len = ngx_snprintf(note->text.data, len,
                             "origin location \"%V\" has no proxy_pass: it "
                             "answers origin requests itself (static files, "
                             "return); fine for an offline mirror, not for "
                             "an origin", &olcf->name)
                         - note->text.data;
        return NGX_OK;
    }

    note->level = (olcf->resolver == NULL
                   || olcf->resolver->connections.nelts == 0)
                  ? NGX_LOG_WARN : NGX_LOG_NOTICE;

    note->text.len = ngx_snprintf(note->text.data, len,
                         "origin location \"%V\" does not proxy_pass to an "
                         "address fixed in the configuration (variables, or "
                         "another handler): where it goes is known per "
                         "request only, nginx -t could not check it%s",
                         &olcf->name,
                         note->level == NGX_LOG_WARN
                         ? "; there is no \"resolver\" for it: a name must "
                           "be an upstream{}" : "")
                     - note->text.data;

    return NGX_OK;
}


/*
 * The location nginx chooses for a URI in a server, by
 * ngx_http_core_find_location()'s rules: *loc starts as the server's own
 * and is left there when no location matches.
 */

static ngx_int_t
ngx_http_thim_check_find(ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **loc)
{
    ngx_int_t                   rc;
    ngx_uint_t                  noregex;
#if (NGX_PCRE)
    ngx_http_core_loc_conf_t  **clcfp;
#endif

    noregex = 0;

    rc = ngx_http_thim_check_find_static(pclcf->static_locations, uri, loc);

    if (rc == NGX_AGAIN) {
        /* an inclusive match: look up its nested locations */
        noregex = (*loc)->noregex;
        rc = ngx_http_thim_check_find(*loc, uri, loc);
    }

    if (rc == NGX_OK) {
        return rc;
    }

#if (NGX_PCRE)
    for (clcfp = pclcf->regex_locations; !noregex && clcfp && *clcfp;
         clcfp++)
    {
        if (ngx_regex_exec((*clcfp)->regex->regex, uri, NULL, 0) >= 0) {
            *loc = *clcfp;
            (void) ngx_http_thim_check_find(*clcfp, uri, loc);
            return NGX_OK;
        }
    }
#endif

    return rc;
}


/*
 * ngx_http_core_find_static_location() on a URI: NGX_OK exact match,
 * NGX_AGAIN inclusive match, NGX_DECLINED none.  An auto_redirect match
 * (a URI one "/" short of a location) is not looked for: origin URIs are
 * longer than their prefix.
 */

static ngx_int_t
ngx_http_thim_check_find_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **loc)
{
    u_char     *p;
    size_t      len, n;
    ngx_int_t   cmp, rv;

    len = uri->len;
    p = uri->data;
    rv = NGX_DECLINED;

    while (node) {
        n = (len <= (size_t) node->len) ? len : node->len;

        cmp = ngx_filename_cmp(p, node->name, n);

        if (cmp != 0) {
            node = (cmp < 0) ? node->left : node->right;
            continue;
        }

        if (len > (size_t) node->len) {

            if (node->inclusive) {
                *loc = node->inclusive;
                rv = NGX_AGAIN;
                node = node->tree;
                p += n;
                len -= n;
                continue;
            }

            node = node->right;
            continue;
        }

        if (len == (size_t) node->len) {
            *loc = node->exact ? node->exact : node->inclusive;
            return node->exact ? NGX_OK : NGX_AGAIN;
        }

        node = node->left;
    }

    return rv;
}


static ngx_uint_t
ngx_http_thim_check_is_thim(ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_thim_loc_conf_t  *tlcf;

    tlcf = clcf->loc_conf[ngx_http_thim_module.ctx_index];

    return tlcf->intel || tlcf->amd || tlcf->amd_azure
           || clcf->handler == ngx_http_thim_refresh_handler;
}


/* the directive of a thim location that fetches */

static char *
ngx_http_thim_check_directive(ngx_http_thim_loc_conf_t *tlcf)
{
    return tlcf->intel ? "thim_intel"
           : tlcf->amd ? "thim_amd"
           : tlcf->amd_azure ? "thim_amd_azure" : "thim_refresh";
}


/* a zone's refresh= must reach a thim_refresh location at its URI */

static ngx_int_t
ngx_http_thim_check_refresh(ngx_conf_t *cf, ngx_http_core_main_conf_t *cmcf,
    ngx_http_thim_main_conf_t *tmcf)
{
    u_char                     *q;
    ngx_str_t                   uri;
    ngx_uint_t                  i, s, found;
    ngx_shm_zone_t            **zones;
    ngx_http_thim_zone_t       *zone;
    ngx_http_thim_persist_t    *ps;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_loc_conf_t   *server, *clcf;

    zones = tmcf->zones.elts;
    cscfp = cmcf->servers.elts;

    for (i = 0; i < tmcf->zones.nelts; i++) {
        zone = zones[i]->data;
        ps = zone->persist;

        if (ps == NULL || ps->refresh_addr.sockaddr == NULL) {
            continue;
        }

        uri = ps->refresh_uri;
        q = ngx_strlchr(uri.data, uri.data + uri.len, '?');

        if (q) {
            uri.len = q - uri.data;
        }

        found = 0;

        for (s = 0; s < cmcf->servers.nelts && !found; s++) {
            server = cscfp[s]->ctx->loc_conf[ngx_http_core_module.ctx_index];
            clcf = server;
            (void) ngx_http_thim_check_find(server, &uri, &clcf);

            found = (clcf != server
                     && clcf->handler == ngx_http_thim_refresh_handler);
        }

        if (!found) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"refresh=\" of zone \"%V\" sends to \"%V\" at "
                          "%V, and no server has a \"thim_refresh\" location "
                          "there: add \"location = %V { thim_refresh; allow "
                          "127.0.0.1; deny all; }\" and \"listen %V;\" to "
                          "the server with the thim locations",
                          &zone->name, &uri, &ps->refresh_addr.name, &uri,
                          &ps->refresh_addr.name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
