#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "core/parallel.h"

#include <omp.h>
#include <stdatomic.h>
#include <time.h>

enum { FIRST_BACKOFF = 16, LAST_BACKOFF = 4096, LATE_IN_A_ROW = 3 };

static _Atomic int64_t backoff_left;                  /* regions still to run alone */
static _Atomic int64_t backoff_next = FIRST_BACKOFF; /* the next back-off's length */
static _Atomic int late_regions;                      /* late regions in a row so far */

/* (a thread count set on purpose starts without a back-off) */
void tg_set_num_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    atomic_store_explicit(&backoff_left, 0, memory_order_relaxed);
    atomic_store_explicit(&backoff_next, FIRST_BACKOFF, memory_order_relaxed);
    atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
}

int tg_get_num_threads(void) { return omp_get_max_threads(); }

bool tg_parallel_available(void) {
    if (omp_get_max_threads() <= 1 || omp_in_parallel()) return false;
    if (atomic_load_explicit(&backoff_left, memory_order_relaxed) <= 0) return true;
    atomic_fetch_sub_explicit(&backoff_left, 1, memory_order_relaxed);
    return false;
}

/* Late: the others arrived more than twice the share and 200 us after the
 * calling thread was done (uneven shares or a busy moment stay well below).
 * One late region is a hiccup (a virtual machine's core taken away for a
 * moment): only LATE_IN_A_ROW of them in a row say the machine is busier
 * than its cores. */
void tg_parallel_note_region(double share, double wait) {
    if (wait > 2 * share + 200e-6) {
        if (atomic_fetch_add_explicit(&late_regions, 1, memory_order_relaxed) + 1 < LATE_IN_A_ROW) return;
        atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
        int64_t next = atomic_load_explicit(&backoff_next, memory_order_relaxed);
        atomic_store_explicit(&backoff_left, next, memory_order_relaxed);
        atomic_store_explicit(&backoff_next, next < LAST_BACKOFF ? 2 * next : LAST_BACKOFF, memory_order_relaxed);
    } else {
        atomic_store_explicit(&late_regions, 0, memory_order_relaxed);
        atomic_store_explicit(&backoff_next, FIRST_BACKOFF, memory_order_relaxed);
    }
}

double tg_parallel_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tg_region_start(tg_region *r) { r->start = r->share_done = tg_parallel_now(); }
void tg_region_share_done(tg_region *r) {
    if (omp_get_thread_num() == 0) r->share_done = tg_parallel_now();
}
void tg_region_end(tg_region *r) {
    double end = tg_parallel_now();
    tg_parallel_note_region(r->share_done - r->start, end - r->share_done);
}

int tg_thread_index(void) { return omp_get_thread_num(); }

/* The segments of the global range [lo, hi): each part is one piece call. */
static void run_range(int count, const int64_t *sizes, tg_segment_fn piece, void *context, int64_t lo, int64_t hi) {
    int64_t start = 0; /* global index of segment s's first element */
    for (int s = 0; s < count && start < hi; s++) {
        int64_t end = start + sizes[s];
        int64_t begin = lo > start ? lo : start, stop = hi < end ? hi : end;
        if (begin < stop) piece(context, s, begin - start, stop - start);
        start = end;
    }
}

void tg_parallel_segments(int count, const int64_t *sizes, tg_segment_fn piece, void *context) {
    int64_t total = 0;
    for (int s = 0; s < count; s++) total += sizes[s];
    if (!TG_PARALLEL_WORTH(total)) {
        run_range(count, sizes, piece, context, 0, total);
        return;
    }
    tg_region region;
    tg_region_start(&region);
#pragma omp parallel
    {
        int64_t id = omp_get_thread_num(), threads = omp_get_num_threads();
        run_range(count, sizes, piece, context, total * id / threads, total * (id + 1) / threads);
        tg_region_share_done(&region);
    }
    tg_region_end(&region);
}
