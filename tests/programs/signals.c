/* Signals as a program sees them: handlers with siginfo, masks and pending
 * signals, SIGCHLD, SIGPIPE, alarm, periodic timers and EINTR, SA_RESTART, kill of a child,
 * a handler for a fault. Prints what it observes. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, got_code, chld, alarms;

static void on_usr1(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    got = sig;
    got_code = info->si_signo;
}
static void on_chld(int sig) { (void)sig; chld++; }
static void on_alrm(int sig) { (void)sig; alarms++; }
static void on_segv(int sig) {
    (void)sig;
    static const char msg[] = "in the SIGSEGV handler\n";
    write(1, msg, sizeof msg - 1);
    _exit(42);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    printf("handler saw signal %d, si_signo %d\n", (int)got, (int)got_code);

    /* blocked, pending, then delivered on unblock */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    raise(SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    printf("blocked: delivered %d, pending %d\n", (int)got, sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: delivered %d\n", (int)got);

    /* SIGCHLD and wait statuses */
    signal(SIGCHLD, on_chld);
    pid_t c = fork();
    if (c == 0) _exit(7);
    int st;
    waitpid(c, &st, 0);
    printf("child exited %d, SIGCHLD seen %d\n", WEXITSTATUS(st), chld > 0);

    c = fork();
    if (c == 0) { for (;;) pause(); }
    kill(c, SIGTERM);
    waitpid(c, &st, 0);
    printf("child killed: signaled %d, signal %d\n", WIFSIGNALED(st), WTERMSIG(st));

    /* SIGPIPE: default kills, ignored gives EPIPE */
    int fds[2];
    pipe(fds);
    c = fork();
    if (c == 0) {
        close(fds[0]);
        write(fds[1], "x", 1);
        _exit(0);
    }
    close(fds[0]);
    close(fds[1]);
    waitpid(c, &st, 0);
    printf("writer to a closed pipe: signaled %d, signal %d\n", WIFSIGNALED(st), WTERMSIG(st));
    signal(SIGPIPE, SIG_IGN);
    pipe(fds);
    close(fds[0]);
    long n = write(fds[1], "x", 1);
    printf("with SIGPIPE ignored: %ld %s\n", n, strerror(errno));
    close(fds[1]);

    /* alarm interrupts a read: EINTR without SA_RESTART */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sigaction(SIGALRM, &sa, NULL);
    pipe(fds);
    alarm(1);
    char b;
    n = read(fds[0], &b, 1);
    printf("read interrupted: %ld %s, alarms %d\n", n, strerror(errno), (int)alarms);

    /* with SA_RESTART the read goes on, and sees the byte a child writes */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    c = fork();
    if (c == 0) {
        struct timespec t = {0, 600 * 1000 * 1000};
        nanosleep(&t, NULL);
        write(fds[1], "y", 1);
        _exit(0);
    }
    struct timespec t = {0, 300 * 1000 * 1000};
    nanosleep(&t, NULL);
    alarm(1);
    ualarm(0, 0);
    alarm(0);
    struct itimerval it = {{0, 0}, {0, 100 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    n = read(fds[0], &b, 1);
    printf("read restarted: %ld '%c', alarms %d\n", n, b, (int)alarms);
    waitpid(c, &st, 0);

    /* pause returns once a handler ran */
    alarm(1);
    n = pause();
    printf("pause: %ld %s, alarms %d\n", n, strerror(errno), (int)alarms);

    /* a periodic timer: SIGALRM every 50 ms until cancelled; getitimer
     * tells the period and what is left of it */
    alarms = 0;
    struct itimerval every = {{0, 50 * 1000}, {0, 50 * 1000}}, now;
    setitimer(ITIMER_REAL, &every, NULL);
    while (alarms < 5)
        pause();
    getitimer(ITIMER_REAL, &now);
    printf("periodic timer: %d alarms, period %ld us, left within it %d\n", (int)alarms, (long)now.it_interval.tv_usec,
           now.it_value.tv_sec == 0 && now.it_value.tv_usec > 0 && now.it_value.tv_usec <= 50 * 1000);
    struct itimerval off = {{0, 0}, {0, 0}}, was;
    setitimer(ITIMER_REAL, &off, &was);
    printf("cancelled: old period %ld us\n", (long)was.it_interval.tv_usec);
    t.tv_nsec = 150 * 1000 * 1000;
    int before = alarms;
    nanosleep(&t, NULL);
    printf("alarms after cancelling: %d\n", (int)alarms - before);

    /* ppoll and pselect with a mask and a bad timeout: EFAULT, and the
     * mask they would have used is not left behind */
    sigset_t usr1, now_blocked;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    struct pollfd none;
    n = syscall(SYS_ppoll, &none, 0, (void *)8, &usr1, 8);
    printf("ppoll with a bad timeout: %ld %s\n", n, strerror(errno));
    sigprocmask(SIG_BLOCK, NULL, &now_blocked);
    printf("  SIGUSR1 blocked after it: %d\n", sigismember(&now_blocked, SIGUSR1));
    struct { const sigset_t *set; size_t size; } sigdata = {&usr1, 8};
    n = syscall(SYS_pselect6, 0, NULL, NULL, NULL, (void *)8, &sigdata);
    printf("pselect6 with a bad timeout: %ld %s\n", n, strerror(errno));
    sigprocmask(SIG_BLOCK, NULL, &now_blocked);
    printf("  SIGUSR1 blocked after it: %d\n", sigismember(&now_blocked, SIGUSR1));

    /* a handler for a fault */
    signal(SIGSEGV, on_segv);
    volatile int *p = (volatile int *)strtoul("8", NULL, 0);
    *p = 1;
    printf("not reached\n");
    return 0;
}
