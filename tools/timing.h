/* Timing helpers of the tg commands and benchmarks: a monotonic clock, and
 * sorting of timed samples. The including file defines _POSIX_C_SOURCE
 * (clock_gettime) before its first include. */
#ifndef TG_TOOLS_TIMING_H
#define TG_TOOLS_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* qsort order of doubles, ascending */
static inline int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
