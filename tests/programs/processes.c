/* Processes as a program sees them: fork and copy-on-write both ways,
 * a big copy-on-write region, exec of another program, wait statuses,
 * pipes between processes, non-blocking pipes, EPIPE, ECHILD, posix_spawn. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static int shared_value = 1;
static char big[4 << 20];

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "child")) {
        printf("exec'd child: argv[2]=%s\n", argv[2]);
        return 9;
    }
    if (argc > 1 && !strcmp(argv[1], "quiet"))
        return 9;
    memset(big, 'p', sizeof big);
    pid_t c = fork();
    if (c == 0) {
        shared_value = 2;
        big[0] = 'c';
        big[sizeof big - 1] = 'c';
        printf("child sees %d %c%c\n", shared_value, big[0], big[sizeof big - 1]);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("parent still sees %d %c%c\n", shared_value, big[0], big[sizeof big - 1]);
    /* the parent writes after fork: the child must not see it */
    int fds[2];
    pipe(fds);
    c = fork();
    if (c == 0) {
        char b;
        read(fds[0], &b, 1);
        printf("child after the parent's write sees %d\n", shared_value);
        _exit(0);
    }
    shared_value = 3;
    write(fds[1], "x", 1);
    waitpid(c, &st, 0);
    close(fds[0]);
    close(fds[1]);

    /* exec */
    c = fork();
    if (c == 0) {
        char *args[] = {argv[0], "child", "hello", NULL};
        execv("/proc/self/exe", args);
        perror("execv");
        _exit(127);
    }
    waitpid(c, &st, 0);
    printf("exec'd child exited %d\n", WEXITSTATUS(st));
    c = fork();
    if (c == 0) {
        execl("/no/such/program", "x", (char *)NULL);
        printf("execl failed: %s\n", strerror(errno));
        _exit(5);
    }
    waitpid(c, &st, 0);
    printf("status %d\n", WEXITSTATUS(st));

    /* a pipeline of three processes */
    int a[2], b[2];
    pipe(a);
    pipe(b);
    if (fork() == 0) {
        dup2(a[1], 1);
        close(a[0]); close(a[1]); close(b[0]); close(b[1]);
        for (int i = 0; i < 1000; i++) printf("line %d\n", i);
        fflush(stdout);
        _exit(0);
    }
    if (fork() == 0) {
        dup2(a[0], 0);
        dup2(b[1], 1);
        close(a[0]); close(a[1]); close(b[0]); close(b[1]);
        char buf[4096];
        long n, total = 0;
        while ((n = read(0, buf, sizeof buf)) > 0) total += n;
        printf("%ld\n", total);
        fflush(stdout);
        _exit(0);
    }
    close(a[0]); close(a[1]); close(b[1]);
    char out[64] = {0};
    long n = read(b[0], out, sizeof out - 1);
    printf("pipeline counted %s", n > 0 ? out : "nothing\n");
    close(b[0]);
    while (wait(&st) > 0) {}
    printf("wait with no children: %s\n", strerror(errno));

    /* non-blocking pipe */
    pipe(fds);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char x;
    n = read(fds[0], &x, 1);
    printf("empty non-blocking read: %ld %s\n", n, strerror(errno));
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    long written = 0;
    char chunk[4096] = {0};
    while ((n = write(fds[1], chunk, sizeof chunk)) > 0) written += n;
    printf("a full pipe took %ld bytes, then: %s\n", written, strerror(errno));
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    n = write(fds[1], "x", 1);
    printf("write with no reader: %s\n", strerror(errno));

    /* WNOHANG and a specific pid */
    c = fork();
    if (c == 0) { usleep(200000); _exit(4); }
    printf("WNOHANG while it runs: %d\n", waitpid(c, &st, WNOHANG));
    pid_t got = waitpid(c, &st, 0);
    printf("then: %d exited %d\n", got == c, WEXITSTATUS(st));

    /* posix_spawn (what musl's system() and popen() use): clone with
     * CLONE_VM | CLONE_VFORK and a stack of its own; an exec failure comes
     * back through a pipe. */
    char *sargv[] = {argv[0], "quiet", NULL};
    pid_t sp;
    int r = posix_spawn(&sp, "/proc/self/exe", NULL, NULL, sargv, environ);
    printf("posix_spawn: %d\n", r);
    printf("spawned child: same pid %d\n", waitpid(sp, &st, 0) == sp);
    printf("  exited %d\n", WEXITSTATUS(st));
    r = posix_spawn(&sp, "/no/such/program", NULL, NULL, sargv, environ);
    printf("posix_spawn of a missing program: %s\n", strerror(r));
    return 0;
}
