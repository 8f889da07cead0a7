
/*
 * thimctl: what "fetch" asks for, as ngx_thim itself would ask
 * (PROTOCOLS.md 4; ngx_thim_intel.c _set_fetch and _tcb_query,
 * ngx_thim_amd.c): the same paths, the same canonical queries (lower-case
 * hex, "fmspc=...&update=standard", "ca=processor&encoding=der", KDS's
 * SPL order), so that each bundle entry is the very request, and cache
 * key, of the module.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thimctl.h"


#define THIMCTL_MAX_ITEMS       4096

#define THIMCTL_SGX             "/sgx/certification/v4"
#define THIMCTL_TDX             "/tdx/certification/v4"

#define THIMCTL_TCB_CHAIN       "TCB-Info-Issuer-Chain"
#define THIMCTL_TCB_V3_CHAIN    "SGX-TCB-Info-Issuer-Chain"
#define THIMCTL_ID_CHAIN        "SGX-Enclave-Identity-Issuer-Chain"
#define THIMCTL_EVAL_CHAIN      "TCB-Evaluation-Data-Numbers-Issuer-Chain"
#define THIMCTL_CRL_CHAIN       "SGX-PCK-CRL-Issuer-Chain"
#define THIMCTL_PCK_CHAIN       "SGX-PCK-Certificate-Issuer-Chain"


typedef struct {
    thimctl_item_t            *items;
    size_t                     n;
    thimctl_plan_opts_t       *o;
    char                      *error;
} thimctl_plan_t;


/* a signed-JSON collateral of Intel's: route, file, what it must be */
typedef struct {
    char                      *path;
    char                      *file;
    thimctl_kind_e             kind;
    char                      *key;
    char                      *id;
    int                        version;
    char                      *chain;
} thimctl_json_route_t;


static thimctl_json_route_t  thimctl_common_json[] = {
    { THIMCTL_SGX "/qe/identity", "sgx-v4-qe-identity",
      THIMCTL_KIND_IDENTITY, "enclaveIdentity", "QE", 2, THIMCTL_ID_CHAIN },
    { THIMCTL_SGX "/qve/identity", "sgx-v4-qve-identity",
      THIMCTL_KIND_IDENTITY, "enclaveIdentity", "QVE", 2, THIMCTL_ID_CHAIN },
    { THIMCTL_TDX "/qe/identity", "tdx-v4-qe-identity",
      THIMCTL_KIND_IDENTITY, "enclaveIdentity", "TD_QE", 0,
      THIMCTL_ID_CHAIN },
    { NULL, NULL, 0, NULL, NULL, 0, NULL }
};

static thimctl_json_route_t  thimctl_eval_numbers[] = {
    { THIMCTL_SGX "/tcbevaluationdatanumbers",
      "sgx-v4-tcbevaluationdatanumbers", THIMCTL_KIND_EVAL_NUMBERS,
      "tcbEvaluationDataNumbers", "SGX", 1, THIMCTL_EVAL_CHAIN },
    { THIMCTL_TDX "/tcbevaluationdatanumbers",
      "tdx-v4-tcbevaluationdatanumbers", THIMCTL_KIND_EVAL_NUMBERS,
      "tcbEvaluationDataNumbers", "TDX", 1, THIMCTL_EVAL_CHAIN },
    { NULL, NULL, 0, NULL, NULL, 0, NULL }
};

static thimctl_json_route_t  thimctl_tcb_routes[] = {
    { THIMCTL_SGX "/tcb", "sgx-v4-tcb", THIMCTL_KIND_TCB, "tcbInfo", "SGX",
      3, THIMCTL_TCB_CHAIN },
    { THIMCTL_TDX "/tcb", "tdx-v4-tcb", THIMCTL_KIND_TCB, "tcbInfo", "TDX",
      3, THIMCTL_TCB_CHAIN },
    { "/sgx/certification/v3/tcb", "sgx-v3-tcb", THIMCTL_KIND_TCB,
      "tcbInfo", NULL, 2, THIMCTL_TCB_V3_CHAIN },
    { NULL, NULL, 0, NULL, NULL, 0, NULL }
};

static char  *thimctl_updates[] = { "standard", "early", NULL };


/* the PCK CAs, as ca= names them and as their CRL's issuer is called */
typedef struct {
    char                      *name;
    char                      *cn;
} thimctl_pck_ca_t;


static thimctl_pck_ca_t  thimctl_pck_cas[] = {
    { "processor", "Intel SGX PCK Processor CA" },
    { "platform", "Intel SGX PCK Platform CA" },
    { NULL, NULL }
};


static thimctl_item_t *thimctl_plan_add(thimctl_plan_t *p, char *origin,
    char *path, char *query, char *file);
static int thimctl_plan_intel(thimctl_plan_t *p);
static int thimctl_plan_json(thimctl_plan_t *p, thimctl_json_route_t *r,
    char *fmspc, char *update);
static int thimctl_plan_fmspcs(thimctl_plan_t *p);
static int thimctl_plan_pckids(thimctl_plan_t *p);
static int thimctl_plan_pckid_seen(thimctl_plan_t *p, size_t first,
    thimctl_item_t *it, size_t lineno);
static int thimctl_plan_products(thimctl_plan_t *p);
static int thimctl_plan_vceks(thimctl_plan_t *p);
static char *thimctl_strf(const char *fmt, ...);


int
thimctl_plan(thimctl_plan_opts_t *o, thimctl_item_t **items, size_t *n,
    char **error)
{
    thimctl_plan_t  p;

    p.items = calloc(THIMCTL_MAX_ITEMS, sizeof(thimctl_item_t));
    p.n = 0;
    p.o = o;
    p.error = "out of memory";

    if (p.items == NULL) {
        *error = p.error;
        return -1;
    }

    if ((!o->no_intel && thimctl_plan_intel(&p) != 0)
        || thimctl_plan_fmspcs(&p) != 0
        || thimctl_plan_pckids(&p) != 0
        || thimctl_plan_products(&p) != 0
        || thimctl_plan_vceks(&p) != 0)
    {
        thimctl_plan_free(p.items, p.n);
        *error = p.error;
        return -1;
    }

    *items = p.items;
    *n = p.n;

    return 0;
}


void
thimctl_plan_free(thimctl_item_t *items, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(items[i].entry.query);
        free(items[i].entry.file);
        free(items[i].entry.qeid);
        free(items[i].path_alloc);
    }

    free(items);
}


/*
 * One request: origin "intel", "intel-root" or "amd"; its base URL is the
 * origin's, or, with --thim, the THIM's (same paths, but the root CA CRL
 * comes as hex from rootcacrl).  query and file are taken over.
 */

static thimctl_item_t *
thimctl_plan_add(thimctl_plan_t *p, char *origin, char *path, char *query,
    char *file)
{
    thimctl_item_t  *it;

    if (file == NULL || p->n == THIMCTL_MAX_ITEMS) {
        free(query);
        free(file);
        p->error = (file == NULL) ? "out of memory" : "too many items";
        return NULL;
    }

    it = &p->items[p->n++];

    it->entry.origin = origin;
    it->entry.path = path;
    it->entry.query = query;
    it->entry.file = file;
    it->url_path = path;

    if (strcmp(origin, "amd") == 0) {
        it->base = p->o->thim ? p->o->thim : p->o->amd;

    } else if (strcmp(origin, "intel-root") == 0) {
        it->base = p->o->thim ? p->o->thim : p->o->intel_root;

        if (p->o->thim) {
            it->url_path = THIMCTL_SGX "/rootcacrl";
            it->hex_body = 1;
        }

    } else {
        it->base = p->o->thim ? p->o->thim : p->o->intel;
    }

    return it;
}


/* the collateral every SGX/TDX verifier needs, whatever its platform */

static int
thimctl_plan_intel(thimctl_plan_t *p)
{
    char                 **u;
    thimctl_item_t        *it;
    thimctl_pck_ca_t      *ca;
    thimctl_json_route_t  *r;

    for (r = thimctl_common_json; r->path; r++) {
        for (u = thimctl_updates; *u; u++) {
            if (thimctl_plan_json(p, r, NULL, *u) != 0) {
                return -1;
            }
        }
    }

    for (r = thimctl_eval_numbers; r->path; r++) {
        if (thimctl_plan_json(p, r, NULL, NULL) != 0) {
            return -1;
        }
    }

    for (ca = thimctl_pck_cas; ca->name; ca++) {
        it = thimctl_plan_add(p, "intel", THIMCTL_SGX "/pckcrl",
                              thimctl_strf("ca=%s&encoding=der", ca->name),
                              thimctl_strf("intel/pckcrl-%s.der", ca->name));
        if (it == NULL || it->entry.query == NULL) {
            return -1;
        }

        it->expect.kind = THIMCTL_KIND_PCK_CRL;
        it->expect.chain_header = THIMCTL_CRL_CHAIN;
        it->expect.ca = ca->cn;
    }

    it = thimctl_plan_add(p, "intel-root", "/IntelSGXRootCA.der", NULL,
                          strdup("intel-root/IntelSGXRootCA.der"));
    if (it == NULL) {
        return -1;
    }

    it->expect.kind = THIMCTL_KIND_ROOT_CRL;

    return 0;
}


/*
 * A signed JSON collateral; the query is the module's canonical one:
 * "fmspc=<lower>" first, then "update=<standard|early>" (v4 only).
 */

static int
thimctl_plan_json(thimctl_plan_t *p, thimctl_json_route_t *r, char *fmspc,
    char *update)
{
    char            *query, *file;
    thimctl_item_t  *it;

    if (fmspc && update) {
        query = thimctl_strf("fmspc=%s&update=%s", fmspc, update);
        file = thimctl_strf("intel/%s-%s-%s.json", r->file, fmspc, update);

    } else if (fmspc) {
        query = thimctl_strf("fmspc=%s", fmspc);
        file = thimctl_strf("intel/%s-%s.json", r->file, fmspc);

    } else if (update) {
        query = thimctl_strf("update=%s", update);
        file = thimctl_strf("intel/%s-%s.json", r->file, update);

    } else {
        query = NULL;
        file = thimctl_strf("intel/%s.json", r->file);
    }

    if ((fmspc || update) && query == NULL) {
        free(file);
        return -1;
    }

    it = thimctl_plan_add(p, "intel", r->path, query, file);
    if (it == NULL) {
        return -1;
    }

    it->expect.kind = r->kind;
    it->expect.json_key = r->key;
    it->expect.id = r->id;
    it->expect.version = r->version;
    it->expect.chain_header = r->chain;

    if (fmspc) {
        memcpy(it->expect.fmspc, fmspc, 13);
    }

    /* TDX collateral for an SGX-only FMSPC: KDS-like absence, not failure */
    it->optional = (r->id && strcmp(r->id, "TDX") == 0 && fmspc);

    return 0;
}


/* --fmspc: SGX v4 tcb standard and early; TDX with --tdx, v3 with --v3 */

static int
thimctl_plan_fmspcs(thimctl_plan_t *p)
{
    int                    rc;
    char                  *list, *s, fmspc[13], **u;
    thimctl_json_route_t  *r;

    if (p->o->fmspcs == NULL) {
        return 0;
    }

    list = p->o->fmspcs;

    while ((s = thimctl_list_next(&list)) != NULL) {
        if (thimctl_fmspc(s, fmspc, &p->error) != 0) {
            return -1;
        }

        for (r = thimctl_tcb_routes; r->path; r++) {
            if ((r->id == NULL && !p->o->v3)
                || (r->id && strcmp(r->id, "TDX") == 0 && !p->o->tdx))
            {
                continue;
            }

            if (r->id == NULL) {
                rc = thimctl_plan_json(p, r, fmspc, NULL);

            } else {
                for (rc = 0, u = thimctl_updates; *u && rc == 0; u++) {
                    rc = thimctl_plan_json(p, r, fmspc, *u);
                }
            }

            if (rc != 0) {
                return -1;
            }
        }
    }

    return 0;
}


/*
 * --pckid-csv: one pckcerts request per platform (a repeated row asks
 * nothing new); the API key goes with these requests only.
 */

static int
thimctl_plan_pckids(thimctl_plan_t *p)
{
    int               rc;
    FILE             *f;
    char              line[2048];
    size_t            first, lineno;
    thimctl_item_t   *it;
    thimctl_pckid_t   id;

    if (p->o->pckid_csv == NULL) {
        return 0;
    }

    f = fopen(p->o->pckid_csv, "r");
    if (f == NULL) {
        p->error = thimctl_strf("cannot read %s: %s", p->o->pckid_csv,
                                strerror(errno));
        return -1;
    }

    first = p->n;
    lineno = 0;
    rc = 0;

    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;

        rc = thimctl_pckid_line(line, &id, &p->error);

        if (rc == 1) {
            rc = 0;
            continue;
        }

        if (rc != 0) {
            p->error = thimctl_strf("%s line %zu: %s", p->o->pckid_csv,
                                    lineno, p->error);
            break;
        }

        it = thimctl_plan_add(p, "intel", THIMCTL_SGX "/pckcerts",
                              thimctl_strf("encrypted_ppid=%s&pceid=%s",
                                           id.encrypted_ppid, id.pceid),
                              thimctl_strf("intel/pckcerts-%s.json",
                                           id.qeid));
        if (it == NULL || it->entry.query == NULL) {
            rc = -1;
            break;
        }

        if (thimctl_plan_pckid_seen(p, first, it, lineno) != 0) {
            continue;
        }

        it->entry.qeid = strdup(id.qeid);
        it->expect.kind = THIMCTL_KIND_PCKCERTS;
        it->expect.chain_header = THIMCTL_PCK_CHAIN;
        it->secret = 1;

        if (it->entry.qeid == NULL) {
            rc = -1;
        }
    }

    fclose(f);

    return rc;
}


/*
 * A row asking what an earlier one asked is dropped (1); a platform
 * whose QE ID another one shares gets its line number in its file name.
 */

static int
thimctl_plan_pckid_seen(thimctl_plan_t *p, size_t first, thimctl_item_t *it,
    size_t lineno)
{
    char    *file;
    size_t   i;

    for (i = first; i < p->n - 1; i++) {
        if (strcmp(p->items[i].entry.query, it->entry.query) == 0) {
            free(it->entry.query);
            free(it->entry.file);
            memset(it, 0, sizeof(thimctl_item_t));
            p->n--;
            return 1;
        }
    }

    for (i = first; i < p->n - 1; i++) {
        if (strcmp(p->items[i].entry.file, it->entry.file) == 0) {
            file = thimctl_strf("intel/pckcerts-%s-%zu.json",
                                p->items[i].entry.qeid, lineno);
            if (file) {
                free(it->entry.file);
                it->entry.file = file;
            }

            break;
        }
    }

    return 0;
}


/* --amd-product: VCEK and VLEK cert_chain and CRL; KDS lacks some (404) */

static int
thimctl_plan_products(thimctl_plan_t *p)
{
    int              crl;
    char            *list, *s, name[8], *path;
    char            *families[] = { "vcek", "vlek", NULL };
    char            *leaves[] = { "cert_chain", "crl", NULL };
    char           **fam, **leaf;
    unsigned         index, turin;
    thimctl_item_t  *it;

    if (p->o->products == NULL) {
        return 0;
    }

    list = p->o->products;

    while ((s = thimctl_list_next(&list)) != NULL) {
        if (thimctl_product(s, name, &index, &turin) != 0) {
            p->error = thimctl_strf("unknown AMD product \"%s\" (Milan, "
                                    "Genoa or Turin)", s);
            return -1;
        }

        for (leaf = leaves; *leaf; leaf++) {
            for (fam = families; *fam; fam++) {
                path = thimctl_strf("/%s/v1/%s/%s", *fam, name, *leaf);

                crl = (strcmp(*leaf, "crl") == 0);

                it = thimctl_plan_add(p, "amd", path, NULL,
                                      thimctl_strf("amd/%s-%s-%s.%s", name,
                                                   *fam, *leaf,
                                                   crl ? "der" : "pem"));
                if (path == NULL || it == NULL) {
                    free(path);
                    return -1;
                }

                it->path_alloc = path;
                it->expect.kind = crl ? THIMCTL_KIND_AMD_CRL
                                      : THIMCTL_KIND_AMD_CHAIN;
                it->expect.product = index;
                it->expect.vlek = (*fam)[1] == 'l';
                it->optional = 1;
            }
        }
    }

    return 0;
}


/* --vcek PRODUCT:HWID:TCBM, repeated */

static int
thimctl_plan_vceks(thimctl_plan_t *p)
{
    size_t           i;
    char            *path, *reason;
    thimctl_item_t  *it;
    thimctl_vcek_t   v;

    for (i = 0; i < p->o->nvceks; i++) {
        if (thimctl_vcek_arg(p->o->vceks[i], &v, &reason) != 0) {
            p->error = thimctl_strf("--vcek %s: %s", p->o->vceks[i], reason);
            return -1;
        }

        path = thimctl_strf("/vcek/v1/%s/%s", v.product, v.hwid);

        it = thimctl_plan_add(p, "amd", path, strdup(v.query),
                              thimctl_strf("amd/%s-vcek-%s-%s.der",
                                           v.product, v.hwid, v.tcbm));
        if (path == NULL || it == NULL || it->entry.query == NULL) {
            free(path);
            return -1;
        }

        it->path_alloc = path;
        it->expect.kind = THIMCTL_KIND_VCEK;
        it->expect.product = v.product_index;
        it->expect.vcek = v;
    }

    return 0;
}


static char *
thimctl_strf(const char *fmt, ...)
{
    char     *s;
    va_list   args;

    va_start(args, fmt);

    if (vasprintf(&s, fmt, args) < 0) {
        s = NULL;
    }

    va_end(args);

    return s;
}
