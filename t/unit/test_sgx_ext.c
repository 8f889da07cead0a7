
/*
 * Unit tests: the SGX extension of PCK certificates and their check
 * against the issuing PCK CA (src/ngx_thim_sgx_ext.c), on every
 * certificate of the real PCK certificate sets.
 */


#include <dirent.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>

#include "tap.h"
#include "ngx_thim_pck.c"
#include "ngx_thim_sgx_ext.c"


static char  *data_dir = "t/data";


static X509 *
first_cert(const char *pem)
{
    BIO   *bio;
    X509  *x;

    bio = BIO_new_mem_buf(pem, -1);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);

    return x;
}


static X509 *
cert_file(const char *name)
{
    char   path[512];
    FILE  *f;
    X509  *x;

    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);

    return x;
}


/*
 * Every certificate of a set: signed by the set's CA, its extension's TCB
 * equal to its entry's tcb and tcbm, one PPID, the set's FMSPC and PCE-ID.
 */

static void
check_set(const char *name, const char *fmspc_hex, time_t at)
{
    char                        path[512], fmspc[13];
    size_t                      i;
    json_t                     *root, *item;
    X509                       *ca;
    ngx_uint_t                  n, bad, ppid_bad, entry_bad;
    char                       *reason;
    u_char                      ppid[16], cpusvn[16];
    json_error_t                err;
    ngx_http_thim_tcb_t         tcb;
    ngx_http_thim_sgx_ext_t     ext;
    ngx_http_thim_pck_entry_t   e;

    snprintf(path, sizeof(path), "%s/intel/pckcerts/%s", data_dir, name);
    root = json_load_file(path, 0, &err);

    ca = first_cert(json_string_value(
                        json_array_get(json_object_get(root, "ca_chain"), 0)));

    n = bad = ppid_bad = entry_bad = 0;

    json_array_foreach(json_object_get(root, "pck_data"), i, item) {
        if (ngx_http_thim_pck_entry(item, &e) != NGX_OK) {
            entry_bad++;
            continue;
        }

        if (e.cert == NULL) {
            continue;
        }

        n++;

        if (ngx_http_thim_verify_pck((u_char *) e.cert, strlen(e.cert), ca,
                                     at, &ext, &reason)
            != NGX_OK
            || ngx_http_thim_tcbm_of(e.tcbm, &tcb, cpusvn) != NGX_OK
            || memcmp(ext.cpusvn, cpusvn, 16) != 0
            || memcmp(ext.tcb.comp, e.tcb.comp, 16) != 0
            || ext.tcb.pcesvn != e.tcb.pcesvn
            || ext.tcb.pcesvn != tcb.pcesvn
            || ext.pceid[0] != 0 || ext.pceid[1] != 0)
        {
            bad++;
            continue;
        }

        snprintf(fmspc, sizeof(fmspc), "%02x%02x%02x%02x%02x%02x",
                 ext.fmspc[0], ext.fmspc[1], ext.fmspc[2], ext.fmspc[3],
                 ext.fmspc[4], ext.fmspc[5]);

        if (strcmp(fmspc, fmspc_hex) != 0) {
            bad++;
        }

        if (n == 1) {
            memcpy(ppid, ext.ppid, 16);

        } else if (memcmp(ppid, ext.ppid, 16) != 0) {
            ppid_bad++;
        }
    }

    ok(n > 0 && bad == 0 && entry_bad == 0,
       "%s: %u certificates verified, TCB and FMSPC as listed (%u wrong)",
       name, (unsigned) n, (unsigned) (bad + entry_bad));
    ok(ppid_bad == 0, "%s: one PPID throughout", name);

    X509_free(ca);
    json_decref(root);
}


int
main(int argc, char **argv)
{
    char                     *reason, *pem;
    long                      len;
    FILE                     *f;
    X509                     *ca, *fake;
    time_t                    now;
    char                      path[512];
    ngx_http_thim_sgx_ext_t   ext;

    if (argc > 1) {
        data_dir = argv[1];
    }

    now = time(NULL);

    check_set("pckcerts_00906ea10000_processor_2020-05-18_"
              "qeid-16a5b41ebb076d263a1e39e64e7175e7.json", "00906ea10000",
              now);
    check_set("pckcerts_00906ea10000_processor_2024-06-28_"
              "qeid-d68bdbd719d925b5d122a7c4522628f7.json", "00906ea10000",
              now);
    check_set("pckcerts_90806f000000_platform_2024-06-28_"
              "qeid-908da94d8f8a3c31db56855dec5892aa.json", "90806f000000",
              now);
    check_set("pckcerts_00606a000000_platform_2022-12-16_"
              "qeid-00000000000000000000000000000000.json", "00606a000000",
              now);

    /* the single PCK PCS returned, against its issuer chain's CA */
    ca = cert_file("intel/pckcerts/pckcert_00906ea10000_req-cpusvn-"
                   "0f0f0205ff8007000000000000000000_pcesvn-0900_pceid-0000."
                   "issuer_chain.pem");
    snprintf(path, sizeof(path), "%s/intel/pckcerts/pckcert_00906ea10000_"
             "req-cpusvn-0f0f0205ff8007000000000000000000_pcesvn-0900_"
             "pceid-0000.pem", data_dir);

    f = fopen(path, "r");
    pem = calloc(1, 8192);
    len = f ? (long) fread(pem, 1, 8191, f) : 0;
    if (f) {
        fclose(f);
    }

    ok(ca && ngx_http_thim_verify_pck((u_char *) pem, len, ca, now, &ext,
                                      &reason) == NGX_OK
       && ext.tcb.pcesvn == 9 && ext.cpusvn[0] == 0x0d && ext.cpusvn[6] == 3,
       "PCS's pckcert answer: verified, TCB 0d0d...03 PCESVN 9");

    ok(ngx_http_thim_verify_pck((u_char *) pem, len, ca, 1893456000 + 86400,
                                &ext, &reason) == NGX_DECLINED,
       "past its notAfter: refused (%s)", reason);

    /* a PCK of the fake root of Intel's QVL samples, against the real CA */
    snprintf(path, sizeof(path), "%s/intel/negative/qvl-sample-fake-root/pckCert.pem", data_dir);
    f = fopen(path, "r");
    len = f ? (long) fread(pem, 1, 8191, f) : 0;
    if (f) {
        fclose(f);
    }

    ok(len > 0 && ngx_http_thim_verify_pck((u_char *) pem, len, ca, now,
                                           &ext, &reason) == NGX_DECLINED,
       "a PCK under another root: refused (%s)", len ? reason : "-");

    /* a tampered byte in the signed part */
    fake = NULL;
    ok(ngx_http_thim_verify_pck((u_char *) "-----BEGIN CERTIFICATE-----\n"
                                "MIIB\n-----END CERTIFICATE-----\n", 52, ca,
                                now, &ext, &reason) == NGX_DECLINED,
       "not a certificate: refused (%s)", reason);

    X509_free(fake);
    X509_free(ca);
    free(pem);

    return done_testing();
}
