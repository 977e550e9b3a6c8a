/* One variant of the general matrix product (ops/gemm.h): vector primitives
 * for one instruction set, then the blocked body of ops/gemm_kernel.h and
 * ops/gemm_product.h instantiated for f32 and f64, collected in
 * `const tg_gemm_variant GEMM_VARIANT`. Included once by each of
 * ops/gemm_avx512.c, ops/gemm_avx2.c and ops/gemm_portable.c, which define GEMM_VARIANT and one of
 * GEMM_ISA_AVX512, GEMM_ISA_AVX2, GEMM_ISA_PORTABLE; CMakeLists.txt compiles
 * the first two with the instruction set enabled, ops/gemm.c picks one at run
 * time. No include guard on purpose.
 *
 * Register tiles (C rows x columns held in registers while k runs):
 *   AVX-512: 12 x 32 f32, 12 x 16 f64 (24 of 32 vector registers accumulate)
 *   AVX2+FMA: 6 x 16 f32, 6 x 8 f64   (12 of 16)
 *   portable: 4 x 8 f32, 4 x 4 f64    (16-byte GCC vectors, multiply then add) */
#include "core/parallel.h"
#include "ops/gemm.h"

#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Slices of C per thread in a round: more even out a thread that the
 * machine slows down, fewer keep more of the operands in cache. */
#define UNITS_PER_THREAD 4
/* Threads one product runs on at most (each has its own list of slices). */
#define MAX_GEMM_THREADS 64
#if defined(__x86_64__) || defined(__i386__)
#define SPIN_PAUSE() __builtin_ia32_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif

#if defined(GEMM_ISA_AVX512)
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || !defined(__FMA__)
#error "ops/gemm_avx512.c needs -mavx512f -mavx512bw -mavx512vl -mfma (CMakeLists.txt)"
#endif
#include <immintrin.h>
#define KERNEL_NAME "avx512"
#define FUSED true
#define MR_F32 12
#define MR_F64 12
typedef __m512 vec_f32;
typedef __m512d vec_f64;
#define VLEN_F32 16
#define VLEN_F64 8
#define VZERO_F32() _mm512_setzero_ps()
#define VLOAD_F32(p) _mm512_loadu_ps(p)
#define VSTORE_F32(p, v) _mm512_storeu_ps((p), (v))
#define VSET1_F32(x) _mm512_set1_ps(x)
#define VFMA_F32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VZERO_F64() _mm512_setzero_pd()
#define VLOAD_F64(p) _mm512_loadu_pd(p)
#define VSTORE_F64(p, v) _mm512_storeu_pd((p), (v))
#define VSET1_F64(x) _mm512_set1_pd(x)
#define VFMA_F64(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VLOAD_PART_F32(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define VSTORE_PART_F32(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define VLOAD_PART_F64(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p))
#define VSTORE_PART_F64(p, v, n) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (v))
/* p[0], p[1] in every pair of lanes; the lanes whose bit is set taken from y */
static inline __m512 pairs_f32(const float *p) {
    double two;
    memcpy(&two, p, sizeof two);
    return _mm512_castpd_ps(_mm512_set1_pd(two));
}
#define VPAIRS_F32(p) pairs_f32(p)
#define VPAIRS_F64(p) _mm512_castps_pd(_mm512_broadcast_f32x4(_mm_castpd_ps(_mm_loadu_pd(p))))
#define VBLEND_F32(x, y, bits) _mm512_mask_blend_ps((__mmask16)(bits), (x), (y))
#define VBLEND_F64(x, y, bits) _mm512_mask_blend_pd((__mmask8)(bits), (x), (y))

/* dst[c][r] = src[r][c] for c < 16 and r < rows (0 for rows <= r < lanes):
 * 16x16 in registers (unpack pairs, then pairs of pairs, then 128-bit lanes) */
static inline void transpose_f32(const float *src, int64_t lds, float *dst, int64_t ldd, int rows, int lanes) {
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 4; q++) { /* u[4q+s]: column 4g+s of rows 4q..4q+3 in 128-bit lane g */
        __m512d a = _mm512_castps_pd(t[4 * q]), b = _mm512_castps_pd(t[4 * q + 1]);
        __m512d c = _mm512_castps_pd(t[4 * q + 2]), d = _mm512_castps_pd(t[4 * q + 3]);
        u[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    __mmask16 mask = (__mmask16)((1u << lanes) - 1);
    for (int s = 0; s < 4; s++) {
        __m512 v = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88), v2 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xdd);
        __m512 w = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88), w2 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xdd);
        _mm512_mask_storeu_ps(dst + s * ldd, mask, _mm512_shuffle_f32x4(v, w, 0x88));
        _mm512_mask_storeu_ps(dst + (4 + s) * ldd, mask, _mm512_shuffle_f32x4(v2, w2, 0x88));
        _mm512_mask_storeu_ps(dst + (8 + s) * ldd, mask, _mm512_shuffle_f32x4(v, w, 0xdd));
        _mm512_mask_storeu_ps(dst + (12 + s) * ldd, mask, _mm512_shuffle_f32x4(v2, w2, 0xdd));
    }
}

/* the same for 8x8 f64 */
static inline void transpose_f64(const double *src, int64_t lds, double *dst, int64_t ldd, int rows, int lanes) {
    __m512d r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm512_loadu_pd(src + i * lds) : _mm512_setzero_pd();
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    __mmask8 mask = (__mmask8)((1u << lanes) - 1);
    for (int s = 0; s < 2; s++) {
        __m512d v = _mm512_shuffle_f64x2(t[s], t[2 + s], 0x88), v2 = _mm512_shuffle_f64x2(t[s], t[2 + s], 0xdd);
        __m512d w = _mm512_shuffle_f64x2(t[4 + s], t[6 + s], 0x88), w2 = _mm512_shuffle_f64x2(t[4 + s], t[6 + s], 0xdd);
        _mm512_mask_storeu_pd(dst + s * ldd, mask, _mm512_shuffle_f64x2(v, w, 0x88));
        _mm512_mask_storeu_pd(dst + (2 + s) * ldd, mask, _mm512_shuffle_f64x2(v2, w2, 0x88));
        _mm512_mask_storeu_pd(dst + (4 + s) * ldd, mask, _mm512_shuffle_f64x2(v, w, 0xdd));
        _mm512_mask_storeu_pd(dst + (6 + s) * ldd, mask, _mm512_shuffle_f64x2(v2, w2, 0xdd));
    }
}
#define TRANSPOSE_F32 transpose_f32
#define TRANSPOSE_F64 transpose_f64
#elif defined(GEMM_ISA_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "ops/gemm_avx2.c needs -mavx2 -mfma (CMakeLists.txt)"
#endif
#include <immintrin.h>
#define KERNEL_NAME "avx2"
#define FUSED true
#define MR_F32 6
#define MR_F64 6
typedef __m256 vec_f32;
typedef __m256d vec_f64;
#define VLEN_F32 8
#define VLEN_F64 4
#define VZERO_F32() _mm256_setzero_ps()
#define VLOAD_F32(p) _mm256_loadu_ps(p)
#define VSTORE_F32(p, v) _mm256_storeu_ps((p), (v))
#define VSET1_F32(x) _mm256_set1_ps(x)
#define VFMA_F32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VZERO_F64() _mm256_setzero_pd()
#define VLOAD_F64(p) _mm256_loadu_pd(p)
#define VSTORE_F64(p, v) _mm256_storeu_pd((p), (v))
#define VSET1_F64(x) _mm256_set1_pd(x)
#define VFMA_F64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
/* The first n lanes: masked loads are cheap, masked stores (vmaskmov) are
 * slow on some CPUs (AMD Zen), so partial stores go 4 + 2 + 1 lanes. */
static const int32_t lanes_f32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int64_t lanes_f64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
#define VLOAD_PART_F32(p, n) _mm256_maskload_ps((p), _mm256_loadu_si256((const __m256i *)(lanes_f32 + 8 - (n))))
#define VLOAD_PART_F64(p, n) _mm256_maskload_pd((p), _mm256_loadu_si256((const __m256i *)(lanes_f64 + 4 - (n))))
static inline void store_part_f32(float *p, __m256 v, int n) {
    __m128 x = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, x);
        x = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, x);
        x = _mm_movehl_ps(x, x);
        p += 2;
    }
    if (n & 1) _mm_store_ss(p, x);
}
static inline void store_part_f64(double *p, __m256d v, int n) {
    __m128d x = _mm256_castpd256_pd128(v);
    if (n & 2) {
        _mm_storeu_pd(p, x);
        x = _mm256_extractf128_pd(v, 1);
        p += 2;
    }
    if (n & 1) _mm_store_sd(p, x);
}
#define VSTORE_PART_F32(p, v, n) store_part_f32((p), (v), (int)(n))
#define VSTORE_PART_F64(p, v, n) store_part_f64((p), (v), (int)(n))
/* p[0], p[1] in every pair of lanes; the lanes whose bit is set taken from y */
static inline __m256 pairs_f32(const float *p) {
    double two;
    memcpy(&two, p, sizeof two);
    return _mm256_castpd_ps(_mm256_set1_pd(two));
}
#define VPAIRS_F32(p) pairs_f32(p)
#define VPAIRS_F64(p) _mm256_broadcast_pd((const __m128d *)(const void *)(p))
static inline __m256 blend_f32(__m256 x, __m256 y, unsigned bits) {
    __m256i lanes = _mm256_set_epi32(-(int)(bits >> 7 & 1), -(int)(bits >> 6 & 1), -(int)(bits >> 5 & 1),
                                     -(int)(bits >> 4 & 1), -(int)(bits >> 3 & 1), -(int)(bits >> 2 & 1),
                                     -(int)(bits >> 1 & 1), -(int)(bits & 1));
    return _mm256_blendv_ps(x, y, _mm256_castsi256_ps(lanes));
}
static inline __m256d blend_f64(__m256d x, __m256d y, unsigned bits) {
    __m256i lanes = _mm256_set_epi64x(-(long long)(bits >> 3 & 1), -(long long)(bits >> 2 & 1),
                                      -(long long)(bits >> 1 & 1), -(long long)(bits & 1));
    return _mm256_blendv_pd(x, y, _mm256_castsi256_pd(lanes));
}
#define VBLEND_F32(x, y, bits) blend_f32((x), (y), (unsigned)(bits))
#define VBLEND_F64(x, y, bits) blend_f64((x), (y), (unsigned)(bits))

/* dst[c][r] = src[r][c] for c < 8 and r < rows (0 for rows <= r < lanes):
 * 8x8 in registers (unpack pairs, then pairs of pairs, then 128-bit halves) */
static inline void transpose_f32(const float *src, int64_t lds, float *dst, int64_t ldd, int rows, int lanes) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + i * lds) : _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);     /* r0c0 r1c0 r0c1 r1c1 | c4 c5 */
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]); /* c2 c3 | c6 c7 */
    }
    for (int q = 0; q < 2; q++) { /* u[4q+s]: columns s and 4+s of rows 4q..4q+3 */
        u[4 * q] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xee);
        u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xee);
    }
    for (int s = 0; s < 4; s++) {
        __m256 lo = _mm256_permute2f128_ps(u[s], u[4 + s], 0x20), hi = _mm256_permute2f128_ps(u[s], u[4 + s], 0x31);
        if (lanes == 8) {
            _mm256_storeu_ps(dst + s * ldd, lo);
            _mm256_storeu_ps(dst + (4 + s) * ldd, hi);
        } else {
            store_part_f32(dst + s * ldd, lo, lanes);
            store_part_f32(dst + (4 + s) * ldd, hi, lanes);
        }
    }
}

/* the same for 4x4 f64 */
static inline void transpose_f64(const double *src, int64_t lds, double *dst, int64_t ldd, int rows, int lanes) {
    __m256d r[4];
    for (int i = 0; i < 4; i++) r[i] = i < rows ? _mm256_loadu_pd(src + i * lds) : _mm256_setzero_pd();
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]); /* c0 | c2, c1 | c3 */
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    __m256d out[4] = {_mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
                      _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31)};
    for (int c = 0; c < 4; c++) {
        if (lanes == 4)
            _mm256_storeu_pd(dst + c * ldd, out[c]);
        else
            store_part_f64(dst + c * ldd, out[c], lanes);
    }
}
#define TRANSPOSE_F32 transpose_f32
#define TRANSPOSE_F64 transpose_f64
#elif defined(GEMM_ISA_PORTABLE)
#include <string.h>
#define KERNEL_NAME "portable"
#define FUSED false
#define MR_F32 4
#define MR_F64 4
typedef float vec_f32 __attribute__((vector_size(16)));
typedef double vec_f64 __attribute__((vector_size(16)));
#define VLEN_F32 4
#define VLEN_F64 2
static inline vec_f32 load_f32(const float *p) {
    vec_f32 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline vec_f64 load_f64(const double *p) {
    vec_f64 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store_f32(float *p, vec_f32 v) { memcpy(p, &v, sizeof v); }
static inline void store_f64(double *p, vec_f64 v) { memcpy(p, &v, sizeof v); }
#define VZERO_F32() ((vec_f32){0})
#define VLOAD_F32(p) load_f32(p)
#define VSTORE_F32(p, v) store_f32((p), (v))
#define VSET1_F32(x) ((vec_f32){0} + (x))
#define VFMA_F32(a, b, c) ((a) * (b) + (c))
#define VZERO_F64() ((vec_f64){0})
#define VLOAD_F64(p) load_f64(p)
#define VSTORE_F64(p, v) store_f64((p), (v))
#define VSET1_F64(x) ((vec_f64){0} + (x))
#define VFMA_F64(a, b, c) ((a) * (b) + (c))
static inline vec_f32 load_part_f32(const float *p, int n) {
    vec_f32 v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}
static inline vec_f64 load_part_f64(const double *p, int n) {
    vec_f64 v = {0};
    memcpy(&v, p, sizeof(double) * (size_t)n);
    return v;
}
static inline void store_part_f32(float *p, vec_f32 v, int n) { memcpy(p, &v, sizeof(float) * (size_t)n); }
static inline void store_part_f64(double *p, vec_f64 v, int n) { memcpy(p, &v, sizeof(double) * (size_t)n); }
#define VLOAD_PART_F32(p, n) load_part_f32((p), (int)(n))
#define VSTORE_PART_F32(p, v, n) store_part_f32((p), (v), (int)(n))
#define VLOAD_PART_F64(p, n) load_part_f64((p), (int)(n))
#define VSTORE_PART_F64(p, v, n) store_part_f64((p), (v), (int)(n))
/* p[0], p[1] in every pair of lanes; the lanes whose bit is set taken from y */
static inline vec_f32 pairs_f32(const float *p) { return (vec_f32){p[0], p[1], p[0], p[1]}; }
static inline vec_f64 pairs_f64(const double *p) { return (vec_f64){p[0], p[1]}; }
static inline vec_f32 blend_f32(vec_f32 x, vec_f32 y, unsigned bits) {
    for (int l = 0; l < VLEN_F32; l++)
        if (bits >> l & 1) x[l] = y[l];
    return x;
}
static inline vec_f64 blend_f64(vec_f64 x, vec_f64 y, unsigned bits) {
    for (int l = 0; l < VLEN_F64; l++)
        if (bits >> l & 1) x[l] = y[l];
    return x;
}
#define VPAIRS_F32(p) pairs_f32(p)
#define VPAIRS_F64(p) pairs_f64(p)
#define VBLEND_F32(x, y, bits) blend_f32((x), (y), (unsigned)(bits))
#define VBLEND_F64(x, y, bits) blend_f64((x), (y), (unsigned)(bits))
#else
#error "define GEMM_ISA_AVX512, GEMM_ISA_AVX2 or GEMM_ISA_PORTABLE before including ops/gemm_variant.h"
#endif

#ifndef TRANSPOSE_F32
/* dst[c][r] = src[r][c] for c < VLEN and r < rows (0 for rows <= r < lanes) */
#define TRANSPOSE_LOOP(NAME, T, VLEN)                                                                  \
    static inline void NAME(const T *src, int64_t lds, T *dst, int64_t ldd, int rows, int lanes) {     \
        for (int c = 0; c < VLEN; c++)                                                                 \
            for (int r = 0; r < lanes; r++) dst[c * ldd + r] = r < rows ? src[r * lds + c] : 0;        \
    }
TRANSPOSE_LOOP(transpose_f32, float, VLEN_F32)
TRANSPOSE_LOOP(transpose_f64, double, VLEN_F64)
#define TRANSPOSE_F32 transpose_f32
#define TRANSPOSE_F64 transpose_f64
#endif

/* ---- f32 ---- */
#define T float
#define FN(name) name##_f32
#define VEC vec_f32
#define VLEN VLEN_F32
#define MR MR_F32
#define VZERO VZERO_F32
#define VLOAD VLOAD_F32
#define VSTORE VSTORE_F32
#define VSET1 VSET1_F32
#define VFMA VFMA_F32
#define VLOAD_PART VLOAD_PART_F32
#define VSTORE_PART VSTORE_PART_F32
#define TRANSPOSE TRANSPOSE_F32
#define VPAIRS VPAIRS_F32
#define VBLEND VBLEND_F32
#include "ops/gemm_kernel.h"
#include "ops/gemm_product.h"
#undef T
#undef FN
#undef VEC
#undef VLEN
#undef MR
#undef VLOAD_PART
#undef VSTORE_PART
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA
#undef TRANSPOSE
#undef VPAIRS
#undef VBLEND

/* ---- f64 ---- */
#define T double
#define FN(name) name##_f64
#define VEC vec_f64
#define VLEN VLEN_F64
#define MR MR_F64
#define VZERO VZERO_F64
#define VLOAD VLOAD_F64
#define VSTORE VSTORE_F64
#define VSET1 VSET1_F64
#define VFMA VFMA_F64
#define VLOAD_PART VLOAD_PART_F64
#define VSTORE_PART VSTORE_PART_F64
#define TRANSPOSE TRANSPOSE_F64
#define VPAIRS VPAIRS_F64
#define VBLEND VBLEND_F64
#include "ops/gemm_kernel.h"
#include "ops/gemm_product.h"

const tg_gemm_variant GEMM_VARIANT = {KERNEL_NAME, FUSED, gemm_scratch_f32, gemm_scratch_f64, gemm_f32, gemm_f64};
