
/*
 * A minimal TAP producer for the C unit tests: prove reads the output.
 */


#ifndef _NGX_THIM_TAP_H_INCLUDED_
#define _NGX_THIM_TAP_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int  tap_n, tap_failed;


#define ok(cond, ...)                                                         \
    do {                                                                      \
        int  tap_c = (cond) ? 1 : 0;                                          \
        tap_n++;                                                              \
        if (!tap_c) {                                                         \
            tap_failed++;                                                     \
        }                                                                     \
        printf("%s %d - ", tap_c ? "ok" : "not ok", tap_n);                   \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        if (!tap_c) {                                                         \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);         \
        }                                                                     \
    } while (0)

#define is_str(got, glen, want, ...)                                          \
    ok((glen) == strlen(want) && memcmp((got), (want), (glen)) == 0,          \
       __VA_ARGS__)

#define done_testing()                                                        \
    (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)


/* a whole file, NUL-terminated past its length; 0 when it cannot be read */

static __attribute__((unused)) size_t
tap_slurp(char *path, unsigned char **buf)
{
    FILE  *f;
    long   n;

    *buf = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    *buf = malloc(n + 1);
    if (*buf == NULL || fread(*buf, 1, n, f) != (size_t) n) {
        fclose(f);
        return 0;
    }

    fclose(f);
    (*buf)[n] = '\0';

    return (size_t) n;
}


#endif /* _NGX_THIM_TAP_H_INCLUDED_ */
