/* AF_INET stream sockets: what a program sees, printed so the host (Linux)
 * and Odonata can be compared line by line. The peer is a host program
 * (tests/clients/inet_peer.py): an echo server on ECHO, nothing on
 * REFUSED, and a client that connects to this program's LISTEN port.
 *
 * usage: inet HOST ECHO REFUSED LISTEN
 *   HOST: the host as this program reaches it (127.0.0.1 on the host,
 *   10.0.2.2 from a guest on QEMU's user network); it is never printed.
 *
 * Covers: socket's errors, options and names of a fresh socket, bind
 * (twice, a port taken, port 0), listen, a non-blocking accept, a refused
 * connect (blocking and not, with SO_ERROR), a non-blocking connect and a
 * second connect, send/recv/read/write, MSG_DONTWAIT, epoll edge-triggered
 * with partial reads, sendfile to a socket, shutdown and the end, a reset
 * by the peer, and a connection accepted from outside. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host;
static int echo_port, refused_port, listen_port;

static void result(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

static struct sockaddr_in address(const char *ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static int option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) < 0)
        return -errno;
    return v;
}

static int tcp(void) {
    return socket(AF_INET, SOCK_STREAM, 0);
}

/* A blocking connection to the echo server. */
static int to_echo(void) {
    int fd = tcp();
    struct sockaddr_in a = address(host, echo_port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect to echo: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* Waits until `fd` has `n` bytes to read (the echo may come in pieces). */
static void until_queued(int fd, int n) {
    for (int i = 0; i < 2000; i++) {
        int q = 0;
        ioctl(fd, FIONREAD, &q);
        if (q >= n)
            return;
        usleep(5000);
    }
    printf("only part of %d bytes came back\n", n);
}

static void fresh(void) {
    result("socket(AF_INET, STREAM, UDP)", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    result("socket(AF_INET, 77, 0)", socket(AF_INET, 77, 0));
    result("socket(12345, STREAM, 0)", socket(12345, SOCK_STREAM, 0));
    result("socket(AF_INET, STREAM|0x100000, 0)", socket(AF_INET, SOCK_STREAM | 0x100000, 0));
    int fd = tcp();
    printf("SO_TYPE %d SO_DOMAIN %d SO_PROTOCOL %d SO_ACCEPTCONN %d SO_ERROR %d\n", option(fd, SOL_SOCKET, SO_TYPE),
           option(fd, SOL_SOCKET, SO_DOMAIN), option(fd, SOL_SOCKET, SO_PROTOCOL), option(fd, SOL_SOCKET, SO_ACCEPTCONN),
           option(fd, SOL_SOCKET, SO_ERROR));
    int one = 1;
    result("SO_REUSEADDR on", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    result("SO_KEEPALIVE on", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    result("TCP_NODELAY on", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    printf("SO_REUSEADDR %d SO_KEEPALIVE %d TCP_NODELAY %d\n", option(fd, SOL_SOCKET, SO_REUSEADDR),
           option(fd, SOL_SOCKET, SO_KEEPALIVE), option(fd, IPPROTO_TCP, TCP_NODELAY));
    struct linger l = {1, 5}, back = {0, 0};
    socklen_t len = sizeof back;
    result("SO_LINGER {1, 5}", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
    result("getsockopt SO_LINGER", getsockopt(fd, SOL_SOCKET, SO_LINGER, &back, &len));
    printf("linger %d %d, length %u\n", back.l_onoff, back.l_linger, len);
    result("SO_LINGER short", setsockopt(fd, SOL_SOCKET, SO_LINGER, &one, 2));
    result("setsockopt SOL_SOCKET 9999", setsockopt(fd, SOL_SOCKET, 9999, &one, sizeof one));
    int v;
    socklen_t vl = sizeof v;
    result("getsockopt SOL_SOCKET 9999", getsockopt(fd, SOL_SOCKET, 9999, &v, &vl));
    result("setsockopt IPPROTO_TCP 9999", setsockopt(fd, IPPROTO_TCP, 9999, &one, sizeof one));
    struct sockaddr_in a;
    len = sizeof a;
    result("getsockname fresh", getsockname(fd, (struct sockaddr *)&a, &len));
    printf("  family %d port %d any %d length %u\n", a.sin_family, ntohs(a.sin_port), a.sin_addr.s_addr == 0, len);
    len = sizeof a;
    result("getpeername fresh", getpeername(fd, (struct sockaddr *)&a, &len));
    char c;
    result("read fresh", read(fd, &c, 1));
    result("send fresh (MSG_NOSIGNAL)", send(fd, "x", 1, MSG_NOSIGNAL));
    result("accept fresh", accept(fd, NULL, NULL));
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    result("poll fresh", poll(&p, 1, 0));
    printf("  revents %#x\n", p.revents);
    result("shutdown fresh", shutdown(fd, SHUT_RDWR));
    close(fd);
}

/* Binds and listens on LISTEN (returns the listening socket). */
static int listener(void) {
    int fd = tcp();
    struct sockaddr_in a = address("0.0.0.0", listen_port);
    result("bind LISTEN", bind(fd, (struct sockaddr *)&a, sizeof a));
    result("bind again", bind(fd, (struct sockaddr *)&a, sizeof a));
    int other = tcp();
    result("bind LISTEN from another socket", bind(other, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof six);
    six.sin6_family = AF_INET6;
    result("bind an AF_INET6 address", bind(other, (struct sockaddr *)&six, sizeof six));
    result("bind a short address", bind(other, (struct sockaddr *)&a, 8));
    close(other);
    result("listen", listen(fd, 4));
    result("listen again", listen(fd, 8));
    printf("SO_ACCEPTCONN %d\n", option(fd, SOL_SOCKET, SO_ACCEPTCONN));
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &len);
    printf("listening on LISTEN: %d\n", ntohs(got.sin_port) == listen_port);
    result("connect a listening socket", connect(fd, (struct sockaddr *)&a, sizeof a));

    int quiet = tcp();
    struct sockaddr_in any = address("0.0.0.0", 0);
    result("bind port 0", bind(quiet, (struct sockaddr *)&any, sizeof any));
    len = sizeof got;
    getsockname(quiet, (struct sockaddr *)&got, &len);
    printf("a port was chosen: %d\n", ntohs(got.sin_port) != 0);
    result("listen on it", listen(quiet, 1));
    fcntl(quiet, F_SETFL, O_NONBLOCK);
    result("accept on a non-blocking listener", accept(quiet, NULL, NULL));
    close(quiet);
    return fd;
}

static void refused(void) {
    int fd = tcp();
    struct sockaddr_in a = address(host, refused_port);
    result("connect REFUSED", connect(fd, (struct sockaddr *)&a, sizeof a));
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    result("non-blocking connect REFUSED", connect(fd, (struct sockaddr *)&a, sizeof a));
    struct pollfd p = {fd, POLLOUT, 0};
    result("poll it", poll(&p, 1, 10000));
    printf("  revents %#x\n", p.revents);
    result("SO_ERROR", option(fd, SOL_SOCKET, SO_ERROR));
    result("SO_ERROR again", option(fd, SOL_SOCKET, SO_ERROR));
    close(fd);
}

static void talk(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = address(host, echo_port);
    result("non-blocking connect ECHO", connect(fd, (struct sockaddr *)&a, sizeof a));
    struct pollfd p = {fd, POLLOUT, 0};
    result("poll for writable", poll(&p, 1, 10000));
    printf("  revents %#x\n", p.revents);
    result("SO_ERROR", option(fd, SOL_SOCKET, SO_ERROR));
    result("connect again", connect(fd, (struct sockaddr *)&a, sizeof a));
    result("connect a third time", connect(fd, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    result("getpeername", getpeername(fd, (struct sockaddr *)&peer, &len));
    printf("  port ECHO %d, length %u\n", ntohs(peer.sin_port) == echo_port, len);
    len = sizeof peer;
    getsockname(fd, (struct sockaddr *)&peer, &len);
    printf("  a local port: %d\n", ntohs(peer.sin_port) != 0);
    char buf[4096];
    result("recv with nothing (non-blocking)", recv(fd, buf, sizeof buf, 0));
    fcntl(fd, F_SETFL, 0);
    result("recv MSG_DONTWAIT with nothing", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    result("send hello", send(fd, "hello", 5, 0));
    until_queued(fd, 5);
    long n = recv(fd, buf, sizeof buf, 0);
    printf("recv: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);

    /* Edge-triggered: one event per arrival, none for what was left. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 7};
    result("epoll_ctl ADD EPOLLIN|EPOLLET", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    memset(buf, 'a', 3000);
    result("write 3000", write(fd, buf, 3000));
    until_queued(fd, 3000);
    struct epoll_event out[4];
    int k = epoll_wait(ep, out, 4, 5000);
    printf("epoll_wait: %d (data %u, EPOLLIN %d)\n", k, k > 0 ? out[0].data.u32 : 0, k > 0 && (out[0].events & EPOLLIN));
    result("read 1000 of it", read(fd, buf, 1000));
    result("epoll_wait with the rest unread", epoll_wait(ep, out, 4, 300));
    result("write 10 more", write(fd, buf, 10));
    until_queued(fd, 2010);
    result("epoll_wait after more came", epoll_wait(ep, out, 4, 5000));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    long total = 0;
    while ((n = read(fd, buf, 700)) > 0)
        total += n;
    printf("drained %ld, then %s\n", total, strerror(errno));
    fcntl(fd, F_SETFL, 0);
    close(ep);

    /* sendmsg and recvmsg, in pieces. */
    struct iovec out_iov[3] = {{"one ", 4}, {"two ", 4}, {"three", 5}};
    struct msghdr msg = {.msg_iov = out_iov, .msg_iovlen = 3};
    result("sendmsg in 3 pieces", sendmsg(fd, &msg, 0));
    until_queued(fd, 13);
    char a1[5], a2[100];
    struct iovec in_iov[2] = {{a1, sizeof a1}, {a2, sizeof a2}};
    struct sockaddr_in who;
    struct msghdr in = {.msg_name = &who, .msg_namelen = sizeof who, .msg_iov = in_iov, .msg_iovlen = 2, .msg_flags = -1};
    n = recvmsg(fd, &in, 0);
    printf("recvmsg: %ld '%.5s' '%.*s', name length %u, port ECHO %d, flags %d\n", n, a1, (int)(n > 5 ? n - 5 : 0), a2, in.msg_namelen,
           ntohs(who.sin_port) == echo_port, in.msg_flags);

    /* sendfile from a file to the socket. */
    char name[] = "/tmp/inet-XXXXXX";
    int file = mkstemp(name);
    static char data[10000];
    for (int i = 0; i < 10000; i++)
        data[i] = (char)(i * 7 + i / 256);
    write(file, data, sizeof data);
    off_t at = 0;
    result("sendfile 10000", sendfile(fd, file, &at, 10000));
    printf("  offset %ld\n", (long)at);
    until_queued(fd, 10000);
    lseek(file, 0, SEEK_SET);
    total = 0;
    int same = 1;
    char want[1000];
    while (total < 10000) {
        n = recv(fd, buf, 1000, MSG_WAITALL);
        if (n <= 0)
            break;
        read(file, want, n);
        same &= memcmp(buf, want, n) == 0;
        total += n;
    }
    printf("echoed %ld, same %d\n", total, same);
    close(file);
    unlink(name);

    result("shutdown SHUT_WR", shutdown(fd, SHUT_WR));
    result("send after SHUT_WR (MSG_NOSIGNAL)", send(fd, "x", 1, MSG_NOSIGNAL));
    result("recv the end", recv(fd, buf, sizeof buf, 0));
    result("recv the end again", recv(fd, buf, sizeof buf, 0));
    close(fd);
}

static void reset(void) {
    int fd = to_echo();
    result("send reset", send(fd, "reset\n", 6, 0));
    char buf[64];
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 10000);
    result("recv after the peer's reset", recv(fd, buf, sizeof buf, 0));
    result("recv again", recv(fd, buf, sizeof buf, 0));
    result("send (MSG_NOSIGNAL)", send(fd, "x", 1, MSG_NOSIGNAL));
    close(fd);
}

static void inbound(int lfd) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    int fd = accept4(lfd, (struct sockaddr *)&from, &len, SOCK_CLOEXEC);
    printf("accepted: %d, family %d, length %u, cloexec %d\n", fd >= 0, from.sin_family, len, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    char buf[64];
    long n = 0, got;
    while (n < 5 && (got = read(fd, buf + n, sizeof buf - n)) > 0)
        n += got;
    printf("read: '%.*s'\n", (int)n, buf);
    result("write pong", write(fd, "pong\n", 5));
    result("shutdown SHUT_RDWR", shutdown(fd, SHUT_RDWR));
    result("read after SHUT_RD", read(fd, buf, sizeof buf));
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: inet HOST ECHO REFUSED LISTEN\n");
        return 2;
    }
    host = argv[1];
    echo_port = atoi(argv[2]);
    refused_port = atoi(argv[3]);
    listen_port = atoi(argv[4]);
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    fresh();
    int lfd = listener();
    refused();
    talk();
    reset();
    inbound(lfd);
    close(lfd);
    return 0;
}
