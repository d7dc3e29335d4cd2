/* Pseudo-terminals, printed so the host (Linux) and Odonata can be
 * compared line by line: a master from posix_openpt, its terminal end
 * locked until unlockpt, a child that makes it its controlling terminal
 * (setsid, open), a line typed and echoed (ONLCR's \r\n), raw mode, the
 * window size through either end, Ctrl-C killing the foreground group,
 * and the master's EIO once the terminal end has closed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "report.h"

static char seen[4096];
static int seen_len;

/* Reads the master until `want` has been seen (or EIO, or 10 s). */
static int read_until(int m, const char *want) {
    for (int tries = 0; tries < 1000; tries++) {
        seen[seen_len] = 0;
        if (want && strstr(seen, want))
            return 1;
        char buf[256];
        long n = read(m, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN) {
            usleep(10000);
            continue;
        }
        if (n <= 0)
            return 0;
        if (seen_len + n < (long)sizeof seen - 1) {
            memcpy(seen + seen_len, buf, n);
            seen_len += n;
        }
    }
    return 0;
}

/* What the master read, \r and control bytes shown. */
static void show(const char *what) {
    printf("%s: \"", what);
    for (int i = 0; i < seen_len; i++) {
        unsigned char c = seen[i];
        if (c == '\r')
            printf("\\r");
        else if (c == '\n')
            printf("\\n");
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    printf("\"\n");
    seen_len = 0;
}

static void child(const char *name) {
    setsid();
    int t = open(name, O_RDWR);
    if (t < 0)
        _exit(10);
    dup2(t, 0);
    dup2(t, 1);
    dup2(t, 2);
    if (t > 2)
        close(t);
    int tty = open("/dev/tty", O_RDWR);
    printf("child: a terminal %d, /dev/tty opens %d, foreground is me %d\n", isatty(0), tty >= 0,
           tcgetpgrp(0) == getpid());
    close(tty);
    char line[64] = {0};
    long n = read(0, line, sizeof line - 1);
    printf("child: read %ld: %s", n, line);
    struct termios raw, cooked;
    tcgetattr(0, &cooked);
    raw = cooked;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 3;
    raw.c_cc[VTIME] = 0;
    tcsetattr(0, TCSANOW, &raw);
    printf("raw\n");
    fflush(stdout);
    memset(line, 0, sizeof line);
    n = 0;
    while (n < 3) {
        long got = read(0, line + n, 3 - n);
        if (got <= 0)
            break;
        n += got;
    }
    tcsetattr(0, TCSANOW, &cooked);
    struct winsize ws;
    ioctl(0, TIOCGWINSZ, &ws);
    printf("child: raw read %ld: %s; window %dx%d\nready\n", n, line, ws.ws_row, ws.ws_col);
    fflush(stdout);
    /* Ctrl-C from the master ends this read. */
    read(0, line, sizeof line);
    _exit(0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    result("posix_openpt", m >= 0 ? 0 : -1);
    char *name = ptsname(m);
    printf("ptsname under /dev/pts/: %d\n", name && strncmp(name, "/dev/pts/", 9) == 0);
    int early = open(name, O_RDWR | O_NOCTTY);
    result("open before unlockpt", early);
    result("grantpt", grantpt(m));
    result("unlockpt", unlockpt(m));
    struct winsize ws = {.ws_row = 33, .ws_col = 111};
    result("TIOCSWINSZ on the master", ioctl(m, TIOCSWINSZ, &ws));
    int flags = fcntl(m, F_GETFL);
    fcntl(m, F_SETFL, flags | O_NONBLOCK);

    pid_t pid = fork();
    if (pid == 0) {
        close(m);
        child(name);
    }
    read_until(m, "foreground is me");
    read_until(m, "\n");
    show("master read");
    result("write a line", write(m, "hello\r", 6));
    read_until(m, "raw\r\n");
    show("master read");
    result("write raw bytes", write(m, "abc", 3));
    read_until(m, "ready\r\n");
    show("master read");
    result("write Ctrl-C", write(m, "\x03", 1));
    int status;
    waitpid(pid, &status, 0);
    printf("child killed by SIGINT: %d\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    read_until(m, NULL);
    show("master read");
    fcntl(m, F_SETFL, flags);
    char b;
    result("read after the terminal end closed", read(m, &b, 1));
    close(m);
    return 0;
}
