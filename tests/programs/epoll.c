/* epoll over pipes and AF_UNIX socket pairs: level- and edge-triggered,
 * one-shot, changes and removals, a wake from another CPU, timeouts and
 * the errors, printed so the host (Linux) and Odonata can be compared
 * line by line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

/* One wait, printed: the count, then each event's bits and data. */
static void show_wait(const char *what, int ep, int max, int timeout) {
    struct epoll_event ev[8];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(ep, ev, max, timeout);
    result(what, n);
    for (int i = 0; i < n; i++)
        printf("  events %#x data %llu\n", ev[i].events, (unsigned long long)ev[i].data.u64);
}

static void add(int ep, int fd, unsigned events, unsigned long long data) {
    struct epoll_event e = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0)
        printf("add %d: %s\n", fd, strerror(errno));
}

static double now(void) {
    struct timeval t;
    gettimeofday(&t, NULL);
    return t.tv_sec + t.tv_usec / 1e6;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char buf[70000];
    int p[2], q[2];

    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("epoll_create1: FD_CLOEXEC %d\n", fcntl(ep, F_GETFD) & FD_CLOEXEC);
    result("epoll_create1 with a bad flag", epoll_create1(1));
    result("epoll_create(0)", epoll_create(0));
    int old = epoll_create(10);
    printf("epoll_create(10) is a descriptor: %d\n", old >= 0);
    close(old);

    /* Level-triggered: reported while there is data. */
    pipe(p);
    add(ep, p[0], EPOLLIN, 42);
    show_wait("nothing written", ep, 8, 0);
    write(p[1], "abc", 3);
    show_wait("level, after a write", ep, 8, 0);
    show_wait("level, again", ep, 8, 0);
    read(p[0], buf, sizeof buf);
    show_wait("level, drained", ep, 8, 0);

    /* Edge-triggered: once per change. */
    pipe(q);
    add(ep, q[0], EPOLLIN | EPOLLET, 7);
    write(q[1], "x", 1);
    show_wait("edge, after a write", ep, 8, 0);
    show_wait("edge, again", ep, 8, 0);
    write(q[1], "y", 1);
    show_wait("edge, after another write", ep, 8, 0);
    read(q[0], buf, sizeof buf);
    write(q[1], "z", 1);
    show_wait("edge, drained then written", ep, 8, 0);
    read(q[0], buf, sizeof buf);

    /* One-shot, then changed to wake again; then removed. */
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 9};
    result("mod to one-shot", epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &e));
    write(q[1], "a", 1);
    show_wait("one-shot", ep, 8, 0);
    show_wait("one-shot, again", ep, 8, 0);
    e.events = EPOLLIN;
    e.data.u64 = 10;
    result("mod back", epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &e));
    show_wait("after the mod", ep, 8, 0);
    result("del", epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL));
    show_wait("after the del", ep, 8, 0);

    /* Writable ends, full ones, and a hang-up with data left. */
    add(ep, p[1], EPOLLOUT, 43);
    show_wait("a pipe's write end", ep, 8, 0);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    while (write(p[1], buf, sizeof buf) > 0)
        ;
    show_wait("full", ep, 8, 0);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
    close(p[1]);
    show_wait("data left, writer gone", ep, 8, 0);
    show_wait("maxevents 1", ep, 1, 0);
    close(p[0]);
    show_wait("its only descriptor closed", ep, 8, 0);

    /* Two ready, one asked for at a time: each in turn. */
    int a[2], b[2];
    pipe(a);
    pipe(b);
    add(ep, a[0], EPOLLIN, 100);
    add(ep, b[0], EPOLLIN, 200);
    write(a[1], "a", 1);
    write(b[1], "b", 1);
    for (int i = 0; i < 4; i++)
        show_wait("two ready, one at a time", ep, 1, 0);
    show_wait("both at once", ep, 8, 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);

    /* A socket pair, and a wake from another CPU. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    add(ep, sv[0], EPOLLIN, 5);
    pid_t c = fork();
    if (c == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(1, &set);
        sched_setaffinity(0, sizeof set, &set);
        usleep(200000);
        write(sv[1], "hello", 5);
        _exit(0);
    }
    double t = now();
    show_wait("waiting for the other CPU", ep, 8, 5000);
    printf("  waited at least 0.1 s: %d\n", now() - t >= 0.1);
    read(sv[0], buf, sizeof buf);
    waitpid(c, NULL, 0);
    t = now();
    show_wait("a 100 ms timeout", ep, 8, 100);
    printf("  not early: %d\n", now() - t >= 0.099);
    close(sv[1]);
    show_wait("the peer closed", ep, 8, 0);
    sigset_t none;
    sigemptyset(&none);
    struct epoll_event one;
    result("epoll_pwait with a mask", epoll_pwait(ep, &one, 1, 0, &none));
    close(sv[0]);

    /* Errors. */
    pipe(p);
    char path[] = "/tmp/epoll-test-XXXXXX";
    int f = mkstemp(path);
    unlink(path);
    struct epoll_event any = {.events = EPOLLIN};
    result("add a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &any));
    result("add the set to itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &any));
    result("a pipe as the set", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &any));
    result("a bad descriptor", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &any));
    result("mod of one not there", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &any));
    result("del of one not there", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    result("add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &any));
    result("add again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &any));
    result("an unknown op", epoll_ctl(ep, 99, p[0], &any));
    result("an event at a kernel address", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], (void *)0xffffffff80000000ul));
    any.events = EPOLLIN | EPOLLEXCLUSIVE;
    result("mod with EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &any));
    struct epoll_event out[2];
    result("wait for 0 events", epoll_wait(ep, out, 0, 0));
    result("wait on a pipe", epoll_wait(p[0], out, 2, 0));
    result("wait into a kernel address", epoll_wait(ep, (void *)0xffffffff80000000ul, 2, 0));
    result("read of a set", read(ep, buf, 8));
    result("lseek of a set", lseek(ep, 0, SEEK_SET));
    return 0;
}
