/* exp for kernel inner loops (private to ops/): branch-free, so compilers
 * vectorize the loops that call it, unlike libm's exp.
 *
 *   exp(x) = 2^n * e^f,  n = round(x / ln 2),  f = x - n ln 2 in [-ln2/2, ln2/2]
 *   e^f by its Taylor series (degree 7 for f32, 13 for f64: < 1 ulp of truncation)
 *   2^n built in the exponent bits: n is read off x/ln2 + 1.5*2^mantissa_bits.
 *
 * Within about 2 ulp of exp(x) for lo <= x <= hi; 0 below lo (where exp(x)
 * would be denormal or zero), +inf above hi, NaN for NaN. The gap between hi
 * (88 / 709) and the true overflow point (88.72 / 709.78) also gives +inf:
 * callers use it on x - max(x) <= 0 or where the result is infinite anyway.
 * On x86 without AVX2 the f64 version is libm's exp (faster there). */
#ifndef TG_OPS_VEXP_H
#define TG_OPS_VEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* c ? a : b as bit masks: compilers vectorize it where a float ?: blocks
 * if-conversion (a comparison may trap on NaN) */
static inline float tg_select_f32(int c, float a, float b) {
    uint32_t m = 0u - (uint32_t)(c != 0), ab, bb;
    memcpy(&ab, &a, sizeof a);
    memcpy(&bb, &b, sizeof b);
    uint32_t r = (ab & m) | (bb & ~m);
    float y;
    memcpy(&y, &r, sizeof y);
    return y;
}
static inline double tg_select_f64(int c, double a, double b) {
    uint64_t m = 0u - (uint64_t)(c != 0), ab, bb;
    memcpy(&ab, &a, sizeof a);
    memcpy(&bb, &b, sizeof b);
    uint64_t r = (ab & m) | (bb & ~m);
    double y;
    memcpy(&y, &r, sizeof y);
    return y;
}

#ifdef __FMA__ /* one rounding per step, and vfmadd in vector loops */
#define TG_VEXP_MADD_F32(a, b, c) fmaf((a), (b), (c))
#define TG_VEXP_MADD_F64(a, b, c) fma((a), (b), (c))
#else
#define TG_VEXP_MADD_F32(a, b, c) ((a) * (b) + (c))
#define TG_VEXP_MADD_F64(a, b, c) ((a) * (b) + (c))
#endif

static inline float tg_vexp_f32(float x) {
    const float lo = -87.0f, hi = 88.0f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
    float xc = tg_select_f32(x < lo, lo, tg_select_f32(x > hi, hi, x));
    float r = xc * 1.44269504088896341f + magic;
    uint32_t rbits, magic_bits;
    memcpy(&rbits, &r, sizeof r);
    memcpy(&magic_bits, &magic, sizeof magic);
    float n = r - magic;
    float f = xc - n * 0.693145751953125f; /* ln2 split: hi part exact for |n| < 2^8 */
    f = f - n * 1.42860682030941723e-6f;
    float p = TG_VEXP_MADD_F32(1.0f / 5040, f, 1.0f / 720);
    p = TG_VEXP_MADD_F32(p, f, 1.0f / 120);
    p = TG_VEXP_MADD_F32(p, f, 1.0f / 24);
    p = TG_VEXP_MADD_F32(p, f, 1.0f / 6);
    p = TG_VEXP_MADD_F32(p, f, 0.5f);
    p = TG_VEXP_MADD_F32(p, f, 1.0f);
    p = TG_VEXP_MADD_F32(p, f, 1.0f);
    uint32_t sbits = (rbits - magic_bits + 127u) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &sbits, sizeof scale);
    float y = p * scale;
    y = tg_select_f32(x < lo, 0.0f, y);
    y = tg_select_f32(x > hi, INFINITY, y);
    return tg_select_f32(x != x, x, y);
}

static inline double tg_vexp_f64(double x) {
#if defined(__x86_64__) && !defined(__AVX2__)
    return exp(x); /* without 64-bit vector integer ops the polynomial loses to libm */
#else
    const double lo = -708.0, hi = 709.0;
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    double xc = tg_select_f64(x < lo, lo, tg_select_f64(x > hi, hi, x));
    double r = xc * 1.4426950408889634074 + magic;
    uint64_t rbits, magic_bits;
    memcpy(&rbits, &r, sizeof r);
    memcpy(&magic_bits, &magic, sizeof magic);
    double n = r - magic;
    double f = xc - n * 6.93147180369123816490e-01; /* ln2 split: hi part has 21 trailing zero bits */
    f = f - n * 1.90821492927058770002e-10;
    double p = TG_VEXP_MADD_F64(1.0 / 6227020800.0, f, 1.0 / 479001600.0); /* 1/13!, 1/12! */
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 39916800.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 3628800.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 362880.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 40320.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 5040.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 720.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 120.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 24.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0 / 6.0);
    p = TG_VEXP_MADD_F64(p, f, 0.5);
    p = TG_VEXP_MADD_F64(p, f, 1.0);
    p = TG_VEXP_MADD_F64(p, f, 1.0);
    uint64_t sbits = (rbits - magic_bits + 1023u) << 52;
    double scale;
    memcpy(&scale, &sbits, sizeof scale);
    double y = p * scale;
    y = tg_select_f64(x < lo, 0.0, y);
    y = tg_select_f64(x > hi, INFINITY, y);
    return tg_select_f64(x != x, x, y);
#endif
}

#endif
