
/*
 * thimctl fetch: every planned request is sent, its answer verified as
 * the module would verify it, and only then written into the bundle.  An
 * answer that fails is reported and left out: a bundle never carries
 * what ngx_thim would refuse, and one bad answer never costs the rest.
 *
 * Progress goes to stderr: a bar redrawn in place on a terminal, one line
 * per item otherwise (logs, CI), and always a line for each problem.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "thimctl.h"


#define THIMCTL_BAR_WIDTH       30


typedef struct {
    size_t                     total;
    size_t                     done;
    size_t                     bundled;
    size_t                     failed;
    size_t                     skipped;
    int                        tty;
} thimctl_progress_t;


static int thimctl_fetch_ready(thimctl_common_t *c, thimctl_plan_opts_t *o,
    char *api_key, thimctl_item_t **items, size_t *n,
    thimctl_trust_t *trust);
static char *thimctl_key_header(char *api_key);
static void thimctl_key_free(char *h);
static void thimctl_fetch_item(thimctl_common_t *c, thimctl_trust_t *trust,
    thimctl_bundle_t *b, thimctl_item_t *it, char *key_header,
    thimctl_progress_t *pr);
static char *thimctl_fetch_url(thimctl_item_t *it);
static void thimctl_progress(thimctl_progress_t *pr, thimctl_item_t *it,
    char *label, char *outcome, char *detail);


int
thimctl_fetch(thimctl_common_t *c, thimctl_plan_opts_t *o, char *dir,
    char *api_key)
{
    int                  rc;
    char                *error, *key_header;
    size_t               i, n;
    thimctl_item_t      *items;
    thimctl_trust_t      trust;
    thimctl_bundle_t     b;
    thimctl_progress_t   pr;

    rc = thimctl_fetch_ready(c, o, api_key, &items, &n, &trust);
    if (rc != THIMCTL_EXIT_OK) {
        return rc;
    }

    key_header = thimctl_key_header(api_key);

    if ((api_key && key_header == NULL)
        || thimctl_bundle_open(&b, dir, &error) != 0)
    {
        fprintf(stderr, "thimctl fetch: cannot make %s: %s\n", dir,
                (api_key && key_header == NULL) ? "out of memory" : error);
        thimctl_key_free(key_header);
        thimctl_trust_free(&trust);
        thimctl_plan_free(items, n);
        return THIMCTL_EXIT_FAILED;
    }

    memset(&pr, 0, sizeof(pr));
    pr.total = n;
    pr.tty = isatty(STDERR_FILENO);

    for (i = 0; i < n; i++) {
        thimctl_fetch_item(c, &trust, &b, &items[i], key_header, &pr);
    }

    thimctl_key_free(key_header);

    rc = pr.failed ? THIMCTL_EXIT_FAILED : THIMCTL_EXIT_OK;

    if (thimctl_bundle_close(&b, &error) != 0) {
        fprintf(stderr, "thimctl fetch: cannot write %s/index.json: %s\n",
                dir, error);
        rc = THIMCTL_EXIT_FAILED;
    }

    fprintf(stderr, "thimctl fetch: %zu of %zu bundled in %s, %zu failed, "
                    "%zu not published\n",
            pr.bundled, n, dir, pr.failed, pr.skipped);

    thimctl_trust_free(&trust);
    thimctl_plan_free(items, n);

    return rc;
}


/* the plan, the key it may need, the trust anchors; else a usage error */

static int
thimctl_fetch_ready(thimctl_common_t *c, thimctl_plan_opts_t *o,
    char *api_key, thimctl_item_t **items, size_t *n, thimctl_trust_t *trust)
{
    char    *error;
    size_t   i;

    if (thimctl_plan(o, items, n, &error) != 0) {
        fprintf(stderr, "thimctl fetch: %s\n", error);
        return THIMCTL_EXIT_USAGE;
    }

    error = NULL;

    if (*n == 0) {
        error = "nothing to fetch (--no-intel and no --fmspc, --pckid-csv, "
                "--amd-product or --vcek)";
    }

    for (i = 0; i < *n && error == NULL; i++) {
        if ((*items)[i].secret && api_key == NULL) {
            error = "pckcerts need an Intel PCS API key: set "
                    "THIM_INTEL_API_KEY or use --api-key-file FILE";
        }
    }

    memset(trust, 0, sizeof(thimctl_trust_t));

    if (error == NULL
        && thimctl_trust_load(trust, c->intel_root_ca, c->amd_trust, &error)
           != 0)
    {
        fprintf(stderr, "thimctl fetch: %s: %s\n", c->intel_root_ca, error);
        thimctl_plan_free(*items, *n);
        return THIMCTL_EXIT_USAGE;
    }

    if (error) {
        fprintf(stderr, "thimctl fetch: %s\n", error);
        thimctl_plan_free(*items, *n);
        return THIMCTL_EXIT_USAGE;
    }

    return THIMCTL_EXIT_OK;
}


/* the key lives in this header line only, and is wiped after use */

static char *
thimctl_key_header(char *api_key)
{
    char    *h;
    size_t   len;

    if (api_key == NULL) {
        return NULL;
    }

    len = sizeof("Ocp-Apim-Subscription-Key: ") + strlen(api_key);
    h = malloc(len);

    if (h) {
        snprintf(h, len, "Ocp-Apim-Subscription-Key: %s", api_key);
    }

    return h;
}


static void
thimctl_key_free(char *h)
{
    if (h) {
        OPENSSL_cleanse(h, strlen(h));
        free(h);
    }
}


static void
thimctl_fetch_item(thimctl_common_t *c, thimctl_trust_t *trust,
    thimctl_bundle_t *b, thimctl_item_t *it, char *key_header,
    thimctl_progress_t *pr)
{
    int                 changed;
    char               *url, *error, detail[600];
    thimctl_verdict_t   v;
    thimctl_response_t  res;

    memset(&res, 0, sizeof(res));

    url = thimctl_fetch_url(it);
    if (url == NULL) {
        pr->failed++;
        thimctl_progress(pr, it, it->entry.file, "FAIL", "out of memory");
        return;
    }

    if (thimctl_http_get(&c->http, url, it->secret ? key_header : NULL, NULL,
                         &res)
        != 0)
    {
        pr->failed++;
        thimctl_progress(pr, it, url, "FAIL", res.error);
        goto done;
    }

    if (res.status == 404 && it->optional) {
        pr->skipped++;
        thimctl_progress(pr, it, url, "skip", "404: not published, left out");
        goto done;
    }

    if (res.status != 200) {
        pr->failed++;
        snprintf(detail, sizeof(detail), "HTTP %ld%s", res.status,
                 res.status == 401
                 ? ": the Intel API key was refused (THIM_INTEL_API_KEY, "
                   "--api-key-file)"
                 : "");
        thimctl_progress(pr, it, url, "FAIL", detail);
        goto done;
    }

    /* a THIM's rootcacrl is hex of the DER; the bundle holds Intel's DER */
    if (it->hex_body
        && (thimctl_crl_to_der(&res.body, &res.len, &changed) != 0
            || !changed))
    {
        pr->failed++;
        thimctl_progress(pr, it, url, "FAIL", "rootcacrl is not hex of a CRL");
        goto done;
    }

    if (thimctl_check(trust, &it->expect, res.body, res.len,
                      it->expect.chain_header
                      ? thimctl_response_header(&res, it->expect.chain_header)
                      : NULL,
                      &v)
        != 0)
    {
        pr->failed++;
        snprintf(detail, sizeof(detail), "refused, not bundled: %s",
                 v.reason);
        thimctl_progress(pr, it, url, "FAIL", detail);
        goto done;
    }

    if (thimctl_bundle_add(b, &it->entry, &res, &error) != 0) {
        pr->failed++;
        thimctl_progress(pr, it, it->entry.file, "FAIL", error);
        goto done;
    }

    pr->bundled++;
    snprintf(detail, sizeof(detail), "%s (%zu bytes)", it->entry.file,
             res.len);
    thimctl_progress(pr, it, url, "ok", detail);

done:

    free(url);
    thimctl_response_free(&res);
}


static char *
thimctl_fetch_url(thimctl_item_t *it)
{
    char    *url;
    size_t   len, blen;

    blen = strlen(it->base);

    /* "https://host/" and "https://host" name the same origin */
    while (blen && it->base[blen - 1] == '/') {
        blen--;
    }

    len = blen + strlen(it->url_path) + 2
          + (it->entry.query ? strlen(it->entry.query) : 0);

    url = malloc(len);
    if (url == NULL) {
        return NULL;
    }

    snprintf(url, len, "%.*s%s%s%s", (int) blen, it->base, it->url_path,
             it->entry.query ? "?" : "",
             it->entry.query ? it->entry.query : "");

    return url;
}


/*
 * A terminal gets one bar, redrawn, with problems printed above it; any
 * other stderr gets one line per item.
 */

static void
thimctl_progress(thimctl_progress_t *pr, thimctl_item_t *it, char *label,
    char *outcome, char *detail)
{
    int     ok;
    size_t  filled;

    pr->done++;
    ok = (strcmp(outcome, "ok") == 0);

    if (!pr->tty) {
        fprintf(stderr, "%-4s %s %s\n", outcome, label, detail);
        return;
    }

    if (!ok) {
        fprintf(stderr, "\r\033[K%-4s %s %s\n", outcome, label, detail);
    }

    filled = pr->done * THIMCTL_BAR_WIDTH / pr->total;

    fprintf(stderr, "\r\033[K[%.*s%*s] %zu/%zu %.40s", (int) filled,
            "##############################",
            (int) (THIMCTL_BAR_WIDTH - filled), "", pr->done, pr->total,
            it->entry.file);

    if (pr->done == pr->total) {
        fputc('\n', stderr);
    }

    fflush(stderr);
}
