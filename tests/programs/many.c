/* At -smp 4: N processes forked at once, half spinning, half sleeping,
 * spread over every CPU (each reports the CPU it ran on), all reaped.
 * Also bounded: forking past the process limit fails with EAGAIN and the
 * system goes on. Prints counts, not CPUs, so the host can run it too. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int fds[2];
    pipe(fds);
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            printf("fork %d failed: %s\n", i, strerror(errno));
            return 1;
        }
        if (c == 0) {
            close(fds[0]);
            if (i % 2) {
                volatile unsigned long x = 0;
                for (unsigned long k = 0; k < 200000; k++) x += k;
            } else {
                struct timespec t = {0, 50 * 1000 * 1000};
                nanosleep(&t, NULL);
            }
            unsigned char cpu = (unsigned char)sched_getcpu();
            write(fds[1], &cpu, 1);
            _exit(i % 7);
        }
    }
    close(fds[1]);
    int seen[256] = {0};
    unsigned char cpu;
    int reports = 0;
    while (read(fds[0], &cpu, 1) == 1) {
        seen[cpu]++;
        reports++;
    }
    int reaped = 0, sum = 0, st;
    while (wait(&st) > 0) {
        reaped++;
        sum += WEXITSTATUS(st);
    }
    int cpus = 0;
    for (int i = 0; i < 256; i++) cpus += seen[i] > 0;
    printf("%d reported, %d reaped, statuses sum %d\n", reports, reaped, sum);
    fprintf(stderr, "CPUS %d\n", cpus);
    return 0;
}
