/* Appends under a storm of signals: 2,000 writes of 100 bytes with
 * O_APPEND to a file in DIR while a 1 ms interval timer interrupts the
 * process (SA_RESTART). A regular file's write is not cut short by a
 * signal, so none is lost or made twice: the size is exactly 200,000. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;

static void tick(int sig) {
    (void)sig;
    ticks++;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return printf("usage: appends DIR\n"), 2;
    char path[256];
    snprintf(path, sizeof path, "%s/appended", argv[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tick;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &every, NULL);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
    if (fd < 0)
        return printf("open: failed\n"), 1;
    char line[100];
    memset(line, 'a', sizeof line);
    int short_writes = 0;
    for (int i = 0; i < 2000; i++)
        if (write(fd, line, sizeof line) != (ssize_t)sizeof line)
            short_writes++;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    close(fd);
    struct stat st;
    stat(path, &st);
    printf("short writes: %d\n", short_writes);
    printf("size: %lld (%s)\n", (long long)st.st_size, st.st_size == 200000 ? "every append once" : "WRONG");
    printf("signals arrived: %s\n", ticks > 0 ? "yes" : "no");
    return 0;
}
