#include "core/parallel.h"

#include <omp.h>

void tg_set_num_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}

int tg_get_num_threads(void) { return omp_get_max_threads(); }

bool tg_parallel_available(void) { return omp_get_max_threads() > 1 && !omp_in_parallel(); }

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
#pragma omp parallel
    {
        int64_t id = omp_get_thread_num(), threads = omp_get_num_threads();
        run_range(count, sizes, piece, context, total * id / threads, total * (id + 1) / threads);
    }
}
