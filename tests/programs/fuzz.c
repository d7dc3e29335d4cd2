/* System calls with hostile arguments, for a while: children call random
 * system calls (every number but the few that would leave the child: exit,
 * fork and friends, execve, kill and friends, reboot) with arguments drawn
 * from what breaks kernels: NULL, kernel addresses, non-canonical and
 * unmapped pointers, pointers to the last byte of a page, huge lengths,
 * negative and out-of-range descriptors and flags, and random words. A
 * child that is killed (SIGSEGV from a bad rt_sigreturn or its own memory
 * unmapped, a default action) or stuck (a wait that never ends) is
 * replaced; a call that waits is interrupted every 20 ms. Run only under
 * Odonata: the point is that the kernel survives whatever its programs do.
 * Prints how many calls ran and how their children ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t state;
static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static unsigned char buffer[3 * 4096] __attribute__((aligned(4096)));

static uint64_t argument(void) {
    switch (next() % 16) {
    case 0: return 0;
    case 1: return 1;
    case 2: return (uint64_t)-1;
    case 3: return next() % 64;
    case 4: return (uintptr_t)buffer + next() % sizeof buffer;
    case 5: return (uintptr_t)buffer + 4095;
    case 6: return 0xffffffff80000000ull + (next() % 0x100000);
    case 7: return 0xffff800000000000ull;
    case 8: return 0x0000800000000000ull - 8;
    case 9: return 0x1000000000ull + (next() % 4096);
    case 10: return 1ull << (next() % 64);
    case 11: return (uint64_t)(int64_t)-(int64_t)(next() % 4097);
    case 12: return (uintptr_t)buffer;
    case 13: return 0x7fffffff;
    default: return next();
    }
}

static int excluded(long nr) {
    switch (nr) {
    case SYS_exit: case SYS_exit_group: case SYS_fork: case SYS_vfork: case SYS_clone:
    case SYS_execve: case SYS_execveat: case SYS_kill: case SYS_tkill: case SYS_tgkill:
    case SYS_rt_sigqueueinfo: case SYS_rt_tgsigqueueinfo: case SYS_reboot:
    case SYS_clone3: case SYS_pidfd_send_signal: case SYS_setsid: case SYS_setpgid:
        return 1;
    default:
        return 0;
    }
}

/* Where a child reports progress: a byte per 100 calls. */
#define PROGRESS 200

static void on_alarm(int sig) { (void)sig; }

static long child(uint64_t seed, long calls) {
    state = seed;
    /* A call that waits is interrupted every 20 ms (EINTR) and fuzzing
     * goes on, unless a call changed SIGALRM's action: then the parent's
     * watchdog ends the child. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &every, NULL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    mkdir("/tmp/fuzz", 0755);
    chdir("/tmp/fuzz");
    for (long i = 0; i < calls; i++) {
        for (size_t j = 0; j < 64; j++)
            buffer[next() % sizeof buffer] = (unsigned char)next();
        long nr = next() % 335;
        if (excluded(nr))
            continue;
        syscall(nr, argument(), argument(), argument(), argument(), argument(), argument());
        if (i % 100 == 99)
            write(PROGRESS, "", 1);
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int seconds = argc > 1 ? atoi(argv[1]) : 10;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (argc > 2 ? strtoull(argv[2], NULL, 0) : 1);

    long children = 0, exited = 0, signaled = 0, stuck = 0, hundreds = 0;
    long by_signal[65] = {0};
    long states[256] = {0};
    long waiting_in[512] = {0};
    int progress[2];
    if (pipe(progress) != 0 || dup2(progress[1], PROGRESS) != PROGRESS) {
        printf("no progress pipe\n");
        return 1;
    }
    close(progress[1]);
    fcntl(progress[0], F_SETFL, O_NONBLOCK);
    char sink[4096];

    /* Files as large as a program can ask for: the file system says
     * ENOSPC (its bytes live in the kernel heap) and nothing else breaks. */
    mkdir("/tmp/fuzz", 0755);
    int big = open("/tmp/fuzz/big", O_CREAT | O_RDWR | O_TRUNC, 0644);
    int r = ftruncate(big, (off_t)1 << 50);
    printf("ftruncate to 1 PiB: %s\n", r == 0 ? "done" : strerror(errno));
    static char mib[1 << 20];
    long wrote = 0;
    while (write(big, mib, sizeof mib) == (ssize_t)sizeof mib && wrote < 4096)
        wrote++;
    printf("writing 1 MiB at a time: %s after some MiB\n", wrote < 4096 ? strerror(errno) : "no end");
    close(big);
    unlink("/tmp/fuzz/big");

    /* Pipes, each filled: their buffers live in the kernel heap too, so
     * past a budget new pipes are small (as Linux's past
     * pipe-user-pages-soft), then refused. */
    static int ends[500][2];
    static char fill[65536];
    int made = 0, small = 0;
    while (made < 500 && pipe2(ends[made], O_NONBLOCK) == 0) {
        if (write(ends[made][1], fill, sizeof fill) < (ssize_t)sizeof fill)
            small++;
        made++;
    }
    printf("pipes made and filled: %d, %d of them small, then %s\n", made, small, made < 500 ? strerror(errno) : "this test's limit");
    for (int i = 0; i < made; i++) {
        close(ends[i][0]);
        close(ends[i][1]);
    }
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        pid_t c = fork();
        if (c < 0) {
            printf("fork failed\n");
            return 1;
        }
        if (c == 0) {
            close(progress[0]);
            _exit((int)child(seed | 1, 2000));
        }
        children++;
        int st = 0;
        int waited = 0;
        for (;;) {
            pid_t r = waitpid(c, &st, WNOHANG);
            if (r == c)
                break;
            if (++waited > 50) { /* 0.5 s: stuck in a wait of its own making */
                char path[64], stat[256] = {0};
                snprintf(path, sizeof path, "/proc/%d/stat", (int)c);
                int fd = open(path, O_RDONLY);
                if (fd >= 0) {
                    read(fd, stat, sizeof stat - 1);
                    close(fd);
                    char *state = strchr(stat, ')');
                    if (state && state[1] == ' ')
                        states[(unsigned char)state[2]]++;
                }
                snprintf(path, sizeof path, "/proc/%d/syscall", (int)c);
                fd = open(path, O_RDONLY);
                memset(stat, 0, sizeof stat);
                if (fd >= 0) {
                    read(fd, stat, sizeof stat - 1);
                    close(fd);
                    int nr = atoi(stat);
                    if (nr >= 0 && nr < 512 && stat[0] != 'r')
                        waiting_in[nr]++;
                }
                kill(c, SIGKILL);
                waitpid(c, &st, 0);
                stuck++;
                break;
            }
            usleep(10000);
            for (ssize_t n; (n = read(progress[0], sink, sizeof sink)) > 0;)
                hundreds += n;
        }
        for (ssize_t n; (n = read(progress[0], sink, sizeof sink)) > 0;)
            hundreds += n;
        if (WIFEXITED(st))
            exited++;
        else if (WIFSIGNALED(st)) {
            signaled++;
            by_signal[WTERMSIG(st) & 63]++;
        }
    }
    printf("fuzz: %ld children ran hostile system calls for %d s; the kernel is alive\n", children, seconds);
    printf("(over %ld calls; %ld children exited, %ld were killed by a signal, %ld were stuck and killed; signals:",
           hundreds * 100, exited, signaled - stuck, stuck);
    for (int i = 1; i < 65; i++)
        if (by_signal[i])
            printf(" %d x%ld", i, by_signal[i]);
    printf("; states of the stuck:");
    for (int i = 0; i < 256; i++)
        if (states[i])
            printf(" %c x%ld", i, states[i]);
    printf(", waiting in call");
    for (int i = 0; i < 512; i++)
        if (waiting_in[i])
            printf(" %d x%ld", i, waiting_in[i]);
    printf(")\n");
    return 0;
}
