/* tg bench --op optim: the optimizer step alone (see tools/bench_optim.c). */
#ifndef TG_TOOLS_BENCH_OPTIM_H
#define TG_TOOLS_BENCH_OPTIM_H

#include <stdbool.h>

#include "tapegrad.h"

/* Times SGD with momentum and Adam steps in `dtype` for about `budget`
 * seconds each; prints table rows or JSON lines. 0 on success. */
int tg_bench_optim(tg_dtype dtype, double budget, bool json);

#endif
