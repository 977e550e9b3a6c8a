/* tg bench's engine workloads (scalar chain, MLP with batchnorm, batchnorm,
 * 16M elementwise): see tools/bench_engine.c. */
#ifndef TG_TOOLS_BENCH_ENGINE_H
#define TG_TOOLS_BENCH_ENGINE_H

#include <stdbool.h>

bool tg_bench_engine_has(const char *name);
const char *tg_bench_engine_names(void); /* "scalar|mlp-bn|..." */
/* Times workload `name` for about `budget` seconds; prints a table row or a
 * JSON line. 0 on success, 1 if a step failed. */
int tg_bench_engine(const char *name, double budget, bool json);

#endif
