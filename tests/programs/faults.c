/* Faults end the program that made them, with the signal Linux sends, and
 * never the kernel: argv[1] names the fault. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    printf("about to %s\n", what);
    fflush(stdout);
    if (!strcmp(what, "read-kernel")) {
        volatile char *p = (char *)0xffffffff80000000ul;
        printf("%d\n", *p);
    } else if (!strcmp(what, "write-null")) {
        volatile int *p = 0;
        *p = 1;
    } else if (!strcmp(what, "jump-noncanonical")) {
        void (*f)(void) = (void (*)(void))0x0000900000000000ul;
        f();
    } else if (!strcmp(what, "ud2")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(what, "divide")) {
        __asm__ volatile("xor %%ecx, %%ecx\n\tmov $1, %%eax\n\tcdq\n\tidiv %%ecx" ::: "eax", "ecx", "edx");
    } else if (!strcmp(what, "write-code")) {
        *(volatile char *)main = 0;
    } else if (!strcmp(what, "stack-overflow")) {
        volatile char big[1 << 16];
        big[0] = 1;
        return main(argc, argv) + big[0];
    }
    printf("still alive\n");
    return 0;
}
