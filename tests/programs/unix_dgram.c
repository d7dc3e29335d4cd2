/* AF_UNIX datagram and sequenced-packet socket pairs: what a program sees,
 * printed so the host (Linux) and Odonata can be compared line by line.
 * Message boundaries (a short read truncates and drops the rest, an empty
 * datagram is one), MSG_TRUNC, FIONREAD, EMSGSIZE, a full queue, a peer
 * gone (DGRAM: ECONNREFUSED then ENOTCONN and no end of file;
 * SEQPACKET: end of file, EPIPE with and without SIGPIPE, POLLHUP), and
 * 2000 datagrams of every size from a child on the other CPU. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"


static void show_poll(const char *what, int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int n = poll(&p, 1, 0);
    printf("%s: %d%s%s%s%s\n", what, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLHUP ? " HUP" : "", p.revents & POLLERR ? " ERR" : "");
}

static void boundaries(int type, const char *name) {
    int sv[2];
    char buf[64];
    printf("-- %s boundaries\n", name);
    result("socketpair", socketpair(AF_UNIX, type, 0, sv));
    result("send one", send(sv[0], "one", 3, 0));
    result("send empty", send(sv[0], "", 0, 0));
    result("write three!", write(sv[0], "three!", 6));
    result("send 40", send(sv[0], "0123456789012345678901234567890123456789", 40, 0));
    int n = -1;
    ioctl(sv[1], FIONREAD, &n);
    printf("FIONREAD: %d\n", n);
    show_poll("poll reader", sv[1]);
    memset(buf, 0, sizeof buf);
    result("peek 2 of one", recv(sv[1], buf, 2, MSG_PEEK));
    printf("peeked: %s\n", buf);
    result("peek with MSG_TRUNC", recv(sv[1], buf, 1, MSG_PEEK | MSG_TRUNC));
    memset(buf, 0, sizeof buf);
    result("recv 2 of one", recv(sv[1], buf, 2, 0));
    printf("got: %s\n", buf);
    result("recv the empty one", recv(sv[1], buf, sizeof buf, 0));
    memset(buf, 0, sizeof buf);
    result("read three!", read(sv[1], buf, sizeof buf));
    printf("got: %s\n", buf);
    result("recv 5 of 40 with MSG_TRUNC", recv(sv[1], buf, 5, MSG_TRUNC));
    result("recv none, non-blocking", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    show_poll("poll reader, empty", sv[1]);

    result("send 9 for recvmsg", send(sv[0], "truncated", 9, 0));
    struct iovec iov = {.iov_base = buf, .iov_len = 4};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    result("recvmsg 4 of 9", recvmsg(sv[1], &m, 0));
    printf("msg_flags MSG_TRUNC: %d\n", (m.msg_flags & MSG_TRUNC) != 0);

    char *big = calloc(1, 1 << 20);
    result("send 1 MiB", send(sv[0], big, 1 << 20, 0));
    free(big);
    result("send with an address", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&(struct sockaddr){.sa_family = AF_UNIX}, 2));

    int full = 0, sent = 0;
    char kb[1000] = {0};
    for (int i = 0; i < 100000; i++) {
        if (send(sv[0], kb, sizeof kb, MSG_DONTWAIT) < 0) {
            full = errno == EAGAIN;
            break;
        }
        sent++;
    }
    printf("filled until EAGAIN: %d (some sent: %d)\n", full, sent > 0);
    show_poll("poll writer, full", sv[0]);
    int drained = 0;
    while (recv(sv[1], kb, sizeof kb, MSG_DONTWAIT) == (long)sizeof kb)
        drained++;
    printf("drained all sent: %d\n", drained == sent);
    close(sv[0]);
    close(sv[1]);
}

static void peer_gone(int type, const char *name) {
    int sv[2];
    char buf[16];
    printf("-- %s, peer gone\n", name);
    socketpair(AF_UNIX, type, 0, sv);
    result("send before", send(sv[0], "left", 4, 0));
    close(sv[1]);
    show_poll("poll after the peer closed", sv[0]);
    result("send", send(sv[0], "x", 1, MSG_NOSIGNAL));
    result("send again", send(sv[0], "x", 1, MSG_NOSIGNAL));
    pipes = 0;
    result("send with SIGPIPE", send(sv[0], "x", 1, 0));
    printf("SIGPIPEs: %d\n", (int)pipes);
    result("recv, non-blocking", recv(sv[0], buf, sizeof buf, MSG_DONTWAIT));
    close(sv[0]);

    socketpair(AF_UNIX, type, 0, sv);
    result("send, then the sender closes", send(sv[0], "kept", 4, 0));
    close(sv[0]);
    memset(buf, 0, sizeof buf);
    result("recv what was sent", recv(sv[1], buf, sizeof buf, 0));
    printf("got: %s\n", buf);
    result("recv after, non-blocking", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    show_poll("poll after", sv[1]);
    close(sv[1]);
}

/* A child on the other CPU sends datagrams of 0..1999 bytes, each filled
 * with its length's low byte; the parent checks every one arrives whole,
 * in order, with its length. */
static void across_cpus(int type, const char *name) {
    int sv[2];
    printf("-- %s across CPUs\n", name);
    socketpair(AF_UNIX, type, 0, sv);
    pid_t child = fork();
    if (child == 0) {
        pin(1);
        close(sv[1]);
        static char out[2000];
        for (int len = 0; len < 2000; len++) {
            memset(out, len & 0xff, len);
            if (send(sv[0], out, len, 0) != len)
                _exit(1);
        }
        _exit(0);
    }
    pin(0);
    close(sv[0]);
    static char in[4096];
    int good = 0;
    for (int len = 0; len < 2000; len++) {
        long n = recv(sv[1], in, sizeof in, 0);
        int ok = n == len;
        for (int i = 0; ok && i < len; i++)
            ok = (unsigned char)in[i] == (len & 0xff);
        good += ok;
    }
    int status;
    waitpid(child, &status, 0);
    printf("whole and in order: %d of 2000; child status %d\n", good, WEXITSTATUS(status));
    close(sv[1]);
}

int main(void) {
    signal(SIGPIPE, on_pipe);
    setvbuf(stdout, NULL, _IONBF, 0);
    int sv[2];
    result("socketpair DGRAM NONBLOCK|CLOEXEC", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
    printf("O_NONBLOCK: %d, FD_CLOEXEC: %d\n", (fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0, fcntl(sv[1], F_GETFD) & FD_CLOEXEC);
    int type = -1;
    socklen_t len = sizeof type;
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len);
    printf("SO_TYPE is SOCK_DGRAM: %d\n", type == SOCK_DGRAM);
    close(sv[0]);
    close(sv[1]);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len);
    printf("SO_TYPE is SOCK_SEQPACKET: %d\n", type == SOCK_SEQPACKET);
    close(sv[0]);
    close(sv[1]);
    result("socketpair RAW", socketpair(AF_UNIX, SOCK_RAW, 0, sv));

    boundaries(SOCK_DGRAM, "DGRAM");
    boundaries(SOCK_SEQPACKET, "SEQPACKET");
    peer_gone(SOCK_DGRAM, "DGRAM");
    peer_gone(SOCK_SEQPACKET, "SEQPACKET");
    across_cpus(SOCK_DGRAM, "DGRAM");
    across_cpus(SOCK_SEQPACKET, "SEQPACKET");
    return 0;
}
