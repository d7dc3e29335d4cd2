/* What the socket test programs share: printing a call's result as the
 * host and Odonata are compared line by line, pinning to a CPU, counting
 * SIGPIPEs. Included by the .c files that need it (each program is still
 * one translation unit: `tests/lib.rs`, `c_program`). */
#ifndef ODONATA_REPORT_H
#define ODONATA_REPORT_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t pipes;

__attribute__((unused)) static void on_pipe(int sig) {
    (void)sig;
    pipes++;
}

/* "what: value", or "what: -1 (error)". */
__attribute__((unused)) static void result(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 (%s)\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

__attribute__((unused)) static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

#endif
