
/*
 * thimctl: the command-line companion of ngx_thim (docs/thimctl.md).
 *
 *   thimctl_main.c      commands, options, exit codes
 *   thimctl_http.c      libcurl GETs: retries, back-off, Retry-After, errors
 *   thimctl_parse.c     pure parsing: lists, FMSPCs, pckid CSV, --vcek
 *   thimctl_check.c     verification of an answer: the module's own code
 *   thimctl_plan.c      what "fetch" asks for, in the module's canonical form
 *   thimctl_bundle.c    the bundle directory and index.json (docs/bundle.md)
 *   thimctl_fetch.c     "fetch": plan, GET, check, bundle, progress
 *   thimctl_verify.c    "verify": one URL as a DCAP client sees it
 *   thimctl_status.c    "status": the module's JSON status as a table
 *
 * Only thimctl_check.c and thimctl_parse.c include nginx's headers: they
 * are where the module's pure code is called.
 */


#ifndef _THIMCTL_H_INCLUDED_
#define _THIMCTL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>


#define THIMCTL_VERSION         "1.0"

/* exit codes (docs/thimctl.md) */
#define THIMCTL_EXIT_OK         0
#define THIMCTL_EXIT_FAILED     1
#define THIMCTL_EXIT_USAGE      2
#define THIMCTL_EXIT_UNREACHED  3

#define THIMCTL_MAX_HEADERS     32
#define THIMCTL_PRODUCTS        3


/* ---- HTTP ------------------------------------------------------------ */

typedef struct {
    char                      *name;
    char                      *value;
} thimctl_header_t;


typedef struct {
    long                       status;         /* 0: no HTTP answer */
    unsigned char             *body;
    size_t                     len;
    size_t                     nheaders;
    thimctl_header_t           headers[THIMCTL_MAX_HEADERS];
    char                       error[512];     /* why there is no answer */
    time_t                     answered;
} thimctl_response_t;


typedef struct {
    char                      *cacert;
    unsigned                   retries;
    unsigned                   timeout;        /* seconds, whole request */
    unsigned                   max_wait;       /* cap on one Retry-After */
    unsigned                   base_delay_ms;  /* first back-off */
    void                      *curl;
} thimctl_http_t;


int thimctl_http_init(thimctl_http_t *http);
void thimctl_http_done(thimctl_http_t *http);
int thimctl_http_get(thimctl_http_t *http, char *url, char *secret_header,
    char *accept, thimctl_response_t *res);
void thimctl_response_free(thimctl_response_t *res);
char *thimctl_response_header(thimctl_response_t *res, char *name);


/* ---- parsing (pure) -------------------------------------------------- */

typedef struct {
    char                       encrypted_ppid[769];
    char                       pceid[5];
    char                       cpusvn[33];
    char                       pcesvn[5];
    char                       qeid[33];
} thimctl_pckid_t;


typedef struct {
    char                       product[8];     /* KDS's name */
    unsigned                   product_index;  /* Milan 0, Genoa 1, ... */
    unsigned                   turin;
    char                       hwid[129];      /* lower case */
    char                       tcbm[17];       /* 16 upper-case hex */
    char                       query[64];      /* canonical SPL query */
    unsigned                   spl[5];         /* bl tee snp ucode fmc */
} thimctl_vcek_t;


char *thimctl_list_next(char **list);
int thimctl_fmspc(char *s, char *out, char **reason);
int thimctl_product(char *s, char *out, unsigned *index, unsigned *turin);
int thimctl_pckid_line(char *line, thimctl_pckid_t *id, char **reason);
int thimctl_vcek_arg(char *arg, thimctl_vcek_t *v, char **reason);
int thimctl_hex_lower(char *s, size_t len, char *out);
int thimctl_query_get(char *query, char *key, char *out, size_t size);
int thimctl_vcek_url(char *product, char *hwid, char *query,
    thimctl_vcek_t *v, char **reason);


/* ---- verification ---------------------------------------------------- */

typedef enum {
    THIMCTL_KIND_TCB = 0,
    THIMCTL_KIND_IDENTITY,
    THIMCTL_KIND_EVAL_NUMBERS,
    THIMCTL_KIND_PCK_CRL,
    THIMCTL_KIND_ROOT_CRL,
    THIMCTL_KIND_PCKCERTS,
    THIMCTL_KIND_AMD_CHAIN,
    THIMCTL_KIND_AMD_CRL,
    THIMCTL_KIND_VCEK
} thimctl_kind_e;


/* what an answer must be: the same facts the module checks */
typedef struct {
    thimctl_kind_e             kind;
    char                      *json_key;       /* signed JSON */
    char                      *id;
    int                        version;
    char                       fmspc[13];      /* "" when none */
    long                       eval_asked;     /* the asked
                                                  tcbEvaluationDataNumber
                                                  + 1; 0: none asked */
    char                      *chain_header;   /* issuer chain, or NULL */
    char                      *ca;             /* PCK CA's CN, or NULL */
    unsigned                   product;        /* AMD: trust index */
    unsigned                   vlek;           /* a /vlek/ cert_chain */
    thimctl_vcek_t             vcek;
} thimctl_expect_t;


typedef struct {
    X509                      *intel_root;
    X509                      *ask[THIMCTL_PRODUCTS];
    X509                      *ark[THIMCTL_PRODUCTS];
    char                      *amd_error[THIMCTL_PRODUCTS];
} thimctl_trust_t;


typedef struct {
    time_t                     next_update;    /* or a cert's notAfter */
    int                        is_cert;        /* next_update is notAfter */
    char                      *reason;
    char                       text[160];      /* a reason naming values */
} thimctl_verdict_t;


int thimctl_trust_load(thimctl_trust_t *trust, char *intel_root,
    char *amd_dir, char **error);
void thimctl_trust_free(thimctl_trust_t *trust);
int thimctl_check(thimctl_trust_t *trust, thimctl_expect_t *expect,
    unsigned char *body, size_t len, char *chain, thimctl_verdict_t *v);
int thimctl_crl_to_der(unsigned char **body, size_t *len, int *changed);
extern char *thimctl_product_names[THIMCTL_PRODUCTS];


/* ---- bundle ---------------------------------------------------------- */

typedef struct {
    char                      *origin;         /* intel, intel-root, amd */
    char                      *path;
    char                      *query;          /* NULL: none */
    char                      *file;           /* relative to the bundle */
    char                      *qeid;           /* pckcerts only */
} thimctl_entry_t;


typedef struct {
    char                      *dir;
    void                      *entries;        /* json_t array */
} thimctl_bundle_t;


int thimctl_bundle_open(thimctl_bundle_t *b, char *dir, char **error);
int thimctl_bundle_add(thimctl_bundle_t *b, thimctl_entry_t *e,
    thimctl_response_t *res, char **error);
int thimctl_bundle_close(thimctl_bundle_t *b, char **error);
char *thimctl_iso8601(time_t t, char *buf, size_t size);


/* ---- fetch plan ------------------------------------------------------ */

typedef struct {
    thimctl_entry_t            entry;
    thimctl_expect_t           expect;
    char                      *base;           /* origin base URL */
    char                      *url_path;       /* differs for --thim's root */
    char                      *path_alloc;     /* path, when allocated */
    int                        hex_body;       /* rootcacrl from a THIM */
    int                        optional;       /* a 404 is a note */
    int                        secret;         /* send the API key */
} thimctl_item_t;


typedef struct {
    char                      *intel;
    char                      *intel_root;
    char                      *amd;
    char                      *thim;
    char                      *fmspcs;
    char                      *pckid_csv;
    char                      *products;
    char                     **vceks;
    size_t                     nvceks;
    int                        tdx;
    int                        v3;
    int                        no_intel;
} thimctl_plan_opts_t;


int thimctl_plan(thimctl_plan_opts_t *o, thimctl_item_t **items,
    size_t *n, char **error);
void thimctl_plan_free(thimctl_item_t *items, size_t n);


/* ---- commands -------------------------------------------------------- */

typedef struct {
    thimctl_http_t             http;
    char                      *intel_root_ca;
    char                      *amd_trust;
    time_t                     at;             /* 0: now */
} thimctl_common_t;


int thimctl_fetch(thimctl_common_t *c, thimctl_plan_opts_t *o, char *dir,
    char *api_key);
int thimctl_verify(thimctl_common_t *c, char **urls, size_t n);
int thimctl_status(thimctl_common_t *c, char *url);
int thimctl_pccs_collateral(char *platforms, char **bundles, size_t n,
    char *out);


#endif /* _THIMCTL_H_INCLUDED_ */
