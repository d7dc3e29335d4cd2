/* What one recv(2) costs when its bytes are already there (issue 29):
 * connects to HOST:PORT, whose server sends without end, waits until the
 * socket holds at least ROUND bytes, then times ROUND one-byte recvs. Once
 * pinned to CPU 0 and once to the last CPU (where Odonata's network stack
 * runs: no message crosses CPUs), and a one-byte pipe read for scale.
 * Prints the median of ROUNDS rounds, in ns per call.
 *
 * usage: bench_recv HOST PORT LAST_CPU */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUND 4096
#define ROUNDS 9

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static long median_recv(int fd) {
    long per[ROUNDS];
    char c;
    for (int r = 0; r < ROUNDS; r++) {
        int q = 0;
        while (ioctl(fd, FIONREAD, &q) == 0 && q < ROUND)
            usleep(1000);
        long t = now_ns();
        for (int i = 0; i < ROUND; i++)
            if (recv(fd, &c, 1, 0) != 1) {
                perror("recv");
                exit(1);
            }
        per[r] = (now_ns() - t) / ROUND;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp);
    return per[ROUNDS / 2];
}

static long median_pipe(void) {
    int p[2];
    pipe(p);
    char buf[ROUND];
    memset(buf, 'x', sizeof buf);
    long per[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        write(p[1], buf, ROUND);
        long t = now_ns();
        for (int i = 0; i < ROUND; i++)
            read(p[0], buf, 1);
        per[r] = (now_ns() - t) / ROUND;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp);
    close(p[0]);
    close(p[1]);
    return per[ROUNDS / 2];
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_recv HOST PORT LAST_CPU\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        return 1;
    }
    int last_cpu = atoi(argv[3]);
    pin(0);
    long first = median_recv(fd);
    long pipe0 = median_pipe();
    pin(last_cpu);
    long last = median_recv(fd);
    printf("recv of 1 byte there, from cpu0: %ld ns\n", first);
    printf("recv of 1 byte there, from cpu%d (the stack's): %ld ns\n", last_cpu, last);
    printf("pipe read of 1 byte, cpu0: %ld ns\n", pipe0);
    return 0;
}
