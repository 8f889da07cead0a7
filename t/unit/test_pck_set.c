
/*
 * Unit tests: the whole-set check of PCK certificates
 * (src/ngx_thim_pck_set.c) on the real sets, rendered as PCS sends them
 * (percent-encoded PEM), and on sets altered in each way it must refuse.
 */


#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>

#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_x509.c"
#include "ngx_thim_verify.c"
#include "ngx_thim_pck.c"
#include "ngx_thim_sgx_ext.c"
#include "ngx_thim_strict_json.c"
#include "ngx_thim_pck_set.c"


static char  *data_dir = "t/data";
static X509  *root;


/* a rust-sgx .certs file as PCS's body and decoded chain */

typedef struct {
    char    *body;
    char    *chain;
} pcs_set_t;


static char *
pct(const char *s)
{
    char        *out, *p;
    const char  *hex = "0123456789ABCDEF";

    out = malloc(3 * strlen(s) + 1);
    for (p = out; *s; s++) {
        if (isalnum((unsigned char) *s) || strchr("-._~", *s)) {
            *p++ = *s;
        } else {
            *p++ = '%';
            *p++ = hex[(unsigned char) *s >> 4];
            *p++ = hex[*s & 0xf];
        }
    }
    *p = '\0';

    return out;
}


static void
load_set(const char *name, pcs_set_t *s, json_t **items)
{
    char          path[512], *c;
    size_t        i, len;
    json_t       *root_j, *list, *item, *out;
    json_error_t  err;

    snprintf(path, sizeof(path), "%s/intel/pckcerts/%s", data_dir, name);
    root_j = json_load_file(path, 0, &err);

    out = json_array();
    list = json_object_get(root_j, "pck_data");

    json_array_foreach(list, i, item) {
        json_t  *copy = json_deep_copy(item);
        const char  *cert = json_string_value(json_object_get(item, "cert"));

        if (strcmp(cert, "Not available") != 0) {
            c = pct(cert);
            json_object_set_new(copy, "cert", json_string(c));
            free(c);
        }

        json_array_append_new(out, copy);
    }

    len = 0;
    s->chain = calloc(1, 16384);
    json_array_foreach(json_object_get(root_j, "ca_chain"), i, item) {
        len += snprintf(s->chain + len, 16384 - len, "%s",
                        json_string_value(item));
    }

    if (items) {
        *items = out;
    }

    s->body = json_dumps(out, JSON_COMPACT);

    if (items == NULL) {
        json_decref(out);
    }

    json_decref(root_j);
}


static ngx_int_t
check(pcs_set_t *s, const char *body, char *ca_type, char *fmspc,
    u_char *pceid, char **reason)
{
    time_t                   not_after;
    ngx_http_thim_pck_set_t  set;

    memset(&set, 0, sizeof(set));
    *reason = "verified";

    set.body = (u_char *) body;
    set.len = strlen(body);
    set.chain = (u_char *) s->chain;
    set.chain_len = strlen(s->chain);
    set.root = root;
    set.at = time(NULL);
    set.pceid = pceid;

    if (ca_type) {
        set.ca_type.data = (u_char *) ca_type;
        set.ca_type.len = strlen(ca_type);
    }

    if (fmspc) {
        set.fmspc.data = (u_char *) fmspc;
        set.fmspc.len = strlen(fmspc);
    }

    return ngx_http_thim_verify_pck_set(&set, &not_after, reason);
}


int
main(int argc, char **argv)
{
    char         path[512], *reason, *body, *p;
    FILE        *f;
    json_t      *items, *other, *sibling, *e;
    u_char       pceid0[2] = { 0, 0 }, pceid1[2] = { 1, 0 };
    pcs_set_t    a, b, c;

    if (argc > 1) {
        data_dir = argv[1];
    }

    snprintf(path, sizeof(path), "%s/intel/root/Intel_SGX_Root_CA.pem",
             data_dir);
    f = fopen(path, "r");
    root = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }

    load_set("pckcerts_00906ea10000_processor_2024-06-28_"
             "qeid-16a5b41ebb076d263a1e39e64e7175e7.json", &a, &items);
    load_set("pckcerts_90806f000000_platform_2024-06-28_"
             "qeid-908da94d8f8a3c31db56855dec5892aa.json", &b, &other);
    load_set("pckcerts_00906ea10000_processor_2024-06-28_"
             "qeid-53700d9403f4b311b9c5ec7d04c558bd.json", &c, &sibling);

    ok(check(&a, a.body, "processor", "00906ea10000", pceid0, &reason)
       == NGX_OK, "a genuine processor-CA set: accepted (%s)", reason);
    ok(check(&b, b.body, "platform", "90806F000000", pceid0, &reason)
       == NGX_OK, "a genuine platform-CA set, upper-case FMSPC: accepted");
    ok(check(&a, a.body, NULL, NULL, NULL, &reason) == NGX_OK,
       "without headers to agree with: accepted");

    ok(check(&a, a.body, "platform", "00906ea10000", pceid0, &reason)
       == NGX_DECLINED, "CA type not the chain's: refused (%s)", reason);
    ok(check(&a, a.body, "processor", "00906ed50000", pceid0, &reason)
       == NGX_DECLINED, "SGX-FMSPC not the certificates': refused (%s)",
       reason);
    ok(check(&a, a.body, "processor", "00906ea10000", pceid1, &reason)
       == NGX_DECLINED, "another PCE ID: refused (%s)", reason);
    ok(check(&a, a.body, "processor", "00906ea1000", pceid0, &reason)
       == NGX_DECLINED, "a malformed SGX-FMSPC: refused (%s)", reason);

    /* an entry that lies about its TCB */
    e = json_array_get(items, 3);
    json_object_set_new(e, "tcbm", json_string(
        "FFFF02040180070000000000000000000D00"));
    body = json_dumps(items, JSON_COMPACT);
    ok(check(&a, body, NULL, NULL, NULL, &reason) == NGX_DECLINED,
       "a tcbm that is not its certificate's: refused (%s)", reason);
    free(body);

    /* a genuine certificate of another platform (same CA, FMSPC) */
    json_array_set(items, 3, json_array_get(sibling, 3));
    body = json_dumps(items, JSON_COMPACT);
    ok(check(&a, body, NULL, NULL, NULL, &reason) == NGX_DECLINED
       && strstr(reason, "more than one platform"),
       "a certificate of another platform slipped in: refused (%s)", reason);
    free(body);

    /* one of another CA */
    json_array_set(items, 3, json_array_get(other, 0));
    body = json_dumps(items, JSON_COMPACT);
    ok(check(&a, body, NULL, NULL, NULL, &reason) == NGX_DECLINED,
       "a certificate of another CA: refused (%s)", reason);
    free(body);

    /* read strictly: a second "cert" in an entry, a second document */
    body = malloc(strlen(a.body) + 32);
    p = strstr(a.body, "\"cert\":");
    sprintf(body, "%.*s\"cert\":\"x\",%s", (int) (p - a.body), a.body, p);
    ok(check(&a, body, NULL, NULL, NULL, &reason) == NGX_DECLINED
       && strstr(reason, "twice"),
       "an entry with its cert twice: refused (%s)", reason);
    sprintf(body, "%s[]", a.body);
    ok(check(&a, body, NULL, NULL, NULL, &reason) == NGX_DECLINED
       && strstr(reason, "after the JSON document"),
       "a second list after the list: refused (%s)", reason);
    free(body);

    ok(check(&a, "[]", NULL, NULL, NULL, &reason) == NGX_DECLINED,
       "an empty list: refused (%s)", reason);
    ok(check(&a, "[{\"tcb\":{},\"tcbm\":\"00\",\"cert\":\"Not available\"}]",
             NULL, NULL, NULL, &reason) == NGX_DECLINED,
       "a malformed entry: refused (%s)", reason);
    ok(check(&b, a.body, NULL, NULL, NULL, &reason) == NGX_DECLINED,
       "certificates not signed by the chain's CA: refused (%s)", reason);

    /* a chain to the root, but of the TCB Signing certificate */
    {
        char       *pck_chain;
        size_t      n;
        FILE       *f;
        char        path[1024];

        snprintf(path, sizeof(path), "%s/intel/pcs/sgx/"
                 "tcb_00906ed50000_eval19_2025-06-04.issuer_chain.pem",
                 data_dir);
        f = fopen(path, "r");
        pck_chain = a.chain;
        a.chain = calloc(1, 16384);
        n = f ? fread(a.chain, 1, 16383, f) : 0;

        if (f) {
            fclose(f);
        }

        ok(n && check(&a, a.body, NULL, NULL, NULL, &reason) == NGX_DECLINED
           && strstr(reason, "not a PCK CA"),
           "a set under the TCB Signing certificate: refused (%s)", reason);

        free(a.chain);
        a.chain = pck_chain;
    }

    json_decref(items);
    json_decref(other);
    json_decref(sibling);
    free(c.body);
    free(c.chain);
    free(a.body);
    free(b.body);
    free(a.chain);
    free(b.chain);
    X509_free(root);

    return done_testing();
}
