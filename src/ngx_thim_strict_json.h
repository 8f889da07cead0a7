
/*
 * ngx_thim: one strict reading of the JSON an origin sends (pure).
 *
 * Verifying a signature over some bytes and then believing another
 * parser's reading of the whole body lets the two disagree: a second
 * member of the same name, a member name spelled with an escape, a
 * document after the document.  So every origin JSON is first checked
 * here against RFC 8259 with nothing left to interpretation: one value,
 * whitespace around it and nothing else, valid UTF-8, no NUL or control
 * byte, no byte order mark, no member name written with a backslash, no
 * member name twice in any object, at any depth.  Then only the bytes
 * that are signed are parsed for the fields the module uses.
 */


#ifndef _NGX_THIM_STRICT_JSON_H_INCLUDED_
#define _NGX_THIM_STRICT_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* deeper nesting than any Intel document has */
#define NGX_HTTP_THIM_JSON_DEPTH  32


ngx_int_t ngx_http_thim_json_strict(u_char *p, size_t len, char **reason);
ngx_int_t ngx_http_thim_json_signed(u_char *body, size_t len, char *key,
    u_char **value, size_t *value_len, u_char **sig, size_t *sig_len,
    char **reason);


#endif /* _NGX_THIM_STRICT_JSON_H_INCLUDED_ */
