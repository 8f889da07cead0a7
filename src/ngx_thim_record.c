
/*
 * ngx_thim: record blob encoding (pure; see ngx_thim_record.h).
 */


#include "ngx_thim_record.h"


#define NGX_HTTP_THIM_RECORD_FIXED     10
#define NGX_HTTP_THIM_RECORD_PER_HDR   6


static u_char *ngx_http_thim_put16(u_char *p, ngx_uint_t v);
static u_char *ngx_http_thim_put32(u_char *p, size_t v);
static ngx_uint_t ngx_http_thim_get16(u_char *p);
static size_t ngx_http_thim_get32(u_char *p);


size_t
ngx_http_thim_record_size(ngx_http_thim_record_t *rec)
{
    size_t      size;
    ngx_uint_t  i;

    size = NGX_HTTP_THIM_RECORD_FIXED + rec->content_type.len + rec->body.len;

    for (i = 0; i < rec->nheaders; i++) {
        size += NGX_HTTP_THIM_RECORD_PER_HDR
                + rec->names[i].len + rec->values[i].len;
    }

    return size;
}


/*
 * The caller sized the buffer with ngx_http_thim_record_size() and keeps
 * every length within its field (names and the content type under 64K,
 * values and bodies under 4G): origin answers are bounded far below that
 * by subrequest_output_buffer_size and the header buffers.
 */

u_char *
ngx_http_thim_record_write(u_char *p, ngx_http_thim_record_t *rec)
{
    ngx_uint_t  i;

    *p++ = NGX_HTTP_THIM_RECORD_VERSION;
    *p++ = (u_char) rec->nheaders;
    p = ngx_http_thim_put16(p, rec->status);
    p = ngx_http_thim_put16(p, rec->content_type.len);
    p = ngx_http_thim_put32(p, rec->body.len);

    for (i = 0; i < rec->nheaders; i++) {
        p = ngx_http_thim_put16(p, rec->names[i].len);
        p = ngx_http_thim_put32(p, rec->values[i].len);
    }

    p = ngx_cpymem(p, rec->content_type.data, rec->content_type.len);

    for (i = 0; i < rec->nheaders; i++) {
        p = ngx_cpymem(p, rec->names[i].data, rec->names[i].len);
        p = ngx_cpymem(p, rec->values[i].data, rec->values[i].len);
    }

    return ngx_cpymem(p, rec->body.data, rec->body.len);
}


/*
 * Points rec's strings into p.  Every length is checked against what is
 * left, so a truncated or corrupt blob (a damaged snapshot, say) is an
 * error and never a read past the end.
 */

ngx_int_t
ngx_http_thim_record_read(u_char *p, size_t len, ngx_http_thim_record_t *rec)
{
    u_char      *last, *lens;
    size_t       need;
    ngx_uint_t   i;

    if (len < NGX_HTTP_THIM_RECORD_FIXED
        || p[0] != NGX_HTTP_THIM_RECORD_VERSION
        || p[1] > NGX_HTTP_THIM_RECORD_MAX_HEADERS)
    {
        return NGX_ERROR;
    }

    last = p + len;

    rec->nheaders = p[1];
    rec->status = ngx_http_thim_get16(p + 2);
    rec->content_type.len = ngx_http_thim_get16(p + 4);
    rec->body.len = ngx_http_thim_get32(p + 6);

    lens = p + NGX_HTTP_THIM_RECORD_FIXED;
    p = lens + rec->nheaders * NGX_HTTP_THIM_RECORD_PER_HDR;

    if (p > last) {
        return NGX_ERROR;
    }

    need = rec->content_type.len + rec->body.len;

    for (i = 0; i < rec->nheaders; i++) {
        rec->names[i].len = ngx_http_thim_get16(lens);
        rec->values[i].len = ngx_http_thim_get32(lens + 2);
        lens += NGX_HTTP_THIM_RECORD_PER_HDR;

        need += rec->names[i].len + rec->values[i].len;
    }

    if (need != (size_t) (last - p)) {
        return NGX_ERROR;
    }

    rec->content_type.data = p;
    p += rec->content_type.len;

    for (i = 0; i < rec->nheaders; i++) {
        rec->names[i].data = p;
        p += rec->names[i].len;
        rec->values[i].data = p;
        p += rec->values[i].len;
    }

    rec->body.data = p;

    return NGX_OK;
}


/* a stored header by name, case-insensitively; NULL when absent */

ngx_str_t *
ngx_http_thim_record_header(ngx_http_thim_record_t *rec, u_char *name,
    size_t len)
{
    size_t      j;
    ngx_uint_t  i;

    for (i = 0; i < rec->nheaders; i++) {

        if (rec->names[i].len != len) {
            continue;
        }

        for (j = 0; j < len; j++) {
            if (ngx_tolower(rec->names[i].data[j]) != ngx_tolower(name[j])) {
                break;
            }
        }

        if (j == len) {
            return &rec->values[i];
        }
    }

    return NULL;
}


static u_char *
ngx_http_thim_put16(u_char *p, ngx_uint_t v)
{
    *p++ = (u_char) (v & 0xff);
    *p++ = (u_char) ((v >> 8) & 0xff);

    return p;
}


static u_char *
ngx_http_thim_put32(u_char *p, size_t v)
{
    *p++ = (u_char) (v & 0xff);
    *p++ = (u_char) ((v >> 8) & 0xff);
    *p++ = (u_char) ((v >> 16) & 0xff);
    *p++ = (u_char) ((v >> 24) & 0xff);

    return p;
}


static ngx_uint_t
ngx_http_thim_get16(u_char *p)
{
    return (ngx_uint_t) p[0] | ((ngx_uint_t) p[1] << 8);
}


static size_t
ngx_http_thim_get32(u_char *p)
{
    return (size_t) p[0] | ((size_t) p[1] << 8) | ((size_t) p[2] << 16)
           | ((size_t) p[3] << 24);
}
