
/*
 * ngx_thim: AMD TCB_VERSION <-> SPL values (pure; see ngx_thim_tcbm.h).
 */


#include "ngx_thim_args.h"
#include "ngx_thim_tcbm.h"


#define ngx_http_thim_byte(v, n)   (((v) >> (8 * (n))) & 0xff)


static u_char *ngx_http_thim_spl_arg(u_char *dst, char *name, ngx_uint_t v);


void
ngx_http_thim_tcbm_to_spl(uint64_t tcbm, ngx_uint_t turin,
    ngx_http_thim_spl_t *spl)
{
    spl->ucode = ngx_http_thim_byte(tcbm, 7);

    if (turin) {
        spl->fmc = ngx_http_thim_byte(tcbm, 0);
        spl->bl = ngx_http_thim_byte(tcbm, 1);
        spl->tee = ngx_http_thim_byte(tcbm, 2);
        spl->snp = ngx_http_thim_byte(tcbm, 3);

    } else {
        spl->fmc = 0;
        spl->bl = ngx_http_thim_byte(tcbm, 0);
        spl->tee = ngx_http_thim_byte(tcbm, 1);
        spl->snp = ngx_http_thim_byte(tcbm, 6);
    }
}


/* reserved bytes are zero; values above 255 are the caller's error */

uint64_t
ngx_http_thim_spl_to_tcbm(ngx_http_thim_spl_t *spl, ngx_uint_t turin)
{
    uint64_t  v;

    v = (uint64_t) (spl->ucode & 0xff) << 56;

    if (turin) {
        v |= (uint64_t) (spl->snp & 0xff) << 24
             | (uint64_t) (spl->tee & 0xff) << 16
             | (uint64_t) (spl->bl & 0xff) << 8
             | (uint64_t) (spl->fmc & 0xff);

    } else {
        v |= (uint64_t) (spl->snp & 0xff) << 48
             | (uint64_t) (spl->tee & 0xff) << 8
             | (uint64_t) (spl->bl & 0xff);
    }

    return v;
}


/*
 * 1 to 16 hex digits, any case: THIM prints 16, Azure's ACC cache prints
 * Go's strconv.FormatUint(tcb, 16), without leading zeros.
 */

ngx_int_t
ngx_http_thim_tcbm_parse(u_char *p, size_t len, uint64_t *tcbm)
{
    u_char    c;
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > 16) {
        return NGX_ERROR;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        c = ngx_tolower(p[i]);

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint64_t) (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = (v << 4) | (uint64_t) (c - 'a' + 10);

        } else {
            return NGX_ERROR;
        }
    }

    *tcbm = v;

    return NGX_OK;
}


/* 16 upper-case hex digits, as THIM's "tcbm" */

u_char *
ngx_http_thim_tcbm_print(u_char *dst, uint64_t tcbm)
{
    ngx_uint_t     i;
    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < 16; i++) {
        *dst++ = hex[(tcbm >> (60 - 4 * i)) & 0xf];
    }

    return dst;
}


/*
 * hwid: the 64-byte CHIP_ID as 128 hex digits; Turin's KDS wants its
 * first 8 bytes only, and a full CHIP_ID whose other bytes are zero (as
 * Turin reports it) is shortened to that (*len changes).  An all-zero
 * CHIP_ID (a masked one, from a VLEK-signed report) names no chip.
 */

ngx_int_t
ngx_http_thim_hwid_check(u_char *p, size_t *len, ngx_uint_t turin,
    char **reason)
{
    size_t  i;

    if (!ngx_http_thim_is_hex(p, *len)) {
        *reason = "hwid must be hexadecimal";
        return NGX_DECLINED;
    }

    if (turin && *len == NGX_HTTP_THIM_CHIP_ID_HEX) {
        for (i = NGX_HTTP_THIM_TURIN_HWID_HEX; i < *len; i++) {
            if (p[i] != '0') {
                break;
            }
        }

        if (i == *len) {
            *len = NGX_HTTP_THIM_TURIN_HWID_HEX;
        }
    }

    if (*len != (turin ? NGX_HTTP_THIM_TURIN_HWID_HEX
                       : NGX_HTTP_THIM_CHIP_ID_HEX))
    {
        *reason = turin ? "a Turin hwid is 16 hexadecimal digits"
                        : "hwid must be 128 hexadecimal digits";
        return NGX_DECLINED;
    }

    for (i = 0; i < *len; i++) {
        if (p[i] != '0') {
            return NGX_OK;
        }
    }

    *reason = "an all-zero CHIP_ID names no chip";

    return NGX_DECLINED;
}


/*
 * The canonical KDS query of a TCB: unpadded decimals in KDS's order,
 * fmcSPL first on Turin; at most NGX_HTTP_THIM_SPL_QUERY_LEN bytes for
 * SPLs of at most 255.
 */

u_char *
ngx_http_thim_spl_query(u_char *dst, ngx_http_thim_spl_t *spl,
    ngx_uint_t turin)
{
    if (turin) {
        dst = ngx_http_thim_spl_arg(dst, "fmcSPL=", spl->fmc);
        *dst++ = '&';
    }

    dst = ngx_http_thim_spl_arg(dst, "blSPL=", spl->bl);
    *dst++ = '&';
    dst = ngx_http_thim_spl_arg(dst, "teeSPL=", spl->tee);
    *dst++ = '&';
    dst = ngx_http_thim_spl_arg(dst, "snpSPL=", spl->snp);
    *dst++ = '&';

    return ngx_http_thim_spl_arg(dst, "ucodeSPL=", spl->ucode);
}


/* ngx_sprintf lives in a .c file of nginx: this one stays pure */

static u_char *
ngx_http_thim_spl_arg(u_char *dst, char *name, ngx_uint_t v)
{
    v &= 0xff;

    dst = ngx_cpymem(dst, name, ngx_strlen(name));

    if (v >= 100) {
        *dst++ = (u_char) ('0' + v / 100);
    }

    if (v >= 10) {
        *dst++ = (u_char) ('0' + v / 10 % 10);
    }

    *dst++ = (u_char) ('0' + v % 10);

    return dst;
}
