
/*
 * thimctl status: the module's JSON status (thim_status;, see
 * src/ngx_thim_status.c) as a table for people: one row per figure, one
 * column per zone, so that several zones read side by side.
 *
 *   {"version":1,"time":T,"zones":{"<name>":{"size":N,"free":N,"used":N,
 *    "entries":N,"record_bytes":N,"hits":N,"misses":N,"stale":N,
 *    "waits":N,"fetches":N,"results":{"ok":N,...},"held_off":N,
 *    "evictions":N,"holdoff":{"intel":T,"intel_root":T,"amd":T},
 *    "backoff":{"intel":N,"intel_root":N,"amd":N}}}}
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "thimctl.h"


#define THIMCTL_COLUMN          14
#define THIMCTL_LABEL           22


/* how a figure is shown */
typedef enum {
    THIMCTL_SHOW_NUMBER = 0,
    THIMCTL_SHOW_BYTES,
    THIMCTL_SHOW_USED,          /* bytes and share of the size */
    THIMCTL_SHOW_HOLDOFF        /* a unix time, 0 for none */
} thimctl_show_e;


typedef struct {
    char                      *label;
    char                      *key;
    char                      *sub;            /* member of an object */
    thimctl_show_e             show;
} thimctl_row_t;


static thimctl_row_t  thimctl_rows[] = {
    { "zone size", "size", NULL, THIMCTL_SHOW_BYTES },
    { "used", "used", NULL, THIMCTL_SHOW_USED },
    { "free", "free", NULL, THIMCTL_SHOW_BYTES },
    { "entries", "entries", NULL, THIMCTL_SHOW_NUMBER },
    { "record bytes", "record_bytes", NULL, THIMCTL_SHOW_BYTES },
    { "hits", "hits", NULL, THIMCTL_SHOW_NUMBER },
    { "misses", "misses", NULL, THIMCTL_SHOW_NUMBER },
    { "stale served", "stale", NULL, THIMCTL_SHOW_NUMBER },
    { "waits", "waits", NULL, THIMCTL_SHOW_NUMBER },
    { "evictions", "evictions", NULL, THIMCTL_SHOW_NUMBER },
    { "origin fetches", "fetches", NULL, THIMCTL_SHOW_NUMBER },
    { "  ok", "results", "ok", THIMCTL_SHOW_NUMBER },
    { "  not found", "results", "not_found", THIMCTL_SHOW_NUMBER },
    { "  gone", "results", "gone", THIMCTL_SHOW_NUMBER },
    { "  rate limited", "results", "rate_limited", THIMCTL_SHOW_NUMBER },
    { "  error", "results", "error", THIMCTL_SHOW_NUMBER },
    { "  timeout", "results", "timeout", THIMCTL_SHOW_NUMBER },
    { "  refused (invalid)", "results", "invalid", THIMCTL_SHOW_NUMBER },
    { "held off (429)", "held_off", NULL, THIMCTL_SHOW_NUMBER },
    { "hold-off intel", "holdoff", "intel", THIMCTL_SHOW_HOLDOFF },
    { "hold-off intel root", "holdoff", "intel_root", THIMCTL_SHOW_HOLDOFF },
    { "hold-off amd", "holdoff", "amd", THIMCTL_SHOW_HOLDOFF },
    { "backing off intel", "backoff", "intel", THIMCTL_SHOW_NUMBER },
    { "backing off intel root", "backoff", "intel_root",
      THIMCTL_SHOW_NUMBER },
    { "backing off amd", "backoff", "amd", THIMCTL_SHOW_NUMBER },
    { NULL, NULL, NULL, 0 }
};


static void thimctl_status_cell(json_t *zone, thimctl_row_t *row,
    time_t now, char *buf, size_t size);
static void thimctl_bytes(json_int_t n, char *buf, size_t size);


int
thimctl_status(thimctl_common_t *c, char *url)
{
    char                 cell[64], when[32];
    time_t               now;
    json_t              *root, *zones, *zone;
    const char          *name;
    json_error_t         err;
    thimctl_row_t       *row;
    thimctl_response_t   res;

    memset(&res, 0, sizeof(res));

    if (thimctl_http_get(&c->http, url, NULL, "Accept: application/json",
                         &res)
        != 0)
    {
        fprintf(stderr, "thimctl status: %s: %s\n", url, res.error);
        return THIMCTL_EXIT_UNREACHED;
    }

    if (res.status != 200) {
        fprintf(stderr, "thimctl status: %s: HTTP %ld (is it a thim_status "
                        "location, and allowed from here?)\n",
                url, res.status);
        thimctl_response_free(&res);
        return THIMCTL_EXIT_UNREACHED;
    }

    root = json_loadb((const char *) res.body, res.len, 0, &err);
    thimctl_response_free(&res);

    zones = json_object_get(root, "zones");

    if (!json_is_object(zones)
        || json_integer_value(json_object_get(root, "version")) != 1)
    {
        fprintf(stderr, "thimctl status: %s: not ngx_thim's JSON status "
                        "(version 1)\n", url);
        json_decref(root);
        return THIMCTL_EXIT_FAILED;
    }

    now = (time_t) json_integer_value(json_object_get(root, "time"));

    printf("%s at %s\n\n", url, thimctl_iso8601(now, when, sizeof(when)));

    printf("%-*s", THIMCTL_LABEL, "zone");

    json_object_foreach(zones, name, zone) {
        printf(" %*.*s", THIMCTL_COLUMN, THIMCTL_COLUMN, name);
    }

    printf("\n");

    for (row = thimctl_rows; row->label; row++) {
        printf("%-*s", THIMCTL_LABEL, row->label);

        json_object_foreach(zones, name, zone) {
            thimctl_status_cell(zone, row, now, cell, sizeof(cell));
            printf(" %*s", THIMCTL_COLUMN, cell);
        }

        printf("\n");
    }

    json_decref(root);

    return THIMCTL_EXIT_OK;
}


static void
thimctl_status_cell(json_t *zone, thimctl_row_t *row, time_t now, char *buf,
    size_t size)
{
    char        b[32];
    json_t     *v;
    json_int_t  n, total;

    v = json_object_get(zone, row->key);

    if (row->sub) {
        v = json_object_get(v, row->sub);
    }

    if (!json_is_integer(v)) {
        snprintf(buf, size, "-");
        return;
    }

    n = json_integer_value(v);

    switch (row->show) {

    case THIMCTL_SHOW_BYTES:
        thimctl_bytes(n, buf, size);
        break;

    case THIMCTL_SHOW_USED:
        total = json_integer_value(json_object_get(zone, "size"));
        thimctl_bytes(n, b, sizeof(b));
        snprintf(buf, size, "%s %lld%%", b,
                 total ? (long long) (n * 100 / total) : 0LL);
        break;

    case THIMCTL_SHOW_HOLDOFF:
        if (n <= now) {
            snprintf(buf, size, "none");

        } else {
            snprintf(buf, size, "%llds left", (long long) (n - now));
        }

        break;

    default:
        snprintf(buf, size, "%lld", (long long) n);
        break;
    }
}


static void
thimctl_bytes(json_int_t n, char *buf, size_t size)
{
    if (n >= 1024 * 1024) {
        snprintf(buf, size, "%.1f MiB", (double) n / (1024 * 1024));

    } else if (n >= 1024) {
        snprintf(buf, size, "%.1f KiB", (double) n / 1024);

    } else {
        snprintf(buf, size, "%lld B", (long long) n);
    }
}
