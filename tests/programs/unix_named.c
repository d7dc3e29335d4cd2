/* Named AF_UNIX sockets (stream and sequenced-packet): what a program
 * sees, printed so the host (Linux) and Odonata can be compared line by
 * line. socket, bind (the path's node, EADDRINUSE, EINVAL), listen,
 * connect (ENOENT, ECONNREFUSED, EPROTOTYPE, EISCONN), accept, the names
 * on both sides, data both ways, a full backlog, a client on the other
 * CPU, a closed listener's path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void show_name(const char *what, int fd, int peer) {
    struct sockaddr_un a;
    memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len);
    if (r < 0) {
        printf("%s: -1 (%s)\n", what, strerror(errno));
        return;
    }
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
    return 0;
}
