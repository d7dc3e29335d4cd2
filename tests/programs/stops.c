/* Stopping and continuing, and the ways to wait: SIGSTOP, SIGTSTP (caught
 * and not), SIGCONT, WUNTRACED and WCONTINUED, SIGKILL of a stopped child,
 * a blocked read that carries on after a stop, waitid (P_PID, P_PGID,
 * P_ALL, WNOWAIT, WNOHANG, bad arguments), wait4 by process group, and
 * sleeps: one stopped and continued ends when it would have, one a handler
 * interrupts answers EINTR (even under SA_RESTART) with what was left.
 * Prints what it observes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t chld, tstp, cont;

static void on_chld(int sig) { (void)sig; chld++; }
static int acks;
static void on_tstp(int sig) { (void)sig; tstp++; write(acks, "t", 1); }
static void on_cont(int sig) { (void)sig; cont++; write(acks, "c", 1); }
static void on_usr1(int sig) { (void)sig; }

static void describe(const char *what, int st) {
    if (WIFEXITED(st))
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: killed by signal %d\n", what, WTERMSIG(st));
    else if (WIFSTOPPED(st))
        printf("%s: stopped by signal %d\n", what, WSTOPSIG(st));
    else if (WIFCONTINUED(st))
        printf("%s: continued\n", what);
    else
        printf("%s: status %#x\n", what, st);
}

/* A child that waits for signals, in a process group of its own: its
 * parent is in another group of the same session, so the group is not
 * orphaned (Linux discards SIGTSTP, SIGTTIN and SIGTTOU sent to an
 * orphaned group, which this program's own group may be, depending on
 * what started it). */
static pid_t spinner(void) {
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        for (;;) pause();
    }
    setpgid(c, c);
    return c;
}

/* Prints a call's result and errno (evaluated after the call). */
static void result(const char *what, long r) {
    if (r < 0)
        printf("%s: %ld (%s)\n", what, r, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

static void show_siginfo(const char *what, siginfo_t *si) {
    printf("%s: signo %d code %d status %d pid matches %d\n", what, si->si_signo, si->si_code, si->si_status, si->si_pid != 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* What started this program may have left signals ignored (a shell
     * ignores SIGINT and SIGQUIT in what it starts in the background):
     * every signal used here starts at its default action. */
    int used[] = {SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGTSTP, SIGCONT, SIGCHLD};
    for (unsigned i = 0; i < sizeof used / sizeof used[0]; i++) signal(used[i], SIG_DFL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    int st;

    /* SIGSTOP, then SIGCONT: each reported once, each with a SIGCHLD */
    pid_t c = spinner();
    kill(c, SIGSTOP);
    pid_t w = waitpid(c, &st, WUNTRACED);
    describe("after SIGSTOP", st);
    printf("the same child: %d\n", w == c);
    result("nothing more to report", waitpid(c, &st, WUNTRACED | WNOHANG));
    /* Each SIGCHLD is awaited before the next change: two pending at once
     * would merge into one (Linux merges them too). */
    while (chld < 1) usleep(1000);
    printf("SIGCHLD for the stop: %d\n", (int)chld);
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    describe("after SIGCONT", st);
    while (chld < 2) usleep(1000);
    printf("SIGCHLD for the continue: %d\n", (int)chld);
    kill(c, SIGTERM);
    waitpid(c, &st, 0);
    describe("after SIGTERM", st);

    /* a stop is not an exit: wait4 without WUNTRACED goes on waiting */
    c = spinner();
    kill(c, SIGTSTP);
    waitpid(c, &st, WUNTRACED);
    describe("after SIGTSTP", st);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    describe("stopped, then SIGKILL", st);

    /* SIGTSTP in an orphaned group (a new session's: its leader's parent
     * is in another session) is discarded; SIGSTOP still stops */
    c = fork();
    if (c == 0) {
        setsid();
        raise(SIGTSTP);
        _exit(4);
    }
    waitpid(c, &st, WUNTRACED);
    describe("SIGTSTP in an orphaned group", st);
    if (WIFSTOPPED(st)) {
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
    }

    /* SA_NOCLDSTOP: no SIGCHLD for a stop */
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    chld = 0;
    c = spinner();
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    usleep(20000);
    printf("SIGCHLD with SA_NOCLDSTOP: %d\n", (int)chld);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);

    /* a caught SIGTSTP does not stop; SIGCONT runs its handler (sent once
     * SIGTSTP's handler has run: SIGCONT discards a pending stop signal) */
    int ready[2], done[2];
    pipe(ready);
    pipe(done);
    c = fork();
    if (c == 0) {
        acks = done[1];
        signal(SIGTSTP, on_tstp);
        signal(SIGCONT, on_cont);
        write(ready[1], "r", 1);
        while (tstp == 0 || cont == 0) pause();
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child: SIGTSTP handled %d, SIGCONT handled %d\n", (int)tstp, (int)cont);
        write(1, msg, n);
        _exit(3);
    }
    char b;
    read(ready[0], &b, 1);
    kill(c, SIGTSTP);
    read(done[0], &b, 1);
    kill(c, SIGCONT);
    read(done[0], &b, 1);
    waitpid(c, &st, 0);
    describe("handled SIGTSTP", st);

    /* a read blocked across a stop and a continue carries on (no EINTR) */
    int data[2];
    pipe(data);
    c = fork();
    if (c == 0) {
        close(data[1]);
        char buf[16];
        write(ready[1], "r", 1);
        ssize_t n = read(data[0], buf, sizeof buf);
        char msg[64];
        int len = snprintf(msg, sizeof msg, "child: read %zd (%s)\n", n, n < 0 ? strerror(errno) : "no error");
        write(1, msg, len);
        _exit(0);
    }
    close(data[0]);
    read(ready[0], &b, 1);
    usleep(20000);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    describe("reader", st);
    write(data[1], "hello", 5);
    kill(c, SIGCONT);
    waitpid(c, &st, 0);
    describe("reader after SIGCONT", st);
    close(data[1]);

    /* waitid */
    siginfo_t si;
    c = fork();
    if (c == 0) _exit(5);
    memset(&si, 0, sizeof si);
    result("waitid WNOWAIT", waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    show_siginfo("  first look", &si);
    memset(&si, 0, sizeof si);
    result("waitid again", waitid(P_PID, c, &si, WEXITED));
    show_siginfo("  reaped", &si);
    result("waitid for it a third time", waitid(P_PID, c, &si, WEXITED));

    c = spinner();
    memset(&si, 0xff, sizeof si);
    result("waitid WNOHANG, nothing yet", waitid(P_ALL, 0, &si, WEXITED | WNOHANG));
    printf("  si_pid %d si_signo %d\n", si.si_pid, si.si_signo);
    kill(c, SIGSTOP);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WSTOPPED);
    show_siginfo("  waitid WSTOPPED", &si);
    kill(c, SIGCONT);
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WCONTINUED);
    show_siginfo("  waitid WCONTINUED", &si);
    kill(c, SIGINT);
    memset(&si, 0, sizeof si);
    waitid(P_ALL, 0, &si, WEXITED);
    show_siginfo("  waitid killed", &si);
    result("waitid with no options", waitid(P_ALL, 0, &si, 0));
    result("waitid with a bad id type", waitid((idtype_t)42, 0, &si, WEXITED));
    result("waitid with no child", waitid(P_ALL, 0, &si, WEXITED));
    result("waitid into a kernel address", waitid(P_ALL, 0, (siginfo_t *)0xffffffff80000000ul, WEXITED | WNOHANG));

    /* by process group: a child in a group of its own */
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        write(ready[1], "r", 1);
        pause();
        _exit(0);
    }
    setpgid(c, c);
    read(ready[0], &b, 1);
    result("wait4 for my own group", waitpid(0, &st, WNOHANG));
    result("wait4 for its group, still running", waitpid(-c, &st, WNOHANG));
    kill(c, SIGUSR1);
    printf("wait4 for its group: same child %d\n", waitpid(-c, &st, 0) == c);
    describe("  its status", st);
    memset(&si, 0, sizeof si);
    c = fork();
    if (c == 0) _exit(9);
    waitid(P_PGID, 0, &si, WEXITED);
    show_siginfo("waitid P_PGID of my own group", &si);

    /* A 3 s sleep stopped for 2.5 s of it: the time stopped counts, so it
     * ends after 3 s, not 5.5 (Linux restarts it with what is left). The
     * child says it is about to sleep first, so the stop lands in the
     * sleep; its status says whether the sleep took 3 to 4.5 s (the slack
     * is for a loaded machine: a sleep that did not count the stop would
     * take 5.5 s or more). */
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        struct timespec from, to, req = {3, 0};
        clock_gettime(CLOCK_MONOTONIC, &from);
        write(ready[1], "r", 1);
        int r = nanosleep(&req, NULL);
        clock_gettime(CLOCK_MONOTONIC, &to);
        double took = (to.tv_sec - from.tv_sec) + (to.tv_nsec - from.tv_nsec) / 1e9;
        _exit(r == 0 && took >= 3.0 && took < 4.5 ? 0 : 1);
    }
    setpgid(c, c);
    read(ready[0], &b, 1);
    usleep(300000);
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    describe("a sleeping child", st);
    usleep(2500000);
    kill(c, SIGCONT);
    waitpid(c, &st, 0);
    describe("  its 3 s sleep, stopped for 2.5 s (0: it took 3 to 4.5 s)", st);

    /* A handler interrupts a 3 s sleep: EINTR even under SA_RESTART, and
     * what was left in rem. */
    c = fork();
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &sa, NULL);
        write(ready[1], "r", 1);
        struct timespec req = {3, 0}, rem = {0, 0};
        int r = nanosleep(&req, &rem);
        int e = errno;
        double left = rem.tv_sec + rem.tv_nsec / 1e9;
        printf("  nanosleep: %d (%s), left 0.3 to 2.95 s: %d\n", r, strerror(e), left > 0.3 && left < 2.95);
        _exit(0);
    }
    read(ready[0], &b, 1);
    usleep(500000);
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    describe("a sleep a handler interrupted", st);
    return 0;
}
