
/*
 * A minimal TAP producer for the C unit tests: prove reads the output.
 */


#ifndef _NGX_THIM_TAP_H_INCLUDED_
#define _NGX_THIM_TAP_H_INCLUDED_


#include <stdio.h>
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


#endif /* _NGX_THIM_TAP_H_INCLUDED_ */
