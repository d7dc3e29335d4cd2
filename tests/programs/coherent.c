/* Two processes on two CPUs take turns writing one page of a shared file
 * and reading the whole file back in 4 KiB reads (the size that uses each
 * CPU's page copies on Odonata); now and then one truncates the file to
 * a page boundary and grows it again. Every read must see the last write
 * and the last size, whichever CPU made it. Then they take turns making,
 * renaming and removing names in a directory (and renaming the directory
 * itself), and each checks every name by path after every turn (each
 * CPU's cache of names on Odonata). Prints one line per phase; any
 * difference is printed where it is found. */
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

/* The names phase: which of NAMES names exist in the directory, and
 * which of two names the directory has. */
#define NAMES 8
static int present[NAMES];
static int moved;
static char base[256];

static void name_path(char *out, size_t len, int dir, int k) {
    if (k < 0)
        snprintf(out, len, "%s.d%d", base, dir);
    else
        snprintf(out, len, "%s.d%d/n%d", base, dir, k);
}

static int check_names(const char *who, int round) {
    char path[320];
    for (int d = 0; d < 2; d++) {
        name_path(path, sizeof path, d, -1);
        int there = access(path, F_OK) == 0;
        if (there != (d == moved)) {
            printf("%s round %d: directory %s is %s, the last change left it %s\n", who, round, path, there ? "there" : "gone",
                   d == moved ? "there" : "gone");
            return 1;
        }
        for (int k = 0; k < NAMES; k++) {
            name_path(path, sizeof path, d, k);
            struct stat st;
            int found = stat(path, &st) == 0;
            int want = d == moved && present[k];
            if (found != want) {
                printf("%s round %d: %s is %s, the last change left it %s\n", who, round, path, found ? "there" : "gone",
                       want ? "there" : "gone");
                return 1;
            }
        }
    }
    return 0;
}

static int names_side(int me, int in, int out) {
    const char *who = me ? "child" : "parent";
    char a[320], b[320];
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2 != me) {
            int state[NAMES + 1];
            if (read(in, state, sizeof state) != sizeof state)
                return fail(who, r, "handover");
            for (int k = 0; k < NAMES; k++)
                present[k] = state[k];
            moved = state[NAMES];
            if (check_names(who, r))
                return 1;
            continue;
        }
        if (check_names(who, r))
            return 1;
        int k = (r * 3) % NAMES, j = (r * 5 + 1) % NAMES;
        switch (r % 4) {
        case 0: /* make k, or remove it if it is there */
            name_path(a, sizeof a, moved, k);
            if (present[k]) {
                if (unlink(a) != 0)
                    return fail(who, r, "unlink");
            } else {
                int fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
                if (fd < 0)
                    return fail(who, r, "create");
                close(fd);
            }
            present[k] = !present[k];
            break;
        case 1: /* rename k over j */
            if (!present[k] || k == j)
                break;
            name_path(a, sizeof a, moved, k);
            name_path(b, sizeof b, moved, j);
            if (rename(a, b) != 0)
                return fail(who, r, "rename");
            present[k] = 0;
            present[j] = 1;
            break;
        case 2: /* the directory gets its other name */
            name_path(a, sizeof a, moved, -1);
            name_path(b, sizeof b, !moved, -1);
            if (rename(a, b) != 0)
                return fail(who, r, "rename the directory");
            moved = !moved;
            break;
        default: /* make j as a directory and remove it again */
            if (present[j])
                break;
            name_path(a, sizeof a, moved, j);
            if (mkdir(a, 0755) != 0 || rmdir(a) != 0)
                return fail(who, r, "mkdir and rmdir");
            break;
        }
        if (check_names(who, r))
            return 1;
        int state[NAMES + 1];
        for (int q = 0; q < NAMES; q++)
            state[q] = present[q];
        state[NAMES] = moved;
        if (write(out, state, sizeof state) != sizeof state)
            return fail(who, r, "handover");
    }
    return 0;
}

/* Pins the caller to CPU `me`. */
static int pin(int me) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(me, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : fail(me ? "child" : "parent", -1, "sched_setaffinity");
}

/* Both phases' processes: `run` on CPU 0 here and CPU 1 in a child. */
static int both(int (*run)(int, int, int, int), int fd, const char *path) {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0)
        return fail("setup", -1, "pipe");
    pid_t child = fork();
    if (child == 0) {
        int fd2 = path ? open(path, O_RDWR) : -1;
        _exit(path && fd2 < 0 ? 1 : pin(1) ? 1 : run(fd2, 1, a[0], b[1]));
    }
    int status = 0, bad = pin(0) || run(fd, 0, b[0], a[1]);
    close(a[1]);
    close(b[1]);
    waitpid(child, &status, 0);
    close(a[0]);
    close(b[0]);
    return bad || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static int names_run(int fd, int me, int in, int out) {
    (void)fd;
    return names_side(me, in, out);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return printf("usage: coherent FILE\n"), 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)PAGES * PAGE) != 0)
        return fail("setup", -1, "create");
    if (both(side, fd, argv[1]))
        return 1;
    unlink(argv[1]);
    printf("coherent: %d rounds on two CPUs, every read saw the last write and size\n", ROUNDS);
    snprintf(base, sizeof base, "%s", argv[1]);
    char dir[320];
    name_path(dir, sizeof dir, 0, -1);
    if (mkdir(dir, 0755) != 0)
        return fail("setup", -1, "mkdir");
    if (both(names_run, -1, NULL))
        return 1;
    for (int k = 0; k < NAMES; k++) {
        char path[320];
        name_path(path, sizeof path, moved, k);
        unlink(path);
    }
    name_path(dir, sizeof dir, moved, -1);
    rmdir(dir);
    printf("coherent: %d rounds of names on two CPUs, every path saw the last change\n", ROUNDS);
    return 0;
}
