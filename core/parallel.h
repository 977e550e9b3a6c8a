/* OpenMP helpers. Loops below TG_PARALLEL_MIN elements run serially, so tiny
 * tensors never pay for forking a parallel region. Static schedules only:
 * the same thread count gives the same partition, hence bit-identical results. */
#ifndef TG_CORE_PARALLEL_H
#define TG_CORE_PARALLEL_H

#include <stdint.h>

#define TG_PARALLEL_MIN 32768

#define TG_PRAGMA(x) _Pragma(#x)
/* Put before a `for` over n independent elements. */
#define TG_PARALLEL_FOR(n) TG_PRAGMA(omp parallel for schedule(static) if ((n) >= TG_PARALLEL_MIN))
/* Same, for loops whose iterations each cost `work` elements. */
#define TG_PARALLEL_FOR_WORK(work) TG_PRAGMA(omp parallel for schedule(static) if ((work) >= TG_PARALLEL_MIN))

/* Sets the thread count for tapegrad's kernels (like OMP_NUM_THREADS). */
void tg_set_num_threads(int n);
int tg_get_num_threads(void);

#endif
