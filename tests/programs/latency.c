/* Time slices: with a CPU-bound spinner on every CPU (this one's too),
 * a process that sleeps 10 ms at a time still wakes promptly; prints the
 * worst lateness seen, in microseconds, and how many spinners ran. With
 * "reading" as the second argument the spinners spin in the kernel
 * instead: each reads 32 MiB from /dev/zero per call. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
    int spinners = argc > 1 ? atoi(argv[1]) : 2;
    int reading = argc > 2 && !strcmp(argv[2], "reading");
    pid_t pids[64];
    for (int i = 0; i < spinners; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            if (reading) {
                size_t size = 32 << 20;
                char *buf = malloc(size);
                memset(buf, 1, size);
                int zero = open("/dev/zero", O_RDONLY);
                for (;;)
                    read(zero, buf, size);
            }
            volatile unsigned long x = 0;
            for (;;) x++;
        }
    }
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, NULL);
    long long worst = 0;
    for (int i = 0; i < 30; i++) {
        long long t0 = now_us();
        nanosleep(&ten_ms, NULL);
        long long late = now_us() - t0 - 10000;
        if (late > worst) worst = late;
    }
    for (int i = 0; i < spinners; i++) kill(pids[i], SIGKILL);
    int killed = 0, st;
    while (wait(&st) > 0)
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) killed++;
    printf("worst lateness %lld us with %d spinners (%d killed)\n", worst, spinners, killed);
    return 0;
}
