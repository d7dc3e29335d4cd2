/* AF_INET datagram sockets: what a program sees, printed so the host
 * (Linux) and Odonata can be compared line by line. The peer is a host
 * program (tests/clients/udp_peer.py): a UDP echo server on ECHO, and a
 * client that sends "ping" to this program's LISTEN port until it hears
 * "pong".
 *
 * usage: udp HOST ECHO LISTEN
 *   HOST: the host as this program reaches it (127.0.0.1 on the host,
 *   10.0.2.2 from a guest on QEMU's user network); it is never printed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host;
static int echo_port, listen_port;

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

static int readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: udp HOST ECHO LISTEN\n");
        return 2;
    }
    host = argv[1];
    echo_port = atoi(argv[2]);
    listen_port = atoi(argv[3]);
    setvbuf(stdout, NULL, _IONBF, 0);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    printf("SO_TYPE %d SO_DOMAIN %d SO_PROTOCOL %d SO_ERROR %d\n", option(fd, SOL_SOCKET, SO_TYPE), option(fd, SOL_SOCKET, SO_DOMAIN),
           option(fd, SOL_SOCKET, SO_PROTOCOL), option(fd, SOL_SOCKET, SO_ERROR));
    result("socket(AF_INET, DGRAM, TCP)", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    int one = 1;
    result("SO_BROADCAST on", setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one));
    printf("SO_BROADCAST %d\n", option(fd, SOL_SOCKET, SO_BROADCAST));
    result("TCP_NODELAY on a datagram socket", setsockopt(fd, IPPROTO_TCP, 1, &one, sizeof one));
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    result("getsockname unbound", getsockname(fd, (struct sockaddr *)&a, &len));
    printf("  port %d length %u\n", ntohs(a.sin_port), len);
    len = sizeof a;
    result("getpeername unconnected", getpeername(fd, (struct sockaddr *)&a, &len));
    result("send with no address", send(fd, "x", 1, 0));
    result("write with no address", write(fd, "x", 1));
    result("listen", listen(fd, 1));
    result("accept", accept(fd, NULL, NULL));
    /* (Linux answers ENOTCONN and shuts the socket down all the same.) */
    int spare = socket(AF_INET, SOCK_DGRAM, 0);
    result("shutdown unconnected", shutdown(spare, SHUT_WR));
    close(spare);

    struct sockaddr_in echo = address(host, echo_port);
    result("sendto ECHO hello", sendto(fd, "hello", 5, 0, (struct sockaddr *)&echo, sizeof echo));
    len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    printf("bound at the first send: %d\n", ntohs(a.sin_port) != 0);
    readable(fd, 10000);
    char buf[70000];
    struct sockaddr_in from;
    len = sizeof from;
    long n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    printf("recvfrom: %ld '%.*s' from port ECHO %d, length %u\n", n, (int)(n > 0 ? n : 0), buf, ntohs(from.sin_port) == echo_port, len);
    result("recv with nothing (MSG_DONTWAIT)", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
    result("sendto 70000 bytes", sendto(fd, buf, 70000, 0, (struct sockaddr *)&echo, sizeof echo));

    /* Datagrams keep their boundaries; a short buffer cuts one. */
    for (int size = 10; size <= 30; size += 10) {
        memset(buf, 'a' + size / 10, size);
        sendto(fd, buf, size, 0, (struct sockaddr *)&echo, sizeof echo);
    }
    for (int i = 0; i < 3; i++) {
        readable(fd, 10000);
        int q = -1;
        ioctl(fd, FIONREAD, &q);
        n = recv(fd, buf, sizeof buf, 0);
        printf("datagram %d: FIONREAD %d, recv %ld '%c'\n", i, q, n, n > 0 ? buf[0] : '-');
    }
    memset(buf, 'z', 50);
    sendto(fd, buf, 50, 0, (struct sockaddr *)&echo, sizeof echo);
    readable(fd, 10000);
    result("recv 8 of a 50-byte datagram", recv(fd, buf, 8, 0));
    result("then nothing (MSG_DONTWAIT)", recv(fd, buf, sizeof buf, MSG_DONTWAIT));

    /* Connected: send, read, write, the peer's name. */
    result("connect ECHO", connect(fd, (struct sockaddr *)&echo, sizeof echo));
    len = sizeof a;
    result("getpeername", getpeername(fd, (struct sockaddr *)&a, &len));
    printf("  port ECHO %d\n", ntohs(a.sin_port) == echo_port);
    result("send abc", send(fd, "abc", 3, 0));
    readable(fd, 10000);
    n = read(fd, buf, sizeof buf);
    printf("read: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 3};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    result("epoll_wait with nothing", epoll_wait(ep, &ev, 1, 200));
    result("write defg", write(fd, "defg", 4));
    result("epoll_wait for the echo", epoll_wait(ep, &ev, 1, 10000));
    printf("  data %u EPOLLIN %d\n", ev.data.u32, (ev.events & EPOLLIN) != 0);
    result("recv", recv(fd, buf, sizeof buf, 0));
    close(ep);
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    result("connect AF_UNSPEC", connect(fd, &unspec, sizeof unspec));
    len = sizeof a;
    result("getpeername after", getpeername(fd, (struct sockaddr *)&a, &len));

    /* sendmsg to an address, recvmsg with the sender's. */
    int m = socket(AF_INET, SOCK_DGRAM, 0);
    struct iovec out_iov[2] = {{"head-", 5}, {"tail", 4}};
    struct msghdr msg = {.msg_name = &echo, .msg_namelen = sizeof echo, .msg_iov = out_iov, .msg_iovlen = 2};
    result("sendmsg 2 pieces to ECHO", sendmsg(m, &msg, 0));
    readable(m, 10000);
    char b1[3], b2[100];
    struct iovec in_iov[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    struct msghdr got = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = in_iov, .msg_iovlen = 2};
    n = recvmsg(m, &got, 0);
    printf("recvmsg: %ld '%.3s' '%.*s', from port ECHO %d, name length %u\n", n, b1, (int)(n > 3 ? n - 3 : 0), b2,
           ntohs(from.sin_port) == echo_port, got.msg_namelen);
    close(m);

    /* A port of its own, reached from outside. */
    int in = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me = address("0.0.0.0", listen_port);
    result("bind LISTEN", bind(in, (struct sockaddr *)&me, sizeof me));
    result("bind again", bind(in, (struct sockaddr *)&me, sizeof me));
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    result("bind LISTEN from another socket", bind(other, (struct sockaddr *)&me, sizeof me));
    close(other);
    len = sizeof from;
    n = recvfrom(in, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    printf("heard: %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    result("reply pong", sendto(in, "pong", 4, 0, (struct sockaddr *)&from, len));
    close(in);
    close(fd);
    return 0;
}
