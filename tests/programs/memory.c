/* Memory as a program sees it: the break, anonymous mappings, protection,
 * demand-zero pages, TLS, and the error paths (EFAULT for kernel and
 * unmapped pointers, EINVAL). Prints what it observes; the host's output
 * is the expected one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static __thread int tls_counter = 41;
static char bss[1 << 20];

static void check(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerror(errno));
    else
        printf("%s: ok\n", what);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("argc %d argv[1] %s\n", argc, argc > 1 ? argv[1] : "(none)");
    tls_counter++;
    printf("tls %d\n", tls_counter);

    /* bss is zero, and writable page by page */
    long sum = 0;
    for (int i = 0; i < (int)sizeof bss; i += 4096) sum += bss[i];
    bss[sizeof bss - 1] = 7;
    printf("bss sum %ld last %d\n", sum, bss[sizeof bss - 1]);

    /* the break (the call itself: libc's allocator may move it too) */
    char *b0 = (char *)syscall(SYS_brk, 0);
    char *b1 = (char *)syscall(SYS_brk, b0 + 64 * 1024);
    memset(b0, 0xab, 64 * 1024);
    printf("brk grew %ld, byte %x\n", (long)(b1 - b0), (unsigned char)b0[65535]);
    printf("brk below the start refused: %d\n", (char *)syscall(SYS_brk, b0 - (16 << 20)) == b1);

    /* malloc, large and small */
    char *big = malloc(8 << 20);
    memset(big, 1, 8 << 20);
    long total = 0;
    for (int i = 0; i < (8 << 20); i += 4096) total += big[i];
    printf("malloc 8 MiB, touched %ld pages\n", total);
    free(big);

    /* anonymous mmap: zero, writable, unmapped */
    unsigned char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap %s, first byte %d\n", m == MAP_FAILED ? "failed" : "ok", m[0]);
    m[2 * 4096 + 5] = 9;
    check("mprotect read-only", mprotect(m, 4096, PROT_READ));
    printf("still readable %d\n", m[0]);
    check("munmap middle", munmap(m + 4096, 4096));
    printf("third page kept %d\n", m[2 * 4096 + 5]);

    /* a file mapped read-only, then made writable: the write is this
     * mapping's own (the file and another mapping still read 'a') */
    int ff = open("/tmp/mapped", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[4096];
    memset(page, 'a', sizeof page);
    write(ff, page, sizeof page);
    write(ff, page, sizeof page);
    char *f1 = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, ff, 0);
    printf("file mapping reads %c%c\n", f1[0], f1[4096]);
    check("mprotect the file mapping writable", mprotect(f1, 8192, PROT_READ | PROT_WRITE));
    f1[0] = 'b';
    f1[4096] = 'c';
    char *f2 = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, ff, 0);
    char back = 0;
    pread(ff, &back, 1, 0);
    printf("after writing the mapping: it reads %c%c, another mapping %c%c, the file %c\n", f1[0], f1[4096], f2[0], f2[4096], back);
    pid_t kid = fork();
    if (kid == 0) {
        f1[0] = 'z';
        _exit(f2[0] == 'a' ? 0 : 1);
    }
    int kst;
    waitpid(kid, &kst, 0);
    printf("a child's write is its own: parent reads %c, child saw %s\n", f1[0], WEXITSTATUS(kst) == 0 ? "a" : "something else");
    munmap(f1, 8192);
    munmap(f2, 8192);
    close(ff);
    unlink("/tmp/mapped");

    /* errors */
    check("mmap length 0", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    check("munmap unaligned", munmap(m + 1, 4096));
    check("write from a kernel address", write(1, (void *)0xffff800000000000ul, 8));
    check("write from an unmapped address", write(1, (void *)0x1000, 8));
    check("write to a bad descriptor", write(99, "x", 1));
    check("close a bad descriptor", close(-1));
    check("open a missing file", open("/no/such/file", O_RDONLY));
    struct stat st;
    check("stat a kernel pointer", syscall(SYS_stat, (char *)0xffffffff80000000ul, &st));
    check("uname into a kernel pointer", syscall(SYS_uname, (void *)0xffffffff80000000ul));

    /* files the system has */
    int fd = open("/dev/null", O_WRONLY);
    printf("write to /dev/null: %ld\n", (long)write(fd, "hello", 5));
    /* Linux never reads what goes to /dev/null: no EFAULT there */
    check("write to /dev/null from an unmapped address", write(fd, (void *)0x1000, 8));
    check("write to /dev/urandom from an unmapped address", write(open("/dev/urandom", O_WRONLY), (void *)0x1000, 8));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    char z[4] = {1, 1, 1, 1};
    long n = read(fd, z, 4);
    printf("read /dev/zero: %ld [%d%d%d%d]\n", n, z[0], z[1], z[2], z[3]);
    check("read /dev/zero into an unmapped address", read(fd, (void *)0x1000, 8));
    close(fd);

    /* A region of 16 TiB with two pages touched, 16 TiB apart: fork,
     * mprotect and munmap cost what was touched, not the region's size. */
    size_t huge = (size_t)1 << 44;
    char *vast = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vast == MAP_FAILED) {
        printf("a 16 TiB region: %s\n", strerror(errno));
    } else {
        vast[0] = 'a';
        vast[huge - 1] = 'z';
        pid_t c = fork();
        if (c == 0)
            _exit(vast[0] == 'a' && vast[huge - 1] == 'z' ? 0 : 1);
        int st;
        waitpid(c, &st, 0);
        printf("a 16 TiB region with two pages touched: the forked child sees them: %d\n", WIFEXITED(st) && WEXITSTATUS(st) == 0);
        printf("  mprotect read-only: %d\n", mprotect(vast, huge, PROT_READ));
        printf("  still there: %c%c\n", vast[0], vast[huge - 1]);
        printf("  munmap: %d\n", munmap(vast, huge));
    }

    struct utsname u;
    uname(&u);
    printf("uname sysname %s machine %s\n", u.sysname, u.machine);
    printf("pid positive %d, getppid answers %d\n", getpid() > 0, getppid() >= 0);
    fflush(stdout);
    return 3;
}
