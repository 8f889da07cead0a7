
/*
 * ngx_thim: AMD TCB_VERSION ("tcbm") and the SPL values KDS is asked for.
 *
 * TCB_VERSION is a little-endian u64 in the SNP report; THIM, CCF and
 * hcsshim print it as 16 hex digits, most significant byte first.  Which
 * byte holds which SPL depends on the product (PROTOCOLS.md 3):
 *
 *   byte          7      6     5    4    3     2     1     0
 *   Milan/Genoa   ucode  snp   -    -    -     -     tee   bl
 *   Turin         ucode  -     -    -    snp   tee   bl    fmc
 *
 * KDS names a chip by its CHIP_ID (hwid) and a TCB by its SPLs in a
 * query of one canonical spelling, the one ngx_thim sends and thimctl
 * bundles.  Pure: no nginx runtime.
 */


#ifndef _NGX_THIM_TCBM_H_INCLUDED_
#define _NGX_THIM_TCBM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_uint_t                 bl;
    ngx_uint_t                 tee;
    ngx_uint_t                 snp;
    ngx_uint_t                 ucode;
    ngx_uint_t                 fmc;             /* Turin only */
} ngx_http_thim_spl_t;


#define NGX_HTTP_THIM_CHIP_ID_HEX      128      /* 64-byte CHIP_ID */
#define NGX_HTTP_THIM_TURIN_HWID_HEX   16       /* its first 8 bytes */

/* "fmcSPL=255&blSPL=255&teeSPL=255&snpSPL=255&ucodeSPL=255" */
#define NGX_HTTP_THIM_SPL_QUERY_LEN                                           \
    (sizeof("fmcSPL=&blSPL=&teeSPL=&snpSPL=&ucodeSPL=") - 1 + 5 * 3)


void ngx_http_thim_tcbm_to_spl(uint64_t tcbm, ngx_uint_t turin,
    ngx_http_thim_spl_t *spl);
uint64_t ngx_http_thim_spl_to_tcbm(ngx_http_thim_spl_t *spl,
    ngx_uint_t turin);
ngx_int_t ngx_http_thim_tcbm_parse(u_char *p, size_t len, uint64_t *tcbm);
u_char *ngx_http_thim_tcbm_print(u_char *dst, uint64_t tcbm);
ngx_int_t ngx_http_thim_hwid_check(u_char *p, size_t *len, ngx_uint_t turin,
    char **reason);
u_char *ngx_http_thim_spl_query(u_char *dst, ngx_http_thim_spl_t *spl,
    ngx_uint_t turin);


#endif /* _NGX_THIM_TCBM_H_INCLUDED_ */
