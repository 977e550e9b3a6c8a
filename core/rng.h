/* A seeded random generator object; tapegrad has no global random state.
 * Same seed => same sequence on every machine.
 *
 *   tg_rng rng = tg_rng_new(42);
 *   double u = tg_rng_uniform(&rng);   // [0, 1)
 */
#ifndef TG_CORE_RNG_H
#define TG_CORE_RNG_H

#include <stdint.h>

typedef struct tg_rng {
    uint64_t s[4];        /* xoshiro256** state */
    double spare_normal;  /* Box-Muller keeps its second value */
    int has_spare;
} tg_rng;

tg_rng tg_rng_new(uint64_t seed);
uint64_t tg_rng_next(tg_rng *rng);                 /* 64 random bits */
double tg_rng_uniform(tg_rng *rng);                /* [0, 1), 53 bits */
double tg_rng_normal(tg_rng *rng);                 /* N(0, 1) */
uint64_t tg_rng_below(tg_rng *rng, uint64_t n);    /* [0, n), unbiased; 0 if n == 0 */

#endif
