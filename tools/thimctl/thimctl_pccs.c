
/*
 * thimctl pccs-collateral: the PCCS admin tool's upload (its "fetch"
 * output, platform_collaterals.json) made from bundles, for
 * PUT /sgx/certification/v4/platformcollateral on an air-gapped ngx_thim
 * or PCCS:
 *
 *   {"platforms": <GET /platforms answer, as given>,
 *    "collaterals": {"version": 4, "pck_certs": [...], "tcbinfos": [...],
 *                    "pckcacrl": {...}, "qeidentity", "tdqeidentity",
 *                    "qveidentity", "certificates": {...}, "rootcacrl"}}
 *
 * Nothing is checked here: the receiver verifies every item as an origin
 * answer.  A bundle entry is taken by its path and query as thimctl fetch
 * writes them; a PCK set only for a platform of the list (by encrypted
 * PPID and PCE ID, or by the entry's qeid).
 */


#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "thimctl.h"


typedef struct {
    json_t      *platforms;
    json_t      *sets;
    json_t      *tcbinfos;
    json_t      *crls;
    json_t      *certs;
    json_t      *pck_chains;
    json_t      *collaterals;
} thimctl_pccs_t;


static int thimctl_pccs_write(thimctl_pccs_t *p, char *out);
static int thimctl_pccs_bundle(thimctl_pccs_t *p, char *dir);
static int thimctl_pccs_entry(thimctl_pccs_t *p, char *dir, json_t *e);
static int thimctl_pccs_set(thimctl_pccs_t *p, json_t *e, json_t *body);
static char *thimctl_pccs_read(char *dir, const char *file, size_t *len);
static json_t *thimctl_pccs_hex(char *body, size_t len);
static int thimctl_pccs_query(json_t *e, char *want);


int
thimctl_pccs_collateral(char *platforms, char **bundles, size_t n,
    char *out)
{
    int             rc;
    size_t          i;
    json_error_t    err;
    thimctl_pccs_t  p;

    memset(&p, 0, sizeof(p));

    p.platforms = json_load_file(platforms, JSON_REJECT_DUPLICATES, &err);

    if (!json_is_array(p.platforms)) {
        fprintf(stderr, "thimctl pccs-collateral: %s: not GET /platforms' "
                "JSON list (%s)\n", platforms, err.text);
        json_decref(p.platforms);
        return THIMCTL_EXIT_USAGE;
    }

    p.sets = json_array();
    p.tcbinfos = json_array();
    p.crls = json_object();
    p.certs = json_object();
    p.pck_chains = json_object();
    p.collaterals = json_pack("{s:i,s:o,s:o,s:o,s:s,s:s,s:s,s:o,s:s}",
                              "version", 4, "pck_certs", p.sets,
                              "tcbinfos", p.tcbinfos, "pckcacrl", p.crls,
                              "qeidentity", "", "tdqeidentity", "",
                              "qveidentity", "", "certificates", p.certs,
                              "rootcacrl", "");

    rc = THIMCTL_EXIT_OK;

    if (p.collaterals == NULL
        || json_object_set_new(p.certs, "SGX-PCK-Certificate-Issuer-Chain",
                               p.pck_chains) != 0)
    {
        rc = THIMCTL_EXIT_FAILED;
    }

    for (i = 0; i < n && rc == THIMCTL_EXIT_OK; i++) {
        rc = thimctl_pccs_bundle(&p, bundles[i]);
    }

    if (rc == THIMCTL_EXIT_OK) {
        rc = thimctl_pccs_write(&p, out);
    }

    if (rc == THIMCTL_EXIT_OK) {
        fprintf(stderr, "thimctl pccs-collateral: %s: %zu platform(s), "
                "%zu PCK certificate set(s), %zu TCB info(s)\n", out,
                json_array_size(p.platforms), json_array_size(p.sets),
                json_array_size(p.tcbinfos));
    }

    json_decref(p.platforms);
    json_decref(p.collaterals);

    return rc;
}


static int
thimctl_pccs_write(thimctl_pccs_t *p, char *out)
{
    int      rc;
    FILE    *f;
    json_t  *doc;

    doc = json_pack("{s:O,s:O}", "platforms", p->platforms,
                    "collaterals", p->collaterals);
    f = fopen(out, "w");

    rc = (doc == NULL || f == NULL
          || json_dumpf(doc, f, JSON_PRESERVE_ORDER|JSON_COMPACT) != 0);

    if (f && fclose(f) != 0) {
        rc = 1;
    }

    json_decref(doc);

    if (rc) {
        fprintf(stderr, "thimctl pccs-collateral: cannot write %s\n", out);
        return THIMCTL_EXIT_FAILED;
    }

    return THIMCTL_EXIT_OK;
}


static int
thimctl_pccs_bundle(thimctl_pccs_t *p, char *dir)
{
    char          path[4096];
    size_t        i;
    json_t       *index, *entries;
    json_error_t  err;

    snprintf(path, sizeof(path), "%s/index.json", dir);

    index = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    entries = json_object_get(index, "entries");

    if (!json_is_array(entries)) {
        fprintf(stderr, "thimctl pccs-collateral: %s: not a bundle index "
                "(%s)\n", path, err.text);
        json_decref(index);
        return THIMCTL_EXIT_USAGE;
    }

    for (i = 0; i < json_array_size(entries); i++) {
        if (thimctl_pccs_entry(p, dir, json_array_get(entries, i)) != 0) {
            json_decref(index);
            return THIMCTL_EXIT_FAILED;
        }
    }

    json_decref(index);

    return THIMCTL_EXIT_OK;
}


/* one bundle entry into its place of the upload, or left out */

static int
thimctl_pccs_entry(thimctl_pccs_t *p, char *dir, json_t *e)
{
    int          rc;
    char        *body, *fmspc;
    size_t       len;
    json_t      *headers, *v, *chain;
    const char  *path, *file;

    path = json_string_value(json_object_get(e, "path"));
    file = json_string_value(json_object_get(e, "file"));
    headers = json_object_get(e, "headers");

    if (path == NULL || file == NULL) {
        return 0;
    }

    body = thimctl_pccs_read(dir, file, &len);
    if (body == NULL) {
        fprintf(stderr, "thimctl pccs-collateral: cannot read %s/%s\n", dir,
                file);
        return -1;
    }

    rc = 0;
    v = NULL;
    chain = NULL;

    if (strcmp(path, "/sgx/certification/v4/pckcerts") == 0) {
        v = json_loadb(body, len, 0, NULL);
        rc = (v == NULL) ? 0 : thimctl_pccs_set(p, e, v);
        json_decref(v);
        v = NULL;

    } else if (strcmp(path, "/sgx/certification/v4/tcb") == 0
               && thimctl_pccs_query(e, "update=standard"))
    {
        fmspc = strstr(json_string_value(json_object_get(e, "query")),
                       "fmspc=");
        v = json_loadb(body, len, JSON_PRESERVE_ORDER, NULL);

        if (v && fmspc) {
            rc = json_array_append_new(p->tcbinfos,
                     json_pack("{s:s%,s:O}", "fmspc", fmspc + 6, (size_t) 12,
                               "sgx_tcbinfo", v));
            chain = json_object_get(headers, "TCB-Info-Issuer-Chain");
            json_object_set_new(p->certs, "SGX-TCB-Info-Issuer-Chain",
                                chain ? json_incref(chain)
                                      : json_string(""));
        }

        json_decref(v);
        v = NULL;

    } else if (thimctl_pccs_query(e, "update=standard")
               && (strcmp(path, "/sgx/certification/v4/qe/identity") == 0
                   || strcmp(path, "/tdx/certification/v4/qe/identity") == 0
                   || strcmp(path, "/sgx/certification/v4/qve/identity")
                      == 0))
    {
        rc = json_object_set_new(p->collaterals,
                                 path[1] == 't' ? "tdqeidentity"
                                 : strstr(path, "qve") ? "qveidentity"
                                 : "qeidentity",
                                 json_stringn(body, len));
        chain = json_object_get(headers, "SGX-Enclave-Identity-Issuer-Chain");

        if (chain) {
            json_object_set(p->certs, "SGX-Enclave-Identity-Issuer-Chain",
                            chain);
        }

    } else if (strcmp(path, "/sgx/certification/v4/pckcrl") == 0) {
        rc = json_object_set_new(p->crls,
                                 thimctl_pccs_query(e, "ca=processor")
                                 ? "processorCrl" : "platformCrl",
                                 thimctl_pccs_hex(body, len));

    } else if (strcmp(path, "/IntelSGXRootCA.der") == 0) {
        rc = json_object_set_new(p->collaterals, "rootcacrl",
                                 thimctl_pccs_hex(body, len));
    }

    free(body);

    return rc;
}


/* a PCK certificate set of a platform of the list */

static int
thimctl_pccs_set(thimctl_pccs_t *p, json_t *e, json_t *body)
{
    char         ppid[800], pceid[8];
    size_t       i;
    json_t      *pf, *headers, *type;
    const char  *query, *qeid, *v;

    query = json_string_value(json_object_get(e, "query"));
    qeid = json_string_value(json_object_get(e, "qeid"));
    headers = json_object_get(e, "headers");

    if (query == NULL
        || thimctl_query_get((char *) query, "encrypted_ppid", ppid,
                             sizeof(ppid)) != 0
        || thimctl_query_get((char *) query, "pceid", pceid, sizeof(pceid))
           != 0)
    {
        ppid[0] = '\0';
        pceid[0] = '\0';
    }

    for (i = 0; i < json_array_size(p->platforms); i++) {
        pf = json_array_get(p->platforms, i);

        v = json_string_value(json_object_get(pf, qeid ? "qe_id"
                                                       : "enc_ppid"));

        if (v == NULL || strcasecmp(v, qeid ? qeid : ppid) != 0
            || (!qeid && strcasecmp(pceid, json_string_value(
                   json_object_get(pf, "pce_id")) ?: "") != 0))
        {
            continue;
        }

        type = json_object_get(headers, "SGX-PCK-Certificate-CA-Type");

        if (json_is_string(type)) {
            char  up[32];
            size_t k;

            snprintf(up, sizeof(up), "%s", json_string_value(type));

            for (k = 0; up[k]; k++) {
                up[k] = (char) toupper((unsigned char) up[k]);
            }

            json_object_set(p->pck_chains, up,
                json_object_get(headers, "SGX-PCK-Certificate-Issuer-Chain"));
        }

        return json_array_append_new(p->sets,
                   json_pack("{s:O,s:O,s:O,s:s,s:O}",
                             "qe_id", json_object_get(pf, "qe_id"),
                             "pce_id", json_object_get(pf, "pce_id"),
                             "enc_ppid", json_object_get(pf, "enc_ppid"),
                             "platform_manifest", "",
                             "certs", body));
    }

    return 0;
}


static char *
thimctl_pccs_read(char *dir, const char *file, size_t *len)
{
    char   path[4096], *buf;
    long   size;
    FILE  *f;

    if (strstr(file, "..") || file[0] == '/') {
        return NULL;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, file);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    buf = NULL;

    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0
        && (buf = malloc(size + 1)) != NULL)
    {
        if (fread(buf, 1, size, f) != (size_t) size) {
            free(buf);
            buf = NULL;

        } else {
            buf[size] = '\0';
            *len = size;
        }
    }

    fclose(f);

    return buf;
}


static json_t *
thimctl_pccs_hex(char *body, size_t len)
{
    char    *hex;
    size_t   i;
    json_t  *v;

    static const char  digits[] = "0123456789abcdef";

    hex = malloc(2 * len + 1);
    if (hex == NULL) {
        return NULL;
    }

    for (i = 0; i < len; i++) {
        hex[2 * i] = digits[(unsigned char) body[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char) body[i] & 0xf];
    }

    v = json_stringn(hex, 2 * len);
    free(hex);

    return v;
}


/* the entry's query has "want" as one of its parameters */

static int
thimctl_pccs_query(json_t *e, char *want)
{
    char        *p;
    size_t       n;
    const char  *q;

    q = json_string_value(json_object_get(e, "query"));
    if (q == NULL) {
        return 0;
    }

    n = strlen(want);

    for (p = strstr(q, want); p; p = strstr(p + 1, want)) {
        if ((p == q || p[-1] == '&') && (p[n] == '\0' || p[n] == '&')) {
            return 1;
        }
    }

    return 0;
}
