/* AF_UNIX stream socket pairs: what a program sees, printed so the host
 * (Linux) and Odonata can be compared line by line. Two processes on two
 * CPUs stream 1 MiB each way at once; then half-closes, EPIPE with and
 * without SIGPIPE, non-blocking calls, poll, the options and names a
 * socket pair has, and the errors for what it is not. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"


static unsigned char byte_at(unsigned seed, long i) {
    return (unsigned char)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

/* Writes `total` bytes of the pattern `seed` in uneven pieces. */
static int send_all(int fd, unsigned seed, long total) {
    unsigned char buf[7000];
    long done = 0;
    while (done < total) {
        long n = total - done < (long)sizeof buf ? total - done : (long)sizeof buf - (done % 1000);
        for (long i = 0; i < n; i++)
            buf[i] = byte_at(seed, done + i);
        ssize_t w = write(fd, buf, n);
        if (w <= 0)
            return -1;
        done += w;
    }
    return 0;
}

/* Reads to the end; how many bytes, and whether each was the pattern's. */
static long receive_all(int fd, unsigned seed, int *right) {
    unsigned char buf[5000];
    long got = 0;
    *right = 1;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf - (got % 777));
        if (n < 0)
            return -1;
        if (n == 0)
            return got;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != byte_at(seed, got + i))
                *right = 0;
        got += n;
    }
}

static void streams_both_ways(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t c = fork();
    if (c == 0) {
        pin(1);
        close(sv[0]);
        int right;
        if (send_all(sv[1], 2, 1 << 20) != 0)
            _exit(10);
        shutdown(sv[1], SHUT_WR);
        long got = receive_all(sv[1], 1, &right);
        _exit(got == 1 << 20 && right ? 0 : 11);
    }
    pin(0);
    close(sv[1]);
    pid_t w = fork();
    if (w == 0) {
        /* A second writer on the parent's side: both directions at once. */
        _exit(send_all(sv[0], 1, 1 << 20) == 0 ? 0 : 12);
    }
    int right, st;
    long got = receive_all(sv[0], 2, &right);
    printf("1 MiB one way, on another CPU: %ld bytes, right %d\n", got, right);
    waitpid(w, &st, 0);
    printf("the writer of the other way: status %d\n", WEXITSTATUS(st));
    shutdown(sv[0], SHUT_WR);
    waitpid(c, &st, 0);
    printf("the child read 1 MiB the other way: status %d\n", WEXITSTATUS(st));
    close(sv[0]);
}

static void ends_and_errors(void) {
    int sv[2];
    char buf[64];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    result("write", write(sv[0], "hello", 5));
    result("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
    result("write after SHUT_WR", write(sv[0], "x", 1));
    printf("SIGPIPEs so far: %d\n", (int)pipes);
    result("the peer reads", read(sv[1], buf, sizeof buf));
    result("then the end", read(sv[1], buf, sizeof buf));
    result("the peer still writes back", write(sv[1], "back", 4));
    result("and it is read", read(sv[0], buf, sizeof buf));
    result("shutdown SHUT_RD", shutdown(sv[0], SHUT_RD));
    result("a read after SHUT_RD", read(sv[0], buf, sizeof buf));
    result("shutdown with how 3", shutdown(sv[0], 3));
    close(sv[0]);
    result("the peer writes to a closed end", write(sv[1], "x", 1));
    printf("SIGPIPEs: %d\n", (int)pipes);
    result("send with MSG_NOSIGNAL", send(sv[1], "x", 1, MSG_NOSIGNAL));
    printf("SIGPIPEs: %d\n", (int)pipes);
    result("send without it", send(sv[1], "x", 1, 0));
    printf("SIGPIPEs: %d\n", (int)pipes);
    close(sv[1]);
}

static void nonblocking_and_poll(void) {
    int sv[2];
    char buf[100000];
    result("socketpair NONBLOCK|CLOEXEC", socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
    printf("O_NONBLOCK %d, FD_CLOEXEC %d\n", (fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0, fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
    result("read with nothing there", read(sv[0], buf, 10));
    struct pollfd p[2] = {{sv[0], POLLIN | POLLOUT, 0}, {sv[1], POLLIN, 0}};
    result("poll, nothing written", poll(p, 2, 0));
    printf("  revents %#x %#x\n", p[0].revents, p[1].revents);
    write(sv[0], "abc", 3);
    result("poll after a write", poll(p, 2, 0));
    printf("  revents %#x %#x\n", p[0].revents, p[1].revents);
    int n = -1;
    ioctl(sv[1], FIONREAD, &n);
    printf("FIONREAD: %d\n", n);
    result("recv MSG_DONTWAIT", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    long filled = 0;
    for (;;) {
        ssize_t w = write(sv[0], buf, sizeof buf);
        if (w < 0)
            break;
        filled += w;
    }
    printf("filled until: %s (more than 64 KiB: %d)\n", strerror(errno), filled >= 65536);
    p[0].events = POLLOUT;
    result("poll for room in a full one", poll(p, 1, 0));
    close(sv[0]);
    p[1].events = POLLIN;
    result("poll after the peer closed", poll(&p[1], 1, 0));
    printf("  revents %#x\n", p[1].revents);
    close(sv[1]);

    /* Blocking: a reader waits until a writer on another CPU writes. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t c = fork();
    if (c == 0) {
        pin(1);
        usleep(200000);
        write(sv[1], "late", 4);
        _exit(0);
    }
    result("a read that waits for the other CPU", read(sv[0], buf, sizeof buf));
    struct pollfd q = {sv[0], POLLIN, 0};
    c = fork();
    if (c == 0) {
        pin(1);
        usleep(200000);
        close(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    result("poll that waits for the peer to go", poll(&q, 1, 5000));
    printf("  revents %#x\n", q.revents);
    result("recv MSG_WAITALL at the end", recv(sv[0], buf, 10, MSG_WAITALL));
    while (wait(NULL) > 0)
        ;
    close(sv[0]);
}

static void what_it_is(void) {
    int sv[2], v = -1;
    socklen_t len = sizeof v;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct stat st;
    fstat(sv[0], &st);
    printf("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
    result("lseek", lseek(sv[0], 0, SEEK_SET));
    result("getsockopt SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
    printf("  %d (%d bytes)\n", v, (int)len);
    getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len);
    printf("SO_DOMAIN %d\n", v);
    getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len);
    printf("SO_ERROR %d\n", v);
    getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    printf("SO_ACCEPTCONN %d\n", v);
    result("getsockopt of an unknown option", getsockopt(sv[0], SOL_SOCKET, 12345, &v, &len));
    result("getsockopt into a kernel address", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, (void *)0xffffffff80000000ul, &len));
    int one = 1;
    result("setsockopt SO_REUSEADDR", setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    result("setsockopt with a short value", setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &one, 2));
    struct sockaddr_un a;
    memset(&a, 0x55, sizeof a);
    len = sizeof a;
    result("getsockname", getsockname(sv[0], (struct sockaddr *)&a, &len));
    printf("  family %d, length %d\n", a.sun_family, (int)len);
    len = sizeof a;
    result("getpeername", getpeername(sv[0], (struct sockaddr *)&a, &len));
    printf("  family %d, length %d\n", a.sun_family, (int)len);
    write(sv[1], "hi", 2);
    len = sizeof a;
    char buf[8];
    result("recvfrom with an address", recvfrom(sv[0], buf, sizeof buf, 0, (struct sockaddr *)&a, &len));
    printf("  length %d\n", (int)len);
    result("sendto with an address", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&a, sizeof(sa_family_t)));
    close(sv[0]);
    close(sv[1]);

    result("socketpair AF_INET", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    result("socketpair with unknown flags", socketpair(AF_UNIX, SOCK_STREAM | 0x10000, 0, sv));
    result("socketpair with protocol 7", socketpair(AF_UNIX, SOCK_STREAM, 7, sv));
    result("socketpair into a kernel address", socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)0xffffffff80000000ul));
    int fds[2];
    pipe(fds);
    result("shutdown of a pipe", shutdown(fds[0], SHUT_RD));
    result("getsockopt of a pipe", getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &v, &len));
    result("shutdown of a closed descriptor", shutdown(999, SHUT_RD));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, on_pipe);
    streams_both_ways();
    ends_and_errors();
    nonblocking_and_poll();
    what_it_is();
    return 0;
}
