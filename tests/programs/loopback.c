/* TCP and UDP to this machine itself (127.0.0.1, and 0.0.0.0 which means
 * it), printed so the host (Linux) and Odonata can be compared line by
 * line: a server and a client in two processes exchange 256 KiB each way,
 * names on both sides, MSG_PEEK (recv, recvmsg, recvfrom), a refused
 * connect to a closed port, datagrams with their source. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

#define BYTES (256 * 1024)

static struct sockaddr_in at(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static int port_of(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static void show_peer(const char *what, int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getpeername(fd, (struct sockaddr *)&a, &len) < 0) {
        printf("%s: -1 (%s)\n", what, strerror(errno));
        return;
    }
    printf("%s: %s\n", what, inet_ntoa(a.sin_addr));
}

static unsigned char byte_at(long i, int seed) {
    return (unsigned char)((i * 7 + seed + (i >> 11)) & 0xff);
}

/* Sends BYTES of pattern `seed` and checks BYTES of pattern `expect`. */
static int exchange(int fd, int seed, int expect) {
    static unsigned char out[BYTES], in[BYTES];
    for (long i = 0; i < BYTES; i++)
        out[i] = byte_at(i, seed);
    pid_t writer = fork();
    if (writer == 0) {
        long sent = 0;
        while (sent < BYTES) {
            long n = write(fd, out + sent, BYTES - sent);
            if (n <= 0)
                _exit(1);
            sent += n;
        }
        _exit(0);
    }
    long got = 0;
    while (got < BYTES) {
        long n = read(fd, in + got, BYTES - got);
        if (n <= 0)
            break;
        got += n;
    }
    int status;
    waitpid(writer, &status, 0);
    int same = got == BYTES;
    for (long i = 0; same && i < BYTES; i++)
        same = in[i] == byte_at(i, expect);
    return same && WEXITSTATUS(status) == 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in any = at("127.0.0.1", 0);
    result("bind 127.0.0.1", bind(l, (struct sockaddr *)&any, sizeof any));
    result("listen", listen(l, 4));
    int port = port_of(l);

    pid_t client = fork();
    if (client == 0) {
        pin(1);
        struct sockaddr_in to = at("127.0.0.1", port);
        /* A machine just booted may not have its address yet: wait. */
        int c = -1;
        for (int tries = 0; tries < 500; tries++) {
            c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&to, sizeof to) == 0)
                break;
            int e = errno;
            close(c);
            c = -1;
            if (e != ENETUNREACH)
                break;
            usleep(10000);
        }
        if (c < 0)
            _exit(2);
        _exit(exchange(c, 2, 1) ? 0 : 3);
    }
    pin(0);
    int s = accept(l, NULL, NULL);
    result("accept", s >= 0 ? 0 : -1);
    show_peer("the client is at", s);
    printf("256 KiB each way, whole: %d\n", exchange(s, 1, 2));
    int status;
    waitpid(client, &status, 0);
    printf("client status: %d\n", WEXITSTATUS(status));
    close(s);

    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in zero = at("0.0.0.0", port);
    result("connect to 0.0.0.0", connect(c, (struct sockaddr *)&zero, sizeof zero));
    show_peer("connected to", c);
    s = accept(l, NULL, NULL);
    result("send", send(c, "ping", 4, 0));
    char buf[16] = {0};
    result("recv MSG_PEEK", recv(s, buf, sizeof buf, MSG_PEEK));
    printf("peeked: %s\n", buf);
    memset(buf, 0, sizeof buf);
    struct iovec iov[2] = {{buf, 1}, {buf + 1, 8}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    result("recvmsg MSG_PEEK", recvmsg(s, &mh, MSG_PEEK));
    printf("peeked: %s\n", buf);
    memset(buf, 0, sizeof buf);
    result("recv", recv(s, buf, sizeof buf, 0));
    printf("got: %s\n", buf);
    close(c);
    result("recv after the client closed", recv(s, buf, sizeof buf, 0));
    close(s);
    close(l);

    c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = at("127.0.0.1", port);
    result("connect to the closed port", connect(c, (struct sockaddr *)&closed, sizeof closed));
    close(c);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in uat = at("127.0.0.1", 0);
    result("bind a datagram socket", bind(u, (struct sockaddr *)&uat, sizeof uat));
    int v = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in uto = at("127.0.0.1", port_of(u));
    result("sendto", sendto(v, "datagram", 8, 0, (struct sockaddr *)&uto, sizeof uto));
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    memset(buf, 0, sizeof buf);
    long n = recvfrom(u, buf, 4, MSG_PEEK, (struct sockaddr *)&from, &flen);
    printf("recvfrom MSG_PEEK: %ld '%s' from %s\n", n, buf, inet_ntoa(from.sin_addr));
    memset(buf, 0, sizeof buf);
    n = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    printf("recvfrom: %ld '%s' from %s, the sender's port: %d\n", n, buf, inet_ntoa(from.sin_addr), ntohs(from.sin_port) == port_of(v));
    return 0;
}
