
/*
 * thimctl: GETs with libcurl.
 *
 * Origins fail in ordinary ways (PROTOCOLS.md 4: transient 5xx at KDS,
 * 429 at PCS), so a GET is retried, a bounded number of times, on a
 * transport error or a 5xx, after an exponential back-off with full
 * jitter (clients retrying in step is what makes an outage worse), and
 * on a 429 after the origin's own Retry-After, capped by --max-wait.
 * Anything else is an answer and is returned as it is.
 *
 * One easy handle is reused: its connection cache keeps the TLS session
 * to the origin alive across the many small requests of a bundle.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "thimctl.h"


#define THIMCTL_MAX_BODY        (16 * 1024 * 1024)
#define THIMCTL_MAX_DELAY_MS    30000


static size_t thimctl_http_body(char *p, size_t size, size_t n, void *data);
static size_t thimctl_http_header(char *p, size_t size, size_t n,
    void *data);
static void thimctl_http_headers_reset(thimctl_response_t *res);
static int thimctl_http_once(thimctl_http_t *http, char *url,
    struct curl_slist *hdrs, thimctl_response_t *res);
static void thimctl_http_error(thimctl_response_t *res, CURLcode rc,
    char *detail);
static unsigned thimctl_http_delay(thimctl_http_t *http, unsigned attempt,
    thimctl_response_t *res);


int
thimctl_http_init(thimctl_http_t *http)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return -1;
    }

    http->curl = curl_easy_init();

    return http->curl ? 0 : -1;
}


void
thimctl_http_done(thimctl_http_t *http)
{
    if (http->curl) {
        curl_easy_cleanup(http->curl);
        http->curl = NULL;
    }

    curl_global_cleanup();
}


/*
 * 0 with res->status set when the server answered (any status, after the
 * retries), -1 with res->error when it never did.  secret_header, when
 * given, is sent and never appears in any message.
 */

int
thimctl_http_get(thimctl_http_t *http, char *url, char *secret_header,
    char *accept, thimctl_response_t *res)
{
    int                 rc;
    unsigned            attempt, delay;
    struct timespec     ts;
    struct curl_slist  *hdrs, *h;

    hdrs = curl_slist_append(NULL, accept ? accept : "Accept: */*");

    if (hdrs && secret_header) {
        h = curl_slist_append(hdrs, secret_header);

        if (h == NULL) {
            curl_slist_free_all(hdrs);
            hdrs = NULL;
        }
    }

    if (hdrs == NULL) {
        snprintf(res->error, sizeof(res->error), "out of memory");
        return -1;
    }

    for (attempt = 0; ; attempt++) {
        rc = thimctl_http_once(http, url, hdrs, res);

        if (rc == 0 && res->status != 429 && res->status < 500) {
            break;
        }

        if (attempt >= http->retries) {
            break;
        }

        delay = thimctl_http_delay(http, attempt, res);

        ts.tv_sec = delay / 1000;
        ts.tv_nsec = (long) (delay % 1000) * 1000000;

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
            /* the rest of the wait */
        }
    }

    /* libcurl copied the key into the list: wipe that copy */
    for (h = hdrs; h; h = h->next) {
        OPENSSL_cleanse(h->data, strlen(h->data));
    }

    curl_slist_free_all(hdrs);

    return rc;
}


void
thimctl_response_free(thimctl_response_t *res)
{
    free(res->body);
    res->body = NULL;
    res->len = 0;
    thimctl_http_headers_reset(res);
}


/* the first header of that name, any case; NULL if none */

char *
thimctl_response_header(thimctl_response_t *res, char *name)
{
    size_t  i;

    for (i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0) {
            return res->headers[i].value;
        }
    }

    return NULL;
}


static int
thimctl_http_once(thimctl_http_t *http, char *url, struct curl_slist *hdrs,
    thimctl_response_t *res)
{
    CURL      *c;
    char       detail[CURL_ERROR_SIZE];
    CURLcode   rc;

    c = http->curl;

    thimctl_response_free(res);
    res->status = 0;
    res->error[0] = '\0';
    detail[0] = '\0';

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "thimctl/" THIMCTL_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) http->timeout);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, thimctl_http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, thimctl_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, res);

    /* collateral origins never redirect (PROTOCOLS.md G3): nor do we */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);

    if (http->cacert) {
        curl_easy_setopt(c, CURLOPT_CAINFO, http->cacert);
    }

    rc = curl_easy_perform(c);

    res->answered = time(NULL);

    if (rc != CURLE_OK) {
        thimctl_http_error(res, rc, detail);
        res->status = 0;
        return -1;
    }

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);

    return 0;
}


static size_t
thimctl_http_body(char *p, size_t size, size_t n, void *data)
{
    thimctl_response_t *res = data;

    unsigned char  *b;

    n *= size;

    if (res->len + n > THIMCTL_MAX_BODY) {
        return 0;
    }

    b = realloc(res->body, res->len + n + 1);
    if (b == NULL) {
        return 0;
    }

    memcpy(b + res->len, p, n);
    res->body = b;
    res->len += n;
    b[res->len] = '\0';

    return n;
}


/* headers of the last response only: a status line starts a new set */

static size_t
thimctl_http_header(char *p, size_t size, size_t n, void *data)
{
    thimctl_response_t *res = data;

    char              *colon, *v, *end;
    size_t             len;
    thimctl_header_t  *h;

    len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        thimctl_http_headers_reset(res);
        return len;
    }

    colon = memchr(p, ':', len);

    if (colon == NULL || res->nheaders == THIMCTL_MAX_HEADERS) {
        return len;
    }

    end = p + len;

    while (end > colon + 1 && (end[-1] == '\r' || end[-1] == '\n')) {
        end--;
    }

    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
        /* skip */
    }

    h = &res->headers[res->nheaders];
    h->name = strndup(p, colon - p);
    h->value = strndup(v, end - v);

    if (h->name == NULL || h->value == NULL) {
        free(h->name);
        free(h->value);
        return 0;
    }

    res->nheaders++;

    return len;
}


static void
thimctl_http_headers_reset(thimctl_response_t *res)
{
    size_t  i;

    for (i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }

    res->nheaders = 0;
}


/* curl's words, and what the user can do about it */

static void
thimctl_http_error(thimctl_response_t *res, CURLcode rc, char *detail)
{
    char  *hint;

    switch (rc) {

    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        hint = "the server's certificate is not trusted: give its CA with "
               "--cacert FILE (PEM), or check the URL's host name";
        break;

    case CURLE_SSL_CONNECT_ERROR:
        hint = "the TLS handshake failed: is this an HTTPS server, and "
               "does it speak TLS 1.2 or later?";
        break;

    case CURLE_COULDNT_RESOLVE_HOST:
        hint = "the host name does not resolve: check the URL";
        break;

    case CURLE_COULDNT_CONNECT:
        hint = "nothing answers there: is the server running, and are the "
               "URL's host and port right?";
        break;

    case CURLE_OPERATION_TIMEDOUT:
        hint = "the server did not answer in time (--timeout)";
        break;

    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        hint = "the URL is not an http:// or https:// URL";
        break;

    case CURLE_WRITE_ERROR:
        hint = "the answer is larger than 16 MiB: not collateral";
        break;

    default:
        hint = "a transport error";
        break;
    }

    snprintf(res->error, sizeof(res->error), "%s%s%s (%s)",
             curl_easy_strerror(rc), detail[0] ? ": " : "", detail, hint);
}


/*
 * Milliseconds to wait before the next attempt: the origin's Retry-After
 * on a 429 (seconds, or an HTTP date), at most --max-wait; else base *
 * 2^attempt with full jitter.
 */

static unsigned
thimctl_http_delay(thimctl_http_t *http, unsigned attempt,
    thimctl_response_t *res)
{
    char      *ra, *end;
    long       seconds;
    unsigned   ms;

    ra = (res->status == 429) ? thimctl_response_header(res, "Retry-After")
                              : NULL;

    if (ra) {
        seconds = strtol(ra, &end, 10);

        if (end == ra || *end != '\0') {
            seconds = (long) (curl_getdate(ra, NULL) - time(NULL));
        }

        if (seconds >= 0) {
            if ((unsigned long) seconds > http->max_wait) {
                seconds = http->max_wait;
            }

            return (unsigned) seconds * 1000;
        }
    }

    ms = http->base_delay_ms << (attempt < 16 ? attempt : 16);

    if (ms > THIMCTL_MAX_DELAY_MS) {
        ms = THIMCTL_MAX_DELAY_MS;
    }

    return (unsigned) (random() % (ms + 1));
}
