
/*
 * thimctl: writing a bundle (docs/bundle.md, format version 1).
 *
 * Bodies are written byte for byte as the origin sent them, each under a
 * temporary name then renamed, and index.json last, the same way: a
 * bundle directory never holds an index naming a half-written file, and
 * a run that fails leaves any earlier index intact.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "thimctl.h"


/* the origin headers ngx_thim keeps (docs/bundle.md), as it spells them */
static char  *thimctl_kept_headers[] = {
    "TCB-Info-Issuer-Chain",
    "SGX-TCB-Info-Issuer-Chain",
    "SGX-Enclave-Identity-Issuer-Chain",
    "TCB-Evaluation-Data-Numbers-Issuer-Chain",
    "SGX-PCK-CRL-Issuer-Chain",
    "SGX-PCK-Certificate-Issuer-Chain",
    "SGX-FMSPC",
    "SGX-PCK-Certificate-CA-Type",
    NULL
};


static int thimctl_mkdirs(char *dir, char *rel);
static int thimctl_write_file(char *path, const void *data, size_t len);
static void thimctl_sha256_hex(const void *data, size_t len, char *hex);
static json_t *thimctl_bundle_headers(thimctl_entry_t *e,
    thimctl_response_t *res);


int
thimctl_bundle_open(thimctl_bundle_t *b, char *dir, char **error)
{
    b->dir = dir;
    b->entries = json_array();

    if (b->entries == NULL) {
        *error = "out of memory";
        return -1;
    }

    if (thimctl_mkdirs(dir, NULL) != 0) {
        json_decref(b->entries);
        *error = strerror(errno);
        return -1;
    }

    return 0;
}


/* the body to its file, and its entry to the index (still in memory) */

int
thimctl_bundle_add(thimctl_bundle_t *b, thimctl_entry_t *e,
    thimctl_response_t *res, char **error)
{
    int      rc;
    char     path[4096], hex[65], when[32];
    json_t  *entry;

    if (snprintf(path, sizeof(path), "%s/%s", b->dir, e->file)
        >= (int) sizeof(path))
    {
        *error = "the bundle path is too long";
        return -1;
    }

    if (thimctl_mkdirs(b->dir, e->file) != 0
        || thimctl_write_file(path, res->body, res->len) != 0)
    {
        *error = strerror(errno);
        return -1;
    }

    thimctl_sha256_hex(res->body, res->len, hex);

    entry = json_object();
    if (entry == NULL) {
        *error = "out of memory";
        return -1;
    }

    rc = json_object_set_new(entry, "origin", json_string(e->origin))
         | json_object_set_new(entry, "path", json_string(e->path))
         | (e->query ? json_object_set_new(entry, "query",
                                           json_string(e->query))
                     : 0)
         | json_object_set_new(entry, "file", json_string(e->file))
         | json_object_set_new(entry, "sha256", json_string(hex))
         | json_object_set_new(entry, "fetched",
                               json_string(thimctl_iso8601(res->answered,
                                                           when,
                                                           sizeof(when))))
         | json_object_set_new(entry, "headers",
                               thimctl_bundle_headers(e, res))
         | (e->qeid ? json_object_set_new(entry, "qeid", json_string(e->qeid))
                    : 0)
         | json_array_append_new(b->entries, entry);

    if (rc != 0) {
        *error = "out of memory";
        return -1;
    }

    return 0;
}


int
thimctl_bundle_close(thimctl_bundle_t *b, char **error)
{
    int      rc;
    char     path[4096], when[32], *text;
    json_t  *index;

    index = json_object();

    if (index == NULL
        || json_object_set_new(index, "format",
                               json_string("ngx_thim-bundle")) != 0
        || json_object_set_new(index, "version", json_integer(1)) != 0
        || json_object_set_new(index, "created",
                               json_string(thimctl_iso8601(time(NULL), when,
                                                           sizeof(when))))
           != 0
        || json_object_set_new(index, "generator",
                               json_string("thimctl " THIMCTL_VERSION)) != 0
        || json_object_set(index, "entries", b->entries) != 0)
    {
        json_decref(index);
        json_decref(b->entries);
        *error = "out of memory";
        return -1;
    }

    text = json_dumps(index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(index);
    json_decref(b->entries);
    b->entries = NULL;

    if (text == NULL) {
        *error = "out of memory";
        return -1;
    }

    snprintf(path, sizeof(path), "%s/index.json", b->dir);

    rc = thimctl_write_file(path, text, strlen(text));

    free(text);

    if (rc != 0) {
        *error = strerror(errno);
        return -1;
    }

    return 0;
}


char *
thimctl_iso8601(time_t t, char *buf, size_t size)
{
    struct tm  tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);

    return buf;
}


/* values as sent: issuer chains stay percent-encoded */

static json_t *
thimctl_bundle_headers(thimctl_entry_t *e, thimctl_response_t *res)
{
    char    **name, *value;
    json_t   *headers;

    headers = json_object();

    /* Intel's root CRL host and KDS send none the module keeps */
    if (headers == NULL || strcmp(e->origin, "intel") != 0) {
        return headers;
    }

    for (name = thimctl_kept_headers; *name; name++) {
        value = thimctl_response_header(res, *name);

        if (value && *value) {
            json_object_set_new(headers, *name, json_string(value));
        }
    }

    return headers;
}


/* mkdir -p of dir, and of the directory of the relative file name rel */

static int
thimctl_mkdirs(char *dir, char *rel)
{
    char    path[4096], *slash, *last;
    size_t  len;

    len = rel ? snprintf(path, sizeof(path), "%s/%s", dir, rel)
              : snprintf(path, sizeof(path), "%s/", dir);

    if (len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }

    last = strrchr(path, '/');

    for (slash = path + 1; slash <= last; slash++) {
        if (*slash != '/') {
            continue;
        }

        *slash = '\0';

        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return -1;
        }

        *slash = '/';
    }

    return 0;
}


static int
thimctl_write_file(char *path, const void *data, size_t len)
{
    int      fd, saved;
    char     tmp[4200];
    size_t   done;
    ssize_t  n;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long) getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1) {
        return -1;
    }

    for (done = 0; done < len; done += n) {
        n = write(fd, (const char *) data + done, len - done);

        if (n <= 0) {
            saved = errno;
            close(fd);
            unlink(tmp);
            errno = saved;
            return -1;
        }
    }

    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }

    return 0;
}


static void
thimctl_sha256_hex(const void *data, size_t len, char *hex)
{
    unsigned char  md[32];
    unsigned int   n, i;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }
}
