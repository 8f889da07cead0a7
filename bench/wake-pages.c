/*
 * make bench-pages: is it the machine?  Two processes share an anonymous
 * mapping of SIZE MB, as nginx's workers share a zone, and each has
 * touched every page of it (a worker that served the whole zone has).
 * One wakes the other, asleep in epoll_wait(), with a datagram on a unix
 * socket pair, as ngx_thim tells a worker that a fetch landed; the woken
 * one reads its clock as epoll_wait() returns, touches TOUCH random pages
 * (a lookup's share of the zone) and answers.  Printed: the wake-up
 * latency, send to return, over ROUNDS rounds a few milliseconds apart.
 *
 *     wake-pages size-mb rounds touch [huge]
 *
 * With "huge" the mapping is advised for transparent huge pages first,
 * as ngx_thim advises its zones; whether the kernel then uses them is
 * its shmem_enabled policy.  No nginx and no ngx_thim code runs here:
 * what grows with the mapping's size is the machine's.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>


#define PAGE  4096


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
by_value(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* the mapping's pages, one byte each: mapped in this process */
static unsigned long
touch_all(volatile unsigned char *m, size_t size)
{
    size_t         i;
    unsigned long  sum;

    sum = 0;

    for (i = 0; i < size; i += PAGE) {
        sum += m[i]++;
    }

    return sum;
}


static unsigned long
touch_random(volatile unsigned char *m, size_t size, int n)
{
    unsigned long  sum;

    sum = 0;

    while (n--) {
        sum += m[((size_t) random() * PAGE) % size];
    }

    return sum;
}


/* the woken side: stamps the return of epoll_wait() into lat[] */
static int
sleeper(int fd, volatile unsigned char *m, size_t size, int rounds,
    int touch, double *lat)
{
    int                 ep, i;
    char                c;
    double              sent, woke;
    unsigned long       sum;
    struct epoll_event  ev, out;

    sum = touch_all(m, size);

    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.fd = fd;

    if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        return 1;
    }

    c = 1;
    if (send(fd, &c, 1, 0) != 1) {               /* ready */
        return 1;
    }

    for (i = 0; i < rounds; i++) {
        if (epoll_wait(ep, &out, 1, -1) != 1) {
            return 1;
        }

        woke = now_us();
        sum += touch_random(m, size, touch);

        if (recv(fd, &sent, sizeof(sent), 0) != sizeof(sent)) {
            return 1;
        }

        lat[i] = woke - sent;

        if (send(fd, &c, 1, 0) != 1) {
            return 1;
        }
    }

    return sum == 0;                             /* keeps the reads */
}


int
main(int argc, char **argv)
{
    int                      sv[2], rounds, touch, i, over, status;
    char                     c;
    pid_t                    pid;
    size_t                   size;
    double                  *lat, t0;
    volatile unsigned char  *m;

    if (argc < 4) {
        fprintf(stderr, "usage: wake-pages size-mb rounds touch [huge]\n");
        return 2;
    }

    size = (size_t) atol(argv[1]) << 20;
    rounds = atoi(argv[2]);
    touch = atoi(argv[3]);

    if (size == 0 || rounds <= 0 || touch < 0) {
        fprintf(stderr, "wake-pages: bad arguments\n");
        return 2;
    }

    m = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS,
             -1, 0);
    lat = mmap(NULL, rounds * sizeof(double), PROT_READ|PROT_WRITE,
               MAP_SHARED|MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED || lat == MAP_FAILED
        || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
    {
        perror("wake-pages");
        return 1;
    }

    if (argc > 4 && strcmp(argv[4], "huge") == 0
        && madvise((void *) m, size, MADV_HUGEPAGE) == -1)
    {
        perror("madvise");
    }

    (void) touch_all(m, size);

    pid = fork();

    if (pid == -1) {
        perror("fork");
        return 1;
    }

    if (pid == 0) {
        _exit(sleeper(sv[1], m, size, rounds, touch, lat));
    }

    if (recv(sv[0], &c, 1, 0) != 1) {            /* the sleeper is ready */
        return 1;
    }

    srandom(1);

    for (i = 0; i < rounds; i++) {
        usleep(1000 + random() % 4000);          /* it sleeps again */
        (void) touch_random(m, size, touch);

        t0 = now_us();

        if (send(sv[0], &t0, sizeof(t0), 0) != sizeof(t0)
            || recv(sv[0], &c, 1, 0) != 1)
        {
            return 1;
        }
    }

    if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
    {
        fprintf(stderr, "wake-pages: the sleeper failed\n");
        return 1;
    }

    qsort(lat, rounds, sizeof(double), by_value);

    for (over = 0, i = 0; i < rounds; i++) {
        over += lat[i] > 2000;
    }

    printf("| %zu MB | %s | %.0f | %.0f | %.0f | %.0f | %d of %d |\n",
           size >> 20, argc > 4 ? argv[4] : "4K", lat[rounds / 2],
           lat[rounds * 99 / 100], lat[rounds * 999 / 1000],
           lat[rounds - 1], over, rounds);

    return 0;
}
