/* futex in a single-threaded program, as glibc and musl call it: a wake
 * with nobody waiting, a wait on a word that changed, waits that time out
 * (relative, and absolute with FUTEX_WAIT_BITSET), one a signal ends, bad
 * arguments. Printed so the host (Linux) and Odonata can be compared. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* linux/futex.h's (musl's headers do not carry it). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff

static long futex(uint32_t *at, int op, uint32_t val, const struct timespec *t, uint32_t val3) {
    return syscall(SYS_futex, at, op, val, t, NULL, val3);
}

static void result(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

static void on_alarm(int sig) {
    (void)sig;
}

static long ms_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void) {
    static uint32_t word = 5;
    result("FUTEX_WAKE, nobody waits", futex(&word, FUTEX_WAKE, 1, NULL, 0));
    result("FUTEX_WAKE_PRIVATE", futex(&word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, 0));
    result("FUTEX_WAIT on a changed word", futex(&word, FUTEX_WAIT, 4, NULL, 0));
    result("FUTEX_WAIT misaligned", futex((uint32_t *)((char *)&word + 1), FUTEX_WAIT, 5, NULL, 0));
    result("FUTEX_WAKE_BITSET with no bits", futex(&word, FUTEX_WAKE_BITSET, 1, NULL, 0));

    struct timespec start, t = {0, 200 * 1000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    result("FUTEX_WAIT_PRIVATE 200 ms", futex(&word, FUTEX_WAIT_PRIVATE, 5, &t, 0));
    long took = ms_since(&start);
    printf("  waited at least 200 ms: %d\n", took >= 190);

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 150 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    result("FUTEX_WAIT_BITSET until +150 ms", futex(&word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 5, &until, FUTEX_BITSET_MATCH_ANY));
    printf("  waited at least 150 ms: %d\n", ms_since(&start) >= 140);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    clock_gettime(CLOCK_MONOTONIC, &start);
    result("FUTEX_WAIT with no timeout, until a signal", futex(&word, FUTEX_WAIT, 5, NULL, 0));
    printf("  ended by the alarm: %d\n", ms_since(&start) >= 900);
    struct timespec bad = {0, 2000000000};
    result("FUTEX_WAIT with a bad timeout", futex(&word, FUTEX_WAIT, 5, &bad, 0));
    return 0;
}
