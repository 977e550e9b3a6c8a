#include "core/parallel.h"

#include <omp.h>

void tg_set_num_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}

int tg_get_num_threads(void) { return omp_get_max_threads(); }
