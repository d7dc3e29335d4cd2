/* Named AF_UNIX sockets (stream, sequenced-packet, datagram): what a program
 * sees, printed so the host (Linux) and Odonata can be compared line by
 * line. socket, bind (the path's node, EADDRINUSE, EINVAL), listen,
 * connect (ENOENT, ECONNREFUSED, EPROTOTYPE, EISCONN), accept, the names
 * on both sides, data both ways, a full backlog, a client on the other
 * CPU, a closed listener's path; datagrams to a path, with the sender's
 * name or none, a connected datagram socket, a destination gone; the
 * abstract namespace (a leading NUL). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

static const char *PATH = "/tmp/odonata-named.sock";

static struct sockaddr_un at(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return a;
}

/* The socket's own name (or its peer's) into `a`, with its length; -1
 * (printed under `what`) if the call fails. */
static int name_of(const char *what, int fd, int peer, struct sockaddr_un *a, socklen_t *len) {
    memset(a, 0x55, sizeof *a);
    *len = sizeof *a;
    int r = peer ? getpeername(fd, (struct sockaddr *)a, len) : getsockname(fd, (struct sockaddr *)a, len);
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    return r;
}

static void show_name(const char *what, int fd, int peer) {
    struct sockaddr_un a;
    socklen_t len;
    if (name_of(what, fd, peer, &a, &len) < 0)
        return;
    printf("%s: family %d, length %d, path \"%s\"\n", what, a.sun_family, (int)len,
           len > sizeof(sa_family_t) ? a.sun_path : "");
}

static int connect_to(int type, const char *path) {
    int fd = socket(AF_UNIX, type, 0);
    struct sockaddr_un a = at(path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void stream(int type, const char *name) {
    printf("-- %s\n", name);
    unlink(PATH);
    int l = socket(AF_UNIX, type, 0);
    result("socket", l >= 0 ? 0 : -1);
    show_name("name before bind", l, 0);
    char c;
    result("read before connect", read(l, &c, 1));
    struct sockaddr_un a = at(PATH);
    result("bind", bind(l, (struct sockaddr *)&a, sizeof a));
    result("bind again", bind(l, (struct sockaddr *)&a, sizeof a));
    int other = socket(AF_UNIX, type, 0);
    result("bind a second socket to the path", bind(other, (struct sockaddr *)&a, sizeof a));
    close(other);
    struct stat st;
    stat(PATH, &st);
    printf("the path is a socket: %d\n", S_ISSOCK(st.st_mode));
    result("open the path", open(PATH, O_RDWR));
    result("connect before listen", connect_to(type, PATH));
    show_name("listener's name", l, 0);
    show_name("listener's peer", l, 1);
    result("listen", listen(l, 2));
    int v = -1;
    socklen_t len = sizeof v;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    printf("SO_ACCEPTCONN: %d\n", v);
    fcntl(l, F_SETFL, O_NONBLOCK);
    result("accept with none queued, non-blocking", accept(l, NULL, NULL));
    result("read of the listener", read(l, &c, 1));

    int cl = connect_to(type, PATH);
    result("connect", cl >= 0 ? 0 : -1);
    struct pollfd pl = {.fd = l, .events = POLLIN};
    int ready = poll(&pl, 1, 1000);
    printf("poll listener: %d%s%s%s\n", ready, pl.revents & POLLIN ? " IN" : "", pl.revents & POLLOUT ? " OUT" : "",
           pl.revents & POLLHUP ? " HUP" : "");
    show_name("client's name", cl, 0);
    show_name("client's peer", cl, 1);
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    int sv = accept(l, (struct sockaddr *)&from, &fromlen);
    result("accept", sv >= 0 ? 0 : -1);
    printf("accept's address length: %d\n", (int)fromlen);
    show_name("accepted's name", sv, 0);
    show_name("accepted's peer", sv, 1);
    result("connect again", connect(cl, (struct sockaddr *)&a, sizeof a));
    result("client sends", send(cl, "hello", 5, 0));
    char buf[16] = {0};
    usleep(100000);
    result("server peeks 3", recv(sv, buf, 3, MSG_PEEK));
    printf("peeked: %s\n", buf);
    result("server reads", read(sv, buf, sizeof buf));
    printf("got: %s\n", buf);
    result("server writes", write(sv, "world!", 6));
    memset(buf, 0, sizeof buf);
    result("client reads", recv(cl, buf, sizeof buf, 0));
    printf("got: %s\n", buf);
    close(cl);
    result("server reads after the client closed", read(sv, buf, sizeof buf));
    close(sv);

    /* The backlog: listen(2) queues three (one more), then a non-blocking
     * connect is EAGAIN. */
    int queued = 0, fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
        if (connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0)
            queued++;
        else
            printf("connect %d: -1 (%s)\n", i, strerror(errno));
    }
    printf("queued: %d\n", queued);
    int taken = 0;
    while ((sv = accept(l, NULL, NULL)) >= 0) {
        taken++;
        close(sv);
    }
    printf("accepted: %d\n", taken);
    for (int i = 0; i < 8; i++)
        close(fds[i]);

    /* A client on the other CPU. */
    fcntl(l, F_SETFL, 0);
    pid_t child = fork();
    if (child == 0) {
        pin(1);
        int c2 = connect_to(type, PATH);
        if (c2 < 0 || send(c2, "from the child", 14, 0) != 14)
            _exit(1);
        _exit(0);
    }
    pin(0);
    sv = accept(l, NULL, NULL);
    memset(buf, 0, sizeof buf);
    result("read from the child", read(sv, buf, sizeof buf));
    printf("got: %s\n", buf);
    int status;
    waitpid(child, &status, 0);
    printf("child status: %d\n", WEXITSTATUS(status));
    close(sv);

    int wrong = socket(AF_UNIX, type == SOCK_STREAM ? SOCK_SEQPACKET : SOCK_STREAM, 0);
    result("connect of another type", connect(wrong, (struct sockaddr *)&a, sizeof a));
    close(wrong);
    close(l);
    result("connect after the listener closed", connect_to(type, PATH));
    result("unlink", unlink(PATH));
    result("connect after unlink", connect_to(type, PATH));
}

static void show_from(const char *what, long n, struct sockaddr_un *from, socklen_t len) {
    printf("%s: %ld, from length %d%s%s\n", what, n, (int)len, len > sizeof(sa_family_t) ? " " : "",
           len > sizeof(sa_family_t) ? from->sun_path : "");
}

static void datagrams(void) {
    const char *srv = "/tmp/odonata-dgram.sock", *cli = "/tmp/odonata-dgram-client.sock";
    printf("-- DGRAM\n");
    unlink(srv);
    unlink(cli);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = at(srv), b = at(cli);
    result("bind", bind(s, (struct sockaddr *)&a, sizeof a));
    result("listen on a datagram socket", listen(s, 1));
    int v = -1;
    socklen_t vlen = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vlen);
    printf("SO_TYPE is SOCK_DGRAM: %d\n", v == SOCK_DGRAM);

    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    result("send unconnected, no address", send(c, "x", 1, 0));
    result("sendto the path, unnamed", sendto(c, "anon", 4, 0, (struct sockaddr *)&a, sizeof a));
    char buf[64];
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    long n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    show_from("recvfrom", n, &from, flen);
    result("bind the client", bind(c, (struct sockaddr *)&b, sizeof b));
    result("sendto the path, named", sendto(c, "named!", 6, 0, (struct sockaddr *)&a, sizeof a));
    int pending = -1;
    ioctl(s, FIONREAD, &pending);
    printf("FIONREAD: %d\n", pending);
    struct pollfd pf = {.fd = s, .events = POLLIN | POLLOUT};
    int ready = poll(&pf, 1, 0);
    printf("poll: %d%s%s\n", ready, pf.revents & POLLIN ? " IN" : "", pf.revents & POLLOUT ? " OUT" : "");
    flen = sizeof from;
    memset(&from, 0, sizeof from);
    n = recvfrom(s, buf, 3, MSG_PEEK, (struct sockaddr *)&from, &flen);
    show_from("peek 3", n, &from, flen);
    flen = sizeof from;
    n = recvfrom(s, buf, 3, MSG_TRUNC, (struct sockaddr *)&from, &flen);
    show_from("recvfrom 3 with MSG_TRUNC", n, &from, flen);
    result("reply to the sender", sendto(s, "reply", 5, 0, (struct sockaddr *)&from, flen));
    memset(buf, 0, sizeof buf);
    result("client reads the reply", read(c, buf, sizeof buf));
    printf("got: %s\n", buf);

    result("connect the client", connect(c, (struct sockaddr *)&a, sizeof a));
    show_name("client's peer", c, 1);
    result("send connected", send(c, "via connect", 11, 0));
    result("write connected", write(c, "written", 7));
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    n = recvmsg(s, &m, 0);
    show_from("recvmsg", n, &from, m.msg_namelen);
    result("read", read(s, buf, sizeof buf));
    result("recv with none, non-blocking", recv(s, buf, sizeof buf, MSG_DONTWAIT));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    result("connect AF_UNSPEC", connect(c, &unspec, sizeof unspec));
    show_name("client's peer after", c, 1);
    close(s);
    result("sendto a closed socket's path", sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof a));
    result("connect to it", connect(c, (struct sockaddr *)&a, sizeof a));
    int st = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un t = at("/tmp/odonata-dgram-stream.sock");
    unlink(t.sun_path);
    bind(st, (struct sockaddr *)&t, sizeof t);
    listen(st, 1);
    result("sendto a stream socket's path", sendto(c, "x", 1, 0, (struct sockaddr *)&t, sizeof t));
    close(st);
    unlink(t.sun_path);
    close(c);
    unlink(srv);
    unlink(cli);
}

/* An abstract address: a leading NUL, then `name`, no NUL after. */
static socklen_t abstract_at(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, strlen(name));
    return (socklen_t)(sizeof(sa_family_t) + 1 + strlen(name));
}

static void show_abstract(const char *what, int fd, int peer) {
    struct sockaddr_un a;
    socklen_t len;
    if (name_of(what, fd, peer, &a, &len) < 0)
        return;
    int n = (int)len - (int)sizeof(sa_family_t);
    printf("%s: length %d, first byte %d, name \"%.*s\"\n", what, (int)len, n > 0 ? a.sun_path[0] : -1, n > 1 ? n - 1 : 0,
           a.sun_path + 1);
}

/* The abstract namespace: no node, the name's exact length, EADDRINUSE
 * while bound, free again once its socket is closed; a stream connection
 * and a datagram with its sender's abstract name. */
static void abstract(void) {
    printf("-- ABSTRACT\n");
    struct sockaddr_un a, b;
    socklen_t alen = abstract_at(&a, "odonata-abstract"), blen = abstract_at(&b, "odonata-client");
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    result("bind", bind(l, (struct sockaddr *)&a, alen));
    show_abstract("getsockname", l, 0);
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    result("bind the same name again", bind(again, (struct sockaddr *)&a, alen));
    result("connect before listen", connect(again, (struct sockaddr *)&a, alen));
    close(again);
    result("listen", listen(l, 4));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    result("connect", connect(c, (struct sockaddr *)&a, alen));
    show_abstract("getpeername", c, 1);
    int s = accept(l, NULL, NULL);
    result("send", send(c, "abstract", 8, 0));
    char buf[16] = {0};
    result("recv", recv(s, buf, sizeof buf, 0));
    printf("got: %s\n", buf);
    close(s);
    close(c);
    close(l);
    int fresh = socket(AF_UNIX, SOCK_STREAM, 0);
    result("bind after the socket closed", bind(fresh, (struct sockaddr *)&a, alen));
    close(fresh);
    struct sockaddr_un none;
    socklen_t nlen = abstract_at(&none, "odonata-nobody");
    int d = socket(AF_UNIX, SOCK_STREAM, 0);
    result("connect to a name nobody has", connect(d, (struct sockaddr *)&none, nlen));
    close(d);
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0), cli = socket(AF_UNIX, SOCK_DGRAM, 0);
    result("bind a datagram socket", bind(srv, (struct sockaddr *)&a, alen));
    result("bind its client", bind(cli, (struct sockaddr *)&b, blen));
    result("sendto", sendto(cli, "hi", 2, 0, (struct sockaddr *)&a, alen));
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    memset(buf, 0, sizeof buf);
    long n = recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    printf("recvfrom: %ld '%s', sender length %d, name \"%.*s\"\n", n, buf, (int)flen, (int)flen - 3, from.sun_path + 1);
    close(srv);
    close(cli);
}

/* Whether `fd`'s name is an automatic one: a NUL and five hex digits. */
static int autobound(int fd, struct sockaddr_un *a) {
    socklen_t len;
    if (name_of("getsockname", fd, 0, a, &len) < 0)
        return 0;
    int hex = 1;
    for (int i = 1; i < 6; i++)
        hex &= strchr("0123456789abcdef", a->sun_path[i]) != NULL && a->sun_path[i] != 0;
    return len == sizeof(sa_family_t) + 6 && a->sun_path[0] == 0 && hex;
}

/* A bind with the family alone picks a free abstract name (Linux's
 * autobind): reachable by it, a second socket gets another, and a bound
 * socket cannot be bound again. */
static void autobind(void) {
    printf("-- AUTOBIND\n");
    struct sockaddr_un family = {.sun_family = AF_UNIX}, a, b;
    int l = socket(AF_UNIX, SOCK_STREAM, 0), other = socket(AF_UNIX, SOCK_DGRAM, 0);
    result("bind with the family alone", bind(l, (struct sockaddr *)&family, sizeof(sa_family_t)));
    printf("an automatic name: %d\n", autobound(l, &a));
    result("bind it again", bind(l, (struct sockaddr *)&family, sizeof(sa_family_t)));
    result("a second socket", bind(other, (struct sockaddr *)&family, sizeof(sa_family_t)));
    printf("an automatic name: %d, another one: %d\n", autobound(other, &b), memcmp(a.sun_path, b.sun_path, 6) != 0);
    result("listen", listen(l, 1));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    result("connect to the automatic name", connect(c, (struct sockaddr *)&a, sizeof(sa_family_t) + 6));
    close(c);
    close(other);
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, on_pipe);
    close(open("/tmp/odonata-regular", O_CREAT | O_WRONLY, 0644));
    result("connect to a regular file", connect_to(SOCK_STREAM, "/tmp/odonata-regular") < 0 ? -1 : 0);
    unlink("/tmp/odonata-regular");
    struct sockaddr_un bad = {.sun_family = AF_INET};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    result("bind with another family", bind(s, (struct sockaddr *)&bad, sizeof bad));
    result("bind with a short length", bind(s, (struct sockaddr *)&bad, 1));
    close(s);
    stream(SOCK_STREAM, "STREAM");
    stream(SOCK_SEQPACKET, "SEQPACKET");
    datagrams();
    autobind();
    abstract();
    return 0;
}
