
/*
 * Unit tests: AMD TCB_VERSION <-> SPL values (src/ngx_thim_tcbm.c), on the
 * real values of PROTOCOLS.md 3; KDS's hwid and its canonical SPL query.
 */


#include "tap.h"
#include "ngx_thim_args.c"
#include "ngx_thim_tcbm.c"


static void
decodes(char *hex, ngx_uint_t turin, ngx_uint_t bl, ngx_uint_t tee,
    ngx_uint_t snp, ngx_uint_t ucode, ngx_uint_t fmc)
{
    u_char               out[16];
    uint64_t             v;
    ngx_http_thim_spl_t  spl;

    ok(ngx_http_thim_tcbm_parse((u_char *) hex, strlen(hex), &v) == NGX_OK,
       "parse %s", hex);

    ngx_http_thim_tcbm_to_spl(v, turin, &spl);

    ok(spl.bl == bl && spl.tee == tee && spl.snp == snp
       && spl.ucode == ucode && spl.fmc == fmc,
       "%s (%s): bl %u tee %u snp %u ucode %u fmc %u", hex,
       turin ? "Turin" : "Milan/Genoa", (unsigned) spl.bl,
       (unsigned) spl.tee, (unsigned) spl.snp, (unsigned) spl.ucode,
       (unsigned) spl.fmc);

    ok(ngx_http_thim_spl_to_tcbm(&spl, turin) == v, "%s round-trips", hex);

    ngx_http_thim_tcbm_print(out, v);
    ok(strlen(hex) != 16 || strncasecmp((char *) out, hex, 16) == 0,
       "%s prints back", hex);
}


int
main(void)
{
    uint64_t  v;

    /* real Milan (THIM capture), Genoa, Milan; real and synthetic Turin */
    decodes("7308000000000003", 0, 3, 0, 8, 115, 0);
    decodes("541700000000000a", 0, 10, 0, 23, 84, 0);
    decodes("4405000000000002", 0, 2, 0, 5, 68, 0);
    decodes("0900000000000000", 1, 0, 0, 0, 9, 0);
    decodes("4A00000004030201", 1, 2, 3, 4, 74, 1);

    /* the same string read with the wrong layout is something else */
    {
        ngx_http_thim_spl_t  spl;

        ngx_http_thim_tcbm_to_spl(0x4A00000004030201ULL, 0, &spl);
        ok(spl.bl == 1 && spl.tee == 2 && spl.snp == 0 && spl.ucode == 74,
           "a Turin value read with the Milan layout: bl 1 tee 2 snp 0");
    }

    /* Azure's ACC cache: no leading zeros */
    ok(ngx_http_thim_tcbm_parse((u_char *) "3", 1, &v) == NGX_OK && v == 3,
       "one digit");
    ok(ngx_http_thim_tcbm_parse((u_char *) "", 0, &v) == NGX_ERROR,
       "empty refused");
    ok(ngx_http_thim_tcbm_parse((u_char *) "17308000000000003", 17, &v)
       == NGX_ERROR, "17 digits refused");
    ok(ngx_http_thim_tcbm_parse((u_char *) "73080000000000g3", 16, &v)
       == NGX_ERROR, "non-hex refused");

    /* the canonical KDS query, as the module sends it */
    {
        u_char               q[NGX_HTTP_THIM_SPL_QUERY_LEN], *e;
        ngx_http_thim_spl_t  spl;

        ngx_http_thim_tcbm_to_spl(0x7308000000000003ULL, 0, &spl);
        e = ngx_http_thim_spl_query(q, &spl, 0);
        is_str(q, (size_t) (e - q), "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
               "Milan query");

        ngx_http_thim_tcbm_to_spl(0x4A00000004030201ULL, 1, &spl);
        e = ngx_http_thim_spl_query(q, &spl, 1);
        is_str(q, (size_t) (e - q),
               "fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=74",
               "Turin query, fmcSPL first");

        spl.fmc = spl.bl = spl.tee = spl.snp = spl.ucode = 255;
        e = ngx_http_thim_spl_query(q, &spl, 1);
        ok((size_t) (e - q) == NGX_HTTP_THIM_SPL_QUERY_LEN,
           "the longest query fits exactly");
    }

    /* hwid shapes */
    {
        char    id[129], *reason;
        size_t  len;

        memset(id, 'a', 128);
        id[128] = '\0';
        len = 128;
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 0, &reason)
           == NGX_OK && len == 128, "a Milan hwid of 128 hex");

        len = 16;
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 0, &reason)
           == NGX_DECLINED, "16 hex is not a Milan hwid");
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 1, &reason)
           == NGX_OK, "16 hex is a Turin hwid");

        memset(id + 16, '0', 112);
        len = 128;
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 1, &reason)
           == NGX_OK && len == 16, "a zero-padded Turin CHIP_ID shortens");

        memset(id, '0', 128);
        len = 128;
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 0, &reason)
           == NGX_DECLINED, "an all-zero CHIP_ID names no chip");

        id[5] = 'x';
        ok(ngx_http_thim_hwid_check((u_char *) id, &len, 0, &reason)
           == NGX_DECLINED, "non-hex refused");
    }

    return done_testing();
}
