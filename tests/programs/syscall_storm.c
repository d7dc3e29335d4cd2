/* System calls back to back for a while, in two processes (one per CPU
 * under Odonata at -smp 2): the fast path (getppid), a quick one (write to
 * /dev/null) and a slow one (sched_yield), so that every entry to and exit
 * from the kernel happens again and again. The NMI test sends NMIs
 * meanwhile; both processes must finish and say so. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    pid_t child = fork();
    int null = open("/dev/null", O_WRONLY);
    if (null < 0) {
        perror("open /dev/null");
        return 1;
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long calls = 0;
    pid_t parent = getppid();
    do {
        for (int i = 0; i < 1000; i++) {
            if (getppid() != parent || write(null, "x", 1) != 1) {
                printf("a call answered wrongly after %lu calls\n", calls);
                if (child == 0)
                    _exit(1);
                return 1;
            }
            if (i % 100 == 0)
                sched_yield();
            calls += 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    if (child == 0)
        _exit(0);
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("the child failed\n");
        return 1;
    }
    printf("system calls answered for %.0f s in two processes\n", seconds);
    return 0;
}
