
/*
 * thimctl: commands and options (docs/thimctl.md).
 *
 *   thimctl fetch -o DIR [options]       build a bundle (docs/bundle.md)
 *   thimctl verify [options] URL...      verify collateral as served
 *   thimctl status [options] URL         ngx_thim's status as a table
 *
 * The Intel API key is read from THIM_INTEL_API_KEY or a file, never
 * from the command line: arguments are visible to every local user
 * (ps, /proc/PID/cmdline).
 */


#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "thimctl.h"


enum {
    THIMCTL_OPT_CACERT = 256,
    THIMCTL_OPT_INTEL_ROOT_CA,
    THIMCTL_OPT_AMD_TRUST,
    THIMCTL_OPT_RETRIES,
    THIMCTL_OPT_TIMEOUT,
    THIMCTL_OPT_MAX_WAIT,
    THIMCTL_OPT_AT,
    THIMCTL_OPT_INTEL,
    THIMCTL_OPT_INTEL_ROOT,
    THIMCTL_OPT_AMD,
    THIMCTL_OPT_THIM,
    THIMCTL_OPT_FMSPC,
    THIMCTL_OPT_TDX,
    THIMCTL_OPT_V3,
    THIMCTL_OPT_NO_INTEL,
    THIMCTL_OPT_PCKID_CSV,
    THIMCTL_OPT_AMD_PRODUCT,
    THIMCTL_OPT_VCEK,
    THIMCTL_OPT_API_KEY_FILE,
    THIMCTL_OPT_API_KEY,
    THIMCTL_OPT_HELP
};


/* every command takes them all; each ignores what it has no use for */
static struct option  thimctl_options[] = {
    { "cacert", required_argument, NULL, THIMCTL_OPT_CACERT },
    { "intel-root-ca", required_argument, NULL, THIMCTL_OPT_INTEL_ROOT_CA },
    { "amd-trust", required_argument, NULL, THIMCTL_OPT_AMD_TRUST },
    { "retries", required_argument, NULL, THIMCTL_OPT_RETRIES },
    { "timeout", required_argument, NULL, THIMCTL_OPT_TIMEOUT },
    { "max-wait", required_argument, NULL, THIMCTL_OPT_MAX_WAIT },
    { "at", required_argument, NULL, THIMCTL_OPT_AT },
    { "intel", required_argument, NULL, THIMCTL_OPT_INTEL },
    { "intel-root", required_argument, NULL, THIMCTL_OPT_INTEL_ROOT },
    { "amd", required_argument, NULL, THIMCTL_OPT_AMD },
    { "thim", required_argument, NULL, THIMCTL_OPT_THIM },
    { "fmspc", required_argument, NULL, THIMCTL_OPT_FMSPC },
    { "tdx", no_argument, NULL, THIMCTL_OPT_TDX },
    { "v3", no_argument, NULL, THIMCTL_OPT_V3 },
    { "no-intel", no_argument, NULL, THIMCTL_OPT_NO_INTEL },
    { "pckid-csv", required_argument, NULL, THIMCTL_OPT_PCKID_CSV },
    { "amd-product", required_argument, NULL, THIMCTL_OPT_AMD_PRODUCT },
    { "vcek", required_argument, NULL, THIMCTL_OPT_VCEK },
    { "api-key-file", required_argument, NULL, THIMCTL_OPT_API_KEY_FILE },
    /* listed so that it is refused, not taken as --api-key-file */
    { "api-key", required_argument, NULL, THIMCTL_OPT_API_KEY },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, THIMCTL_OPT_HELP },
    { NULL, 0, NULL, 0 }
};


typedef struct {
    thimctl_common_t           common;
    thimctl_plan_opts_t        plan;
    char                      *out;
    char                      *key_file;
    char                      *fmspcs;         /* all --fmspc, joined */
    char                      *products;       /* all --amd-product */
} thimctl_args_t;


static int thimctl_usage(char *error);
static int thimctl_parse_args(int argc, char **argv, thimctl_args_t *a);
static int thimctl_option(thimctl_args_t *a, int opt, char *arg);
static int thimctl_number(char *s, unsigned *out);
static char *thimctl_join(char *list, char *item);
static char *thimctl_api_key(char *file, char **error);
static int thimctl_run(char *cmd, thimctl_args_t *a, int argc, char **argv);


int
main(int argc, char **argv)
{
    int             rc;
    char           *cmd;
    thimctl_args_t  a;

    if (argc < 2) {
        return thimctl_usage("a command is needed");
    }

    cmd = argv[1];

    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0
        || strcmp(cmd, "-h") == 0)
    {
        thimctl_usage(NULL);
        return THIMCTL_EXIT_OK;
    }

    if (strcmp(cmd, "--version") == 0) {
        printf("thimctl %s\n", THIMCTL_VERSION);
        return THIMCTL_EXIT_OK;
    }

    /* thimctl pccs-collateral -o FILE PLATFORMS.json BUNDLE... */
    if (strcmp(cmd, "pccs-collateral") == 0) {
        if (argc < 6 || strcmp(argv[2], "-o") != 0) {
            return thimctl_usage("pccs-collateral needs -o FILE, the "
                                 "platforms' JSON and a bundle");
        }

        return thimctl_pccs_collateral(argv[4], argv + 5, argc - 5, argv[3]);
    }

    if (strcmp(cmd, "fetch") != 0 && strcmp(cmd, "verify") != 0
        && strcmp(cmd, "status") != 0)
    {
        fprintf(stderr, "thimctl: unknown command \"%s\"\n", cmd);
        return thimctl_usage(NULL);
    }

    memset(&a, 0, sizeof(a));

    a.common.intel_root_ca = "conf/intel/Intel_SGX_Root_CA.pem";
    a.common.amd_trust = "conf/amd";
    a.common.http.retries = 3;
    a.common.http.timeout = 30;
    a.common.http.max_wait = 60;
    a.common.http.base_delay_ms = 500;

    a.plan.intel = "https://api.trustedservices.intel.com";
    a.plan.intel_root = "https://certificates.trustedservices.intel.com";
    a.plan.amd = "https://kdsintf.amd.com";

    /* getopt starts after the command */
    rc = thimctl_parse_args(argc - 1, argv + 1, &a);
    if (rc != 0) {
        return rc;
    }

    if (thimctl_http_init(&a.common.http) != 0) {
        fprintf(stderr, "thimctl: cannot initialise libcurl\n");
        return THIMCTL_EXIT_FAILED;
    }

    rc = thimctl_run(cmd, &a, argc - 1 - optind, argv + 1 + optind);

    thimctl_http_done(&a.common.http);
    free(a.plan.vceks);
    free(a.fmspcs);
    free(a.products);

    return rc;
}


static int
thimctl_run(char *cmd, thimctl_args_t *a, int argc, char **argv)
{
    int    rc;
    char  *key, *error;

    if (strcmp(cmd, "verify") == 0) {
        if (argc < 1) {
            return thimctl_usage("verify needs at least one URL");
        }

        return thimctl_verify(&a->common, argv, argc);
    }

    if (strcmp(cmd, "status") == 0) {
        if (argc != 1) {
            return thimctl_usage("status needs exactly one URL");
        }

        return thimctl_status(&a->common, argv[0]);
    }

    if (argc != 0) {
        fprintf(stderr, "thimctl fetch: unexpected argument \"%s\"\n",
                argv[0]);
        return thimctl_usage(NULL);
    }

    if (a->out == NULL) {
        return thimctl_usage("fetch needs -o DIR");
    }

    key = thimctl_api_key(a->key_file, &error);

    if (key == NULL && error) {
        fprintf(stderr, "thimctl fetch: %s\n", error);
        return THIMCTL_EXIT_USAGE;
    }

    a->plan.fmspcs = a->fmspcs;
    a->plan.products = a->products;

    rc = thimctl_fetch(&a->common, &a->plan, a->out, key);

    if (key) {
        OPENSSL_cleanse(key, strlen(key));
        free(key);
    }

    return rc;
}


static int
thimctl_parse_args(int argc, char **argv, thimctl_args_t *a)
{
    int    opt, rc;
    char  *arg;

    optind = 1;
    opterr = 0;

    while ((opt = getopt_long(argc, argv, ":o:", thimctl_options, NULL))
           != -1)
    {
        if (opt == '?' || opt == ':') {
            /* never echo an argument: it might be a secret given wrongly */
            arg = argv[optind - 1];
            fprintf(stderr, "thimctl: %s option %.*s\n",
                    opt == '?' ? "unknown" : "a value is missing for the",
                    arg[0] == '-' ? (int) strcspn(arg, "=") : 0, arg);
            return thimctl_usage(NULL);
        }

        rc = thimctl_option(a, opt, optarg);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
thimctl_option(thimctl_args_t *a, int opt, char *arg)
{
    char     **v;
    struct tm  tm;

    switch (opt) {

    case 'o':
        a->out = arg;
        break;

    case THIMCTL_OPT_CACERT:
        a->common.http.cacert = arg;
        break;

    case THIMCTL_OPT_INTEL_ROOT_CA:
        a->common.intel_root_ca = arg;
        break;

    case THIMCTL_OPT_AMD_TRUST:
        a->common.amd_trust = arg;
        break;

    case THIMCTL_OPT_RETRIES:
        if (thimctl_number(arg, &a->common.http.retries) != 0
            || a->common.http.retries > 20)
        {
            return thimctl_usage("--retries takes 0 to 20");
        }

        break;

    case THIMCTL_OPT_TIMEOUT:
        if (thimctl_number(arg, &a->common.http.timeout) != 0
            || a->common.http.timeout == 0)
        {
            return thimctl_usage("--timeout takes seconds, at least 1");
        }

        break;

    case THIMCTL_OPT_MAX_WAIT:
        if (thimctl_number(arg, &a->common.http.max_wait) != 0
            || a->common.http.max_wait > 3600)
        {
            return thimctl_usage("--max-wait takes 0 to 3600 seconds");
        }

        break;

    case THIMCTL_OPT_AT:
        memset(&tm, 0, sizeof(tm));

        if (strptime(arg, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
            return thimctl_usage("--at takes a time as 2025-06-10T00:00:00Z");
        }

        a->common.at = timegm(&tm);
        break;

    case THIMCTL_OPT_INTEL:
        a->plan.intel = arg;
        break;

    case THIMCTL_OPT_INTEL_ROOT:
        a->plan.intel_root = arg;
        break;

    case THIMCTL_OPT_AMD:
        a->plan.amd = arg;
        break;

    case THIMCTL_OPT_THIM:
        a->plan.thim = arg;
        break;

    case THIMCTL_OPT_FMSPC:
        a->fmspcs = thimctl_join(a->fmspcs, arg);
        break;

    case THIMCTL_OPT_AMD_PRODUCT:
        a->products = thimctl_join(a->products, arg);
        break;

    case THIMCTL_OPT_TDX:
        a->plan.tdx = 1;
        break;

    case THIMCTL_OPT_V3:
        a->plan.v3 = 1;
        break;

    case THIMCTL_OPT_NO_INTEL:
        a->plan.no_intel = 1;
        break;

    case THIMCTL_OPT_PCKID_CSV:
        a->plan.pckid_csv = arg;
        break;

    case THIMCTL_OPT_VCEK:
        v = realloc(a->plan.vceks, (a->plan.nvceks + 1) * sizeof(char *));
        if (v == NULL) {
            return THIMCTL_EXIT_FAILED;
        }

        v[a->plan.nvceks++] = arg;
        a->plan.vceks = v;
        break;

    case THIMCTL_OPT_API_KEY_FILE:
        a->key_file = arg;
        break;

    case THIMCTL_OPT_API_KEY:
        fprintf(stderr, "thimctl: the Intel API key is never taken from "
                        "the command line, where every local user can read "
                        "it: set THIM_INTEL_API_KEY or use --api-key-file "
                        "FILE\n");
        return THIMCTL_EXIT_USAGE;

    default: /* THIMCTL_OPT_HELP */
        thimctl_usage(NULL);
        exit(THIMCTL_EXIT_OK);
    }

    if ((opt == THIMCTL_OPT_FMSPC && a->fmspcs == NULL)
        || (opt == THIMCTL_OPT_AMD_PRODUCT && a->products == NULL))
    {
        return THIMCTL_EXIT_FAILED;
    }

    return 0;
}


static int
thimctl_number(char *s, unsigned *out)
{
    char          *end;
    unsigned long  v;

    errno = 0;
    v = strtoul(s, &end, 10);

    if (*s < '0' || *s > '9' || *end != '\0' || errno || v > 1000000) {
        return -1;
    }

    *out = (unsigned) v;

    return 0;
}


/* "a,b" + "c" = "a,b,c": a repeated list option adds to the list */

static char *
thimctl_join(char *list, char *item)
{
    char    *s;
    size_t   len;

    len = (list ? strlen(list) + 1 : 0) + strlen(item) + 1;
    s = malloc(len);

    if (s) {
        snprintf(s, len, "%s%s%s", list ? list : "", list ? "," : "", item);
    }

    free(list);

    return s;
}


/*
 * The key from --api-key-file (its first line) or THIM_INTEL_API_KEY; a
 * copy the caller wipes.  NULL without error when there is none.
 */

static char *
thimctl_api_key(char *file, char **error)
{
    FILE    *f;
    char     line[512], *key;
    size_t   len;

    *error = NULL;

    if (file == NULL) {
        key = getenv("THIM_INTEL_API_KEY");
        return (key && *key) ? strdup(key) : NULL;
    }

    f = fopen(file, "r");
    if (f == NULL) {
        *error = "cannot read the --api-key-file";
        return NULL;
    }

    key = fgets(line, sizeof(line), f);
    fclose(f);

    len = key ? strcspn(line, "\r\n") : 0;
    line[len] = '\0';

    key = len ? strdup(line) : NULL;
    OPENSSL_cleanse(line, sizeof(line));

    if (key == NULL) {
        *error = "the --api-key-file is empty";
    }

    return key;
}


static int
thimctl_usage(char *error)
{
    if (error) {
        fprintf(stderr, "thimctl: %s\n", error);
    }

    fprintf(stderr,
        "usage: thimctl fetch -o DIR [--fmspc LIST] [--tdx] [--v3] "
        "[--no-intel]\n"
        "                     [--pckid-csv FILE] [--amd-product LIST] "
        "[--vcek P:HWID:TCBM]...\n"
        "                     [--intel URL] [--intel-root URL] [--amd URL] "
        "[--thim URL]\n"
        "                     [--api-key-file FILE] [common options]\n"
        "       thimctl verify [common options] [--at TIME] URL...\n"
        "       thimctl status [common options] URL\n"
        "       thimctl pccs-collateral -o FILE PLATFORMS.json BUNDLE...\n"
        "common options: --cacert FILE  --intel-root-ca FILE  "
        "--amd-trust DIR\n"
        "                --retries N  --timeout S  --max-wait S\n"
        "The Intel API key comes from THIM_INTEL_API_KEY or "
        "--api-key-file.\n"
        "Exit: 0 ok, 1 some item failed (or expired), 2 usage, "
        "3 unreachable/non-200.  See docs/thimctl.md.\n");

    return THIMCTL_EXIT_USAGE;
}
