#include "core/rng.h"

#include <math.h>

/* splitmix64 spreads the seed over the 256-bit state */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

tg_rng tg_rng_new(uint64_t seed) {
    tg_rng rng = {0};
    for (int i = 0; i < 4; i++) rng.s[i] = splitmix64(&seed);
    return rng;
}

uint64_t tg_rng_next(tg_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_rng_uniform(tg_rng *rng) { return (double)(tg_rng_next(rng) >> 11) * 0x1.0p-53; }

/* Box-Muller: two uniforms give two independent normals */
double tg_rng_normal(tg_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare_normal;
    }
    double u1 = 1.0 - tg_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = tg_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586 * u2;
    rng->spare_normal = r * sin(theta);
    rng->has_spare = 1;
    return r * cos(theta);
}

uint64_t tg_rng_below(tg_rng *rng, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do x = tg_rng_next(rng);
    while (x >= limit);
    return x % n;
}
