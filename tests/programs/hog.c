/* Takes MIB mebibytes of anonymous memory and writes every page, then
 * checks a byte of each: what a program does when it needs memory a file
 * cache is holding. Prints one line. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc != 2)
        return printf("usage: hog MIB\n"), 2;
    long mib = atol(argv[1]);
    size_t len = (size_t)mib << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return printf("hog: mmap of %ld MiB failed\n", mib), 1;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < len; i += 4096)
        if (p[i] != (unsigned char)(i >> 12))
            return printf("hog: page %zu lost its byte\n", i >> 12), 1;
    printf("hog: wrote and read back %ld MiB\n", mib);
    return 0;
}
