/* Two processes on two CPUs take turns writing one page of a shared file
 * and reading the whole file back in 4 KiB reads (the size that uses each
 * CPU's page copies on Odonata); now and then one truncates the file to
 * a page boundary and grows it again. Every read must see the last write
 * and the last size, whichever CPU made it. Prints one line at the end;
 * any difference is printed where it is found. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 16
#define PAGE 4096
#define ROUNDS 400

static unsigned char model[PAGES];
static long size_pages = PAGES;

static int fail(const char *who, int round, const char *what) {
    printf("%s round %d: %s (%s)\n", who, round, what, strerror(errno));
    return 1;
}

/* Reads the whole file in 4 KiB reads; checks it against the model. */
static int check(int fd, const char *who, int round) {
    unsigned char buf[PAGE];
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != size_pages * PAGE)
        return fail(who, round, "size differs from the last one set");
    for (int p = 0; p < PAGES; p++) {
        ssize_t n = pread(fd, buf, PAGE, (off_t)p * PAGE);
        if (p >= size_pages) {
            if (n != 0)
                return fail(who, round, "read past the end returned bytes");
            continue;
        }
        if (n != PAGE)
            return fail(who, round, "short read");
        for (int i = 0; i < PAGE; i++)
            if (buf[i] != model[p]) {
                printf("%s round %d: page %d byte %d is %d, the last write made it %d\n", who, round, p, i, buf[i], model[p]);
                return 1;
            }
    }
    return 0;
}

/* Sends the whole state to the other side. */
static int hand_over(int out) {
    int state[PAGES + 1];
    for (int q = 0; q < PAGES; q++)
        state[q] = model[q];
    state[PAGES] = (int)size_pages;
    return write(out, state, sizeof state) == sizeof state ? 0 : -1;
}

/* Takes the state the other side sent. */
static int take_over(int in) {
    int state[PAGES + 1];
    if (read(in, state, sizeof state) != sizeof state)
        return -1;
    for (int q = 0; q < PAGES; q++)
        model[q] = (unsigned char)state[q];
    size_pages = state[PAGES];
    return 0;
}

/* One side, on CPU `me`: on its turn it checks, writes one page (now and
 * then it cuts the file first, or leaves it cut), checks, and hands over;
 * otherwise it waits for the other side and checks what it did. */
static int side(int fd, int me, int in, int out) {
    const char *who = me ? "child" : "parent";
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(me, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return fail(who, -1, "sched_setaffinity");
    unsigned char page[PAGE];
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2 != me) {
            if (take_over(in) != 0)
                return fail(who, r, "handover");
            if (check(fd, who, r))
                return 1;
            continue;
        }
        if (check(fd, who, r))
            return 1;
        int p = (r * 7) % PAGES;
        unsigned char v = (unsigned char)(r + 1);
        if (r % 50 == 10) {
            /* Cut to p pages and grow back: zeros from p on. */
            if (ftruncate(fd, (off_t)p * PAGE) != 0 || ftruncate(fd, (off_t)PAGES * PAGE) != 0)
                return fail(who, r, "ftruncate");
            for (int q = p; q < PAGES; q++)
                model[q] = 0;
            size_pages = PAGES;
        }
        memset(page, v, PAGE);
        if (pwrite(fd, page, PAGE, (off_t)p * PAGE) != PAGE)
            return fail(who, r, "pwrite");
        model[p] = v;
        if (p + 1 > size_pages)
            size_pages = p + 1;
        if (r % 50 == 30) {
            /* Left cut to half for the other side to see. */
            if (ftruncate(fd, (off_t)(PAGES / 2) * PAGE) != 0)
                return fail(who, r, "ftruncate to half");
            for (int q = PAGES / 2; q < PAGES; q++)
                model[q] = 0;
            size_pages = PAGES / 2;
        }
        if (check(fd, who, r))
            return 1;
        if (hand_over(out) != 0)
            return fail(who, r, "handover");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return printf("usage: coherent FILE\n"), 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)PAGES * PAGE) != 0)
        return fail("setup", -1, "create");
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0)
        return fail("setup", -1, "pipe");
    pid_t child = fork();
    if (child == 0) {
        int fd2 = open(argv[1], O_RDWR);
        _exit(fd2 < 0 ? 1 : side(fd2, 1, a[0], b[1]));
    }
    int status = 0, bad = side(fd, 0, b[0], a[1]);
    waitpid(child, &status, 0);
    if (bad || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    unlink(argv[1]);
    printf("coherent: %d rounds on two CPUs, every read saw the last write and size\n", ROUNDS);
    return 0;
}
