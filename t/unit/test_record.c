
/*
 * Unit tests: the cached record blob (src/ngx_thim_record.c).
 */


#include "tap.h"
#include "ngx_thim_record.c"


static size_t
make(u_char *buf, ngx_http_thim_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));

    rec->status = 200;
    ngx_str_set(&rec->content_type, "application/json");
    ngx_str_set(&rec->names[0], "SGX-Enclave-Identity-Issuer-Chain");
    ngx_str_set(&rec->values[0], "-----BEGIN%20CERTIFICATE-----%0A");
    ngx_str_set(&rec->names[1], "X-Empty");
    ngx_str_set(&rec->values[1], "");
    rec->nheaders = 2;
    ngx_str_set(&rec->body, "{\"enclaveIdentity\":{},\"signature\":\"00\"}");

    return ngx_http_thim_record_write(buf, rec) - buf;
}


int
main(void)
{
    u_char                  buf[512], copy[512];
    size_t                  len, i, bad;
    ngx_str_t              *v;
    ngx_http_thim_record_t  rec, out;

    len = make(buf, &rec);

    ok(len == ngx_http_thim_record_size(&rec), "size matches what is written");
    ok(ngx_http_thim_record_read(buf, len, &out) == NGX_OK, "reads back");
    ok(out.status == 200, "status");
    is_str(out.content_type.data, out.content_type.len, "application/json",
           "content type");
    ok(out.nheaders == 2, "header count");
    is_str(out.values[0].data, out.values[0].len,
           "-----BEGIN%20CERTIFICATE-----%0A", "header value byte for byte");
    ok(out.values[1].len == 0, "empty value kept as empty");
    is_str(out.body.data, out.body.len,
           "{\"enclaveIdentity\":{},\"signature\":\"00\"}", "body");

    v = ngx_http_thim_record_header(&out,
                            (u_char *) "sgx-enclave-identity-issuer-chain",
                            sizeof("sgx-enclave-identity-issuer-chain") - 1);
    ok(v == &out.values[0], "header lookup is case-insensitive");
    ok(ngx_http_thim_record_header(&out, (u_char *) "nope", 4) == NULL,
       "absent header");

    /* every truncation is refused, never read past */
    bad = 0;
    for (i = 0; i < len; i++) {
        memcpy(copy, buf, i);
        if (ngx_http_thim_record_read(copy, i, &out) != NGX_ERROR) {
            bad++;
        }
    }
    ok(bad == 0, "all %zu truncations refused", len);

    memcpy(copy, buf, len);
    copy[len] = 'x';
    ok(ngx_http_thim_record_read(copy, len + 1, &out) == NGX_ERROR,
       "trailing garbage refused");

    memcpy(copy, buf, len);
    copy[0] = 2;
    ok(ngx_http_thim_record_read(copy, len, &out) == NGX_ERROR,
       "unknown version refused");

    memcpy(copy, buf, len);
    copy[1] = NGX_HTTP_THIM_RECORD_MAX_HEADERS + 1;
    ok(ngx_http_thim_record_read(copy, len, &out) == NGX_ERROR,
       "too many headers refused");

    /* a length field blown up to 4G must not wrap or overread */
    memcpy(copy, buf, len);
    copy[6] = copy[7] = copy[8] = copy[9] = 0xff;
    ok(ngx_http_thim_record_read(copy, len, &out) == NGX_ERROR,
       "huge body length refused");

    /* flip every byte of the length area: either refused or consistent */
    bad = 0;
    for (i = 0; i < 22; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= 0x5a;
        if (ngx_http_thim_record_read(copy, len, &out) == NGX_OK
            && (size_t) (out.body.data + out.body.len - copy) != len)
        {
            bad++;
        }
    }
    ok(bad == 0, "no corrupted header yields a record reaching past the end");

    return done_testing();
}
