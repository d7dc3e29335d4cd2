/* A fork bomb, bounded: forking fails with EAGAIN at the process limit,
 * the kernel stays up, and every child is killed and reaped. (Never run
 * on the host: root has no process limit there.) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t children[100000];

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int forked = 0, err = 0;
    while (forked < 100000) {
        pid_t c = fork();
        if (c < 0) {
            err = errno;
            break;
        }
        if (c == 0)
            for (;;) pause();
        children[forked++] = c;
    }
    for (int i = 0; i < forked; i++) kill(children[i], SIGKILL);
    int reaped = 0, st;
    while (wait(&st) > 0) reaped++;
    printf("forked %d, then %s; reaped %d\n", forked, err == EAGAIN ? "EAGAIN" : err == ENOMEM ? "ENOMEM" : strerror(err), reaped);
    return 0;
}
