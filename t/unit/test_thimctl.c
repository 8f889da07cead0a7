
/*
 * Unit tests: thimctl's parsing of what users give (tools/thimctl/
 * thimctl_parse.c): lists, FMSPCs, products, PCKIDRetrievalTool CSV rows,
 * --vcek PRODUCT:HWID:TCBM, query values and KDS VCEK URLs, which must
 * come out in the module's canonical form.
 */


#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_tcbm.c"
#include "thimctl_parse.c"


#define MILAN_HWID                                                            \
    "B12164B45A2A27426E04AB52C5781D404FE2EAB35EF5C4F714CE0FC23D2FB3F3"        \
    "E65631710244A4EDFAD191616BE3366E48A6352B35128D748458BC9C282D0F5A"


static void
lists(void)
{
    char  buf[64], *list, *a, *b, *c;

    snprintf(buf, sizeof(buf), " Milan, genoa,,Turin ,");
    list = buf;

    a = thimctl_list_next(&list);
    b = thimctl_list_next(&list);
    c = thimctl_list_next(&list);

    ok(a && b && c && strcmp(a, "Milan") == 0 && strcmp(b, "genoa") == 0
       && strcmp(c, "Turin") == 0,
       "a list: trimmed items, empty ones skipped");
    ok(thimctl_list_next(&list) == NULL, "then its end");
}


static void
fmspcs_and_products(void)
{
    char      out[13], *reason;
    unsigned  index, turin;

    ok(thimctl_fmspc("00906ED50000", out, &reason) == 0
       && strcmp(out, "00906ed50000") == 0, "an FMSPC, lower-cased");
    ok(thimctl_fmspc("00906ed5", out, &reason) == -1, "8 digits refused");
    ok(thimctl_fmspc("00906ed5000g", out, &reason) == -1, "non-hex refused");
    ok(thimctl_fmspc("00906ed500001", out, &reason) == -1, "13 refused");

    ok(thimctl_product("milan", out, &index, &turin) == 0
       && strcmp(out, "Milan") == 0 && index == 0 && !turin,
       "milan is KDS's Milan");
    ok(thimctl_product("TURIN", out, &index, &turin) == 0
       && strcmp(out, "Turin") == 0 && index == 2 && turin,
       "TURIN is Turin, with Turin's layout");
    ok(thimctl_product("Siena", out, &index, &turin) == 0
       && strcmp(out, "Genoa") == 0 && index == 1,
       "Siena is a Genoa part");
    ok(thimctl_product("Naples", out, &index, &turin) == -1,
       "Naples is not served by KDS");
}


static void
pckid_rows(void)
{
    char             line[1024], *reason;
    thimctl_pckid_t  id;

    memset(line, 'A', 768);
    snprintf(line + 768, sizeof(line) - 768,
             ",0000,0F0F0205FF8007000000000000000000,0900,"
             "16A5B41EBB076D263A1E39E64E7175E7\r\n");

    ok(thimctl_pckid_line(line, &id, &reason) == 0, "a CSV row (CRLF)");
    ok(strlen(id.encrypted_ppid) == 768 && id.encrypted_ppid[0] == 'a',
       "encrypted_ppid: 768 hex, lower-cased");
    ok(strcmp(id.pceid, "0000") == 0 && strcmp(id.pcesvn, "0900") == 0
       && strcmp(id.cpusvn, "0f0f0205ff8007000000000000000000") == 0,
       "pceid, cpusvn, pcesvn");
    ok(strcmp(id.qeid, "16a5b41ebb076d263a1e39e64e7175e7") == 0, "qeid");

    snprintf(line, sizeof(line), "  \r\n");
    ok(thimctl_pckid_line(line, &id, &reason) == 1, "a blank line is skipped");

    snprintf(line, sizeof(line), "# encrypted_ppid,pceid,...\n");
    ok(thimctl_pckid_line(line, &id, &reason) == 1, "a comment is skipped");

    memset(line, 'a', 768);
    snprintf(line + 768, sizeof(line) - 768, ",0000,00,0900");
    ok(thimctl_pckid_line(line, &id, &reason) == -1
       && strstr(reason, "fewer"), "4 fields: refused");

    memset(line, 'a', 768);
    snprintf(line + 768, sizeof(line) - 768,
             ",0000,%032d,0900,%032d,x", 0, 0);
    ok(thimctl_pckid_line(line, &id, &reason) == -1
       && strstr(reason, "more"), "6 fields: refused");

    memset(line, 'a', 768);
    snprintf(line + 768, sizeof(line) - 768, ",00000,%032d,0900,%032d",
             0, 0);
    ok(thimctl_pckid_line(line, &id, &reason) == -1
       && strstr(reason, "pceid"), "a 5-digit pceid: refused, named");

    memset(line, 'a', 767);
    snprintf(line + 767, sizeof(line) - 767, ",0000,%032d,0900,%032d",
             0, 0);
    ok(thimctl_pckid_line(line, &id, &reason) == -1
       && strstr(reason, "encrypted_ppid"), "767 hex of PPID: refused");
}


static void
vcek_args(void)
{
    char            arg[300], *reason;
    thimctl_vcek_t  v;

    snprintf(arg, sizeof(arg), "Milan:%s:7308000000000003", MILAN_HWID);
    ok(thimctl_vcek_arg(arg, &v, &reason) == 0, "--vcek Milan");
    ok(strlen(v.hwid) == 128 && v.hwid[0] == 'b', "hwid lower-cased");
    ok(strcmp(v.query, "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115") == 0,
       "the module's SPL query: %s", v.query);
    ok(strcmp(v.tcbm, "7308000000000003") == 0, "tcbm kept: %s", v.tcbm);

    snprintf(arg, sizeof(arg), "turin:1E550A8EE5CF9F4D:0900000000000000");
    ok(thimctl_vcek_arg(arg, &v, &reason) == 0
       && strcmp(v.product, "Turin") == 0
       && strcmp(v.hwid, "1e550a8ee5cf9f4d") == 0
       && strcmp(v.query, "fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9")
          == 0, "--vcek Turin: 16-hex hwid, fmcSPL first");

    snprintf(arg, sizeof(arg), "Turin:1e550a8ee5cf9f4d%0112d:4A00000004030201",
             0);
    ok(thimctl_vcek_arg(arg, &v, &reason) == 0 && strlen(v.hwid) == 16
       && strcmp(v.query, "fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=74")
          == 0, "Turin: a zero-padded CHIP_ID shortens; Turin's layout");

    snprintf(arg, sizeof(arg), "Milan:%s", MILAN_HWID);
    ok(thimctl_vcek_arg(arg, &v, &reason) == -1, "no TCBM: refused");

    snprintf(arg, sizeof(arg), "Rome:%s:7308000000000003", MILAN_HWID);
    ok(thimctl_vcek_arg(arg, &v, &reason) == -1, "an unknown product");

    snprintf(arg, sizeof(arg), "Milan:1e550a8ee5cf9f4d:7308000000000003");
    ok(thimctl_vcek_arg(arg, &v, &reason) == -1, "a 16-hex Milan hwid");

    snprintf(arg, sizeof(arg), "Milan:%s:730800000000003", MILAN_HWID);
    ok(thimctl_vcek_arg(arg, &v, &reason) == -1, "a 15-hex TCBM");

    snprintf(arg, sizeof(arg), "Milan:%s:7308000000010003", MILAN_HWID);
    ok(thimctl_vcek_arg(arg, &v, &reason) == -1
       && strstr(reason, "reserved"), "a TCBM with reserved bits set");
}


static void
queries_and_urls(void)
{
    char            out[32], q[64], *reason;
    thimctl_vcek_t  v;

    snprintf(q, sizeof(q), "fmspc=00906ED50000&update=early&fmspc=x");
    ok(thimctl_query_get(q, "fmspc", out, sizeof(out)) == 0
       && strcmp(out, "00906ED50000") == 0, "a query value, first wins");

    snprintf(q, sizeof(q), "ca=pro%%63essor");
    ok(thimctl_query_get(q, "ca", out, sizeof(out)) == 0
       && strcmp(out, "processor") == 0, "percent-decoded");
    ok(thimctl_query_get(q, "fmspc", out, sizeof(out)) == -1, "absent");
    ok(thimctl_query_get(NULL, "fmspc", out, sizeof(out)) == -1, "no query");

    snprintf(q, sizeof(q), "ucodeSPL=115&blSPL=03&snpSPL=8");
    ok(thimctl_vcek_url("Milan", MILAN_HWID, q, &v, &reason) == 0
       && strcmp(v.query, "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115") == 0
       && strcmp(v.tcbm, "7308000000000003") == 0,
       "a KDS URL in any order and padding: canonical query and tcbm");

    snprintf(q, sizeof(q), "blSPL=256");
    ok(thimctl_vcek_url("Milan", MILAN_HWID, q, &v, &reason) == -1,
       "an SPL above 255");

    snprintf(q, sizeof(q), "fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=74");
    ok(thimctl_vcek_url("Turin", "1e550a8ee5cf9f4d", q, &v, &reason) == 0
       && v.spl[4] == 1 && strcmp(v.tcbm, "4A00000004030201") == 0,
       "Turin's fmcSPL and tcbm");
}


int
main(void)
{
    lists();
    fmspcs_and_products();
    pckid_rows();
    vcek_args();
    queries_and_urls();

    return done_testing();
}
