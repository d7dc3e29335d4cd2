/* lmbench-style system-call figures, one run, the same binary on Odonata
 * and on a Linux guest (scripts/bench-sys). Each line: NAME VALUE UNIT.
 * Latencies are the mean over many repetitions, in nanoseconds. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void report(const char *name, long long total_ns, long n) {
    printf("%s %lld ns\n", name, total_ns / n);
    fflush(stdout);
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void pipe_round_trip(const char *name, int child_cpu, int n) {
    int to[2], from[2];
    pipe(to);
    pipe(from);
    pin(0);
    pid_t c = fork();
    if (c == 0) {
        pin(child_cpu);
        char b;
        for (int i = 0; i < n + 10; i++) {
            if (read(to[0], &b, 1) != 1) break;
            write(from[1], &b, 1);
        }
        _exit(0);
    }
    char b = 'x';
    for (int i = 0; i < 10; i++) {
        write(to[1], &b, 1);
        read(from[0], &b, 1);
    }
    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        write(to[1], &b, 1);
        read(from[0], &b, 1);
    }
    report(name, now_ns() - t0, n);
    waitpid(c, NULL, 0);
    close(to[0]); close(to[1]); close(from[0]); close(from[1]);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "nop")) return 0;
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    long n;
    long long t0;

    n = 20000L * scale;
    t0 = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    report("null_syscall", now_ns() - t0, n);

    int fd = open("/dev/null", O_WRONLY);
    t0 = now_ns();
    for (long i = 0; i < n; i++) write(fd, "x", 1);
    report("write_devnull", now_ns() - t0, n);
    close(fd);

    n = 100L * scale;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        waitpid(c, NULL, 0);
    }
    report("fork_exit_wait", now_ns() - t0, n);

    n = 50L * scale;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) {
            char *args[] = {argv[0], "nop", NULL};
            execv("/proc/self/exe", args);
            _exit(127);
        }
        waitpid(c, NULL, 0);
    }
    report("fork_execve_wait", now_ns() - t0, n);

    pipe_round_trip("pipe_round_trip_same_cpu", 0, 1000 * scale);
    pipe_round_trip("pipe_round_trip_two_cpus", 1, 1000 * scale);
    pin(0);

    long pages = 2048L * scale;
    char *m = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t0 = now_ns();
    for (long i = 0; i < pages; i++) m[i * 4096] = 1;
    report("page_fault_fresh_anon", now_ns() - t0, pages);
    munmap(m, pages * 4096);

    n = 500L * scale;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(p, 1 << 20);
    }
    report("mmap_munmap_1mib", now_ns() - t0, n);

    /* Kernel memory per sleeping process: free memory before and after
     * 100 children that sleep in pause(). */
    int kids = 100;
    pid_t pids[100];
    struct sysinfo before, after;
    sleep(1);
    sysinfo(&before);
    for (int i = 0; i < kids; i++) {
        pids[i] = fork();
        if (pids[i] == 0) for (;;) pause();
    }
    sleep(1);
    sysinfo(&after);
    long long used = ((long long)before.freeram - (long long)after.freeram) * before.mem_unit;
    printf("memory_per_sleeping_process %lld bytes\n", used / kids);
    for (int i = 0; i < kids; i++) kill(pids[i], SIGKILL);
    while (wait(NULL) > 0) {}
    printf("bench-sys: done\n");
    return 0;
}
