/* Copies between the kernel and a program at every alignment: reads from a
 * pipe into, and writes to a pipe from, buffers that start 0 to 15 bytes
 * before a page boundary (the page after untouched, so the copy faults it
 * in midway), for lengths around a word and a page; then a buffer the
 * program may not touch (EFAULT). Prints one line per kind. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 4095, 4096, 4097, 8000};
#define NLENS (sizeof lens / sizeof lens[0])

static unsigned char pattern(size_t i, size_t seed) { return (unsigned char)(i * 31 + seed * 7 + 1); }

static int pipe_read_into(unsigned char *dst, size_t len, size_t seed) {
    int p[2];
    static unsigned char src[8192];
    if (pipe(p) != 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        src[i] = pattern(i, seed);
    if (write(p[1], src, len) != (ssize_t)len)
        return -2;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(p[0], dst + got, len - got);
        if (n <= 0)
            return -3;
        got += n;
    }
    close(p[0]);
    close(p[1]);
    for (size_t i = 0; i < len; i++)
        if (dst[i] != pattern(i, seed))
            return -4;
    return 0;
}

static int pipe_write_from(const unsigned char *src, size_t len) {
    int p[2];
    static unsigned char back[8192];
    if (pipe(p) != 0)
        return -1;
    if (write(p[1], src, len) != (ssize_t)len)
        return -2;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(p[0], back + got, len - got);
        if (n <= 0)
            return -3;
        got += n;
    }
    close(p[0]);
    close(p[1]);
    return memcmp(back, src, len) == 0 ? 0 : -4;
}

int main(void) {
    int cases = 0;
    for (size_t off = 0; off < 16; off++)
        for (size_t l = 0; l < NLENS; l++) {
            unsigned char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                return printf("mmap: %s\n", strerror(errno)), 1;
            m[0] = 1; /* the first page mapped, the rest untouched */
            unsigned char *dst = m + 4096 - off;
            int r = pipe_read_into(dst, lens[l], off + l);
            if (r != 0)
                return printf("read into offset %zu before a page, %zu bytes: step %d\n", off, lens[l], r), 1;
            munmap(m, 4 * 4096);
            cases++;
        }
    printf("copies: %d reads into buffers across an untouched page, every byte right\n", cases);
    cases = 0;
    for (size_t off = 0; off < 16; off++)
        for (size_t l = 0; l < NLENS; l++) {
            unsigned char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                return printf("mmap: %s\n", strerror(errno)), 1;
            m[0] = 1;
            unsigned char *src = m + 4096 - off;
            /* The part in the untouched pages reads as zeros, the rest is set. */
            for (size_t i = 0; i < off && i < lens[l]; i++)
                src[i] = pattern(i, off);
            int r = pipe_write_from(src, lens[l]);
            if (r != 0)
                return printf("write from offset %zu before a page, %zu bytes: step %d\n", off, lens[l], r), 1;
            munmap(m, 4 * 4096);
            cases++;
        }
    printf("copies: %d writes from buffers across an untouched page, every byte right\n", cases);
    unsigned char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int p[2];
    if (none == MAP_FAILED || pipe(p) != 0)
        return 1;
    errno = 0;
    ssize_t w = write(p[1], none + 3, 100);
    int werr = errno;
    if (write(p[1], "abcdefgh", 8) != 8)
        return 1;
    errno = 0;
    ssize_t r = read(p[0], none + 5, 8);
    printf("copies: write from a page it may not touch: %zd (%s); read into one: %zd (%s)\n", w, strerror(werr), r, strerror(errno));
    return 0;
}
