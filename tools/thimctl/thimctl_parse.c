
/*
 * thimctl: parsing of what the user gives (pure; t/unit/test_thimctl.c).
 *
 * Every value that ends up in an origin URL is validated here and brought
 * to the module's canonical spelling (lower-case hex, KDS's product
 * names, the module's own SPL query), so that a bundle entry is exactly
 * the request ngx_thim would have made, and its cache key.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_thim_args.h"
#include "ngx_thim_tcbm.h"
#include "thimctl.h"


#define THIMCTL_FMSPC_HEX       12
#define THIMCTL_PPID_HEX        768
#define THIMCTL_PCEID_HEX       4
#define THIMCTL_CPUSVN_HEX      32
#define THIMCTL_PCESVN_HEX      4
#define THIMCTL_QEID_HEX        32
#define THIMCTL_PCKID_FIELDS    5


typedef struct {
    char                      *name;
    size_t                     len;
    char                      *out;
    char                      *what;
} thimctl_hex_field_t;


static void thimctl_vcek_finish(thimctl_vcek_t *v, ngx_http_thim_spl_t *spl);
static char *thimctl_trim(char *s);


char  *thimctl_product_names[THIMCTL_PRODUCTS] = {
    "Milan", "Genoa", "Turin"
};


/*
 * The next item of a comma-separated list, trimmed; NULL at the end.
 * The list is cut in place.
 */

char *
thimctl_list_next(char **list)
{
    char  *item, *comma;

    while (*list && **list) {
        item = *list;
        comma = strchr(item, ',');

        if (comma) {
            *comma = '\0';
            *list = comma + 1;

        } else {
            *list = NULL;
        }

        item = thimctl_trim(item);

        if (*item) {
            return item;
        }
    }

    return NULL;
}


/* exactly len hex digits, copied in lower case with a NUL; -1 if not */

int
thimctl_hex_lower(char *s, size_t len, char *out)
{
    if (ngx_strlen(s) != len || !ngx_http_thim_is_hex((u_char *) s, len)) {
        return -1;
    }

    ngx_http_thim_strlow((u_char *) out, (u_char *) s, len);
    out[len] = '\0';

    return 0;
}


int
thimctl_fmspc(char *s, char *out, char **reason)
{
    if (thimctl_hex_lower(s, THIMCTL_FMSPC_HEX, out) != 0) {
        *reason = "an FMSPC is 12 hexadecimal digits";
        return -1;
    }

    return 0;
}


/*
 * Milan, Genoa, Turin in any case, as KDS names them; Bergamo and Siena
 * are Genoa parts, as in the module.
 */

int
thimctl_product(char *s, char *out, unsigned *index, unsigned *turin)
{
    size_t      len;
    ngx_uint_t  i;

    len = ngx_strlen(s);

    if (ngx_http_thim_strcaseeq((u_char *) s, len, "Bergamo")
        || ngx_http_thim_strcaseeq((u_char *) s, len, "Siena"))
    {
        s = "Genoa";
        len = 5;
    }

    for (i = 0; i < THIMCTL_PRODUCTS; i++) {
        if (ngx_http_thim_strcaseeq((u_char *) s, len,
                                    thimctl_product_names[i]))
        {
            snprintf(out, 8, "%s", thimctl_product_names[i]);
            *index = i;
            *turin = (i == 2);
            return 0;
        }
    }

    return -1;
}


/*
 * One line of Intel's PCKIDRetrievalTool CSV:
 * encrypted_ppid,pceid,cpusvn,pcesvn,qeid (hex).  1 for a line to skip
 * (empty, or a "#" comment), 0 for a row, -1 with a reason.
 */

int
thimctl_pckid_line(char *line, thimctl_pckid_t *id, char **reason)
{
    char                 *f, *fields[THIMCTL_PCKID_FIELDS];
    ngx_uint_t            i, n;
    thimctl_hex_field_t   hex[THIMCTL_PCKID_FIELDS] = {
        { "encrypted_ppid", THIMCTL_PPID_HEX, id->encrypted_ppid,
          "encrypted_ppid must be 768 hexadecimal digits" },
        { "pceid", THIMCTL_PCEID_HEX, id->pceid,
          "pceid must be 4 hexadecimal digits" },
        { "cpusvn", THIMCTL_CPUSVN_HEX, id->cpusvn,
          "cpusvn must be 32 hexadecimal digits" },
        { "pcesvn", THIMCTL_PCESVN_HEX, id->pcesvn,
          "pcesvn must be 4 hexadecimal digits" },
        { "qeid", THIMCTL_QEID_HEX, id->qeid,
          "qeid must be 32 hexadecimal digits" }
    };

    line = thimctl_trim(line);

    if (*line == '\0' || *line == '#') {
        return 1;
    }

    n = 0;

    for (f = line; f; n++) {
        if (n == THIMCTL_PCKID_FIELDS) {
            *reason = "more than 5 fields (encrypted_ppid,pceid,cpusvn,"
                      "pcesvn,qeid)";
            return -1;
        }

        fields[n] = f;
        f = strchr(f, ',');

        if (f) {
            *f++ = '\0';
        }
    }

    if (n != THIMCTL_PCKID_FIELDS) {
        *reason = "fewer than 5 fields (encrypted_ppid,pceid,cpusvn,"
                  "pcesvn,qeid)";
        return -1;
    }

    for (i = 0; i < THIMCTL_PCKID_FIELDS; i++) {
        if (thimctl_hex_lower(thimctl_trim(fields[i]), hex[i].len,
                              hex[i].out)
            != 0)
        {
            *reason = hex[i].what;
            return -1;
        }
    }

    return 0;
}


/*
 * --vcek PRODUCT:HWID:TCBM: the chip's CHIP_ID (128 hex; Turin 16, or
 * 128 ending in zeros) and its reported TCB as THIM prints it (16 hex),
 * turned into the KDS URL ngx_thim itself would request, through the
 * module's own code (ngx_thim_tcbm.c).
 */

int
thimctl_vcek_arg(char *arg, thimctl_vcek_t *v, char **reason)
{
    char                 buf[256], *hwid, *tcbm;
    size_t               len;
    uint64_t             value;
    ngx_http_thim_spl_t  spl;

    if (ngx_strlen(arg) >= sizeof(buf)) {
        *reason = "too long for PRODUCT:HWID:TCBM";
        return -1;
    }

    snprintf(buf, sizeof(buf), "%s", arg);

    hwid = strchr(buf, ':');
    tcbm = hwid ? strchr(hwid + 1, ':') : NULL;

    if (tcbm == NULL) {
        *reason = "the form is PRODUCT:HWID:TCBM";
        return -1;
    }

    *hwid++ = '\0';
    *tcbm++ = '\0';

    if (thimctl_product(buf, v->product, &v->product_index, &v->turin) != 0)
    {
        *reason = "the product is Milan, Genoa or Turin";
        return -1;
    }

    len = ngx_strlen(hwid);

    if (ngx_http_thim_hwid_check((u_char *) hwid, &len, v->turin, reason)
        != NGX_OK)
    {
        return -1;
    }

    ngx_http_thim_strlow((u_char *) v->hwid, (u_char *) hwid, len);
    v->hwid[len] = '\0';

    if (ngx_strlen(tcbm) != 16
        || ngx_http_thim_tcbm_parse((u_char *) tcbm, 16, &value) != NGX_OK)
    {
        *reason = "TCBM is the reported TCB as 16 hexadecimal digits";
        return -1;
    }

    ngx_http_thim_tcbm_to_spl(value, v->turin, &spl);

    if (ngx_http_thim_spl_to_tcbm(&spl, v->turin) != value) {
        *reason = "TCBM has bits set in reserved bytes";
        return -1;
    }

    thimctl_vcek_finish(v, &spl);

    return 0;
}


static char *
thimctl_trim(char *s)
{
    char  *end;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    end = s + ngx_strlen(s);

    while (end > s
           && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'
               || end[-1] == '\n'))
    {
        *--end = '\0';
    }

    return s;
}


/*
 * The value of key in a query string (percent-decoded, first occurrence,
 * as the module reads queries); -1 when absent, too long or malformed.
 */

int
thimctl_query_get(char *query, char *key, char *out, size_t size)
{
    size_t                len;
    ngx_http_thim_arg_t  *arg;
    ngx_http_thim_args_t  args;

    if (query == NULL
        || ngx_http_thim_args_parse((u_char *) query, ngx_strlen(query),
                                    &args)
           != NGX_OK)
    {
        return -1;
    }

    arg = ngx_http_thim_args_find(&args, (u_char *) key, ngx_strlen(key));

    if (arg == NULL || arg->value.len >= size
        || ngx_http_thim_pct_decode((u_char *) out, arg->value.data,
                                    arg->value.len, &len)
           != NGX_OK)
    {
        return -1;
    }

    out[len] = '\0';

    return 0;
}


/*
 * A KDS VCEK URL's parts (/vcek/v1/PRODUCT/HWID?SPLs) as a --vcek would
 * give them: SPLs decimal, at most 3 digits and 255, an omitted one 0,
 * as KDS and the module read them.
 */

int
thimctl_vcek_url(char *product, char *hwid, char *query, thimctl_vcek_t *v,
    char **reason)
{
    char                 buf[16];
    size_t               i, len;
    uint64_t             value;
    ngx_http_thim_spl_t  spl;
    static char         *names[] = { "blSPL", "teeSPL", "snpSPL",
                                     "ucodeSPL", "fmcSPL" };

    if (thimctl_product(product, v->product, &v->product_index, &v->turin)
        != 0)
    {
        *reason = "the product is Milan, Genoa or Turin";
        return -1;
    }

    len = ngx_strlen(hwid);

    if (len >= sizeof(v->hwid)
        || ngx_http_thim_hwid_check((u_char *) hwid, &len, v->turin, reason)
           != NGX_OK)
    {
        if (len >= sizeof(v->hwid)) {
            *reason = "hwid too long";
        }

        return -1;
    }

    ngx_http_thim_strlow((u_char *) v->hwid, (u_char *) hwid, len);
    v->hwid[len] = '\0';

    for (i = 0; i < 5; i++) {
        v->spl[i] = 0;

        if (thimctl_query_get(query, names[i], buf, sizeof(buf)) != 0) {
            continue;
        }

        if (ngx_http_thim_parse_decimal((u_char *) buf, ngx_strlen(buf), 3,
                                        &value)
            != NGX_OK
            || value > 255)
        {
            *reason = "an SPL is a decimal number up to 255";
            return -1;
        }

        v->spl[i] = (unsigned) value;
    }

    spl.bl = v->spl[0];
    spl.tee = v->spl[1];
    spl.snp = v->spl[2];
    spl.ucode = v->spl[3];
    spl.fmc = v->turin ? v->spl[4] : 0;

    thimctl_vcek_finish(v, &spl);

    return 0;
}


/* the SPLs, the tcbm and the canonical KDS query of one TCB */

static void
thimctl_vcek_finish(thimctl_vcek_t *v, ngx_http_thim_spl_t *spl)
{
    u_char  *end;

    v->spl[0] = spl->bl;
    v->spl[1] = spl->tee;
    v->spl[2] = spl->snp;
    v->spl[3] = spl->ucode;
    v->spl[4] = spl->fmc;

    end = ngx_http_thim_tcbm_print((u_char *) v->tcbm,
                                   ngx_http_thim_spl_to_tcbm(spl, v->turin));
    *end = '\0';

    end = ngx_http_thim_spl_query((u_char *) v->query, spl, v->turin);
    *end = '\0';
}
