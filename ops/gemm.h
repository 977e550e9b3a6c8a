/* General matrix product (private to ops/): C = op(A) @ op(B), overwriting C.
 *   op(A) is [M,K]: A is [M,K] with row stride lda, or [K,M] when trans_a;
 *   op(B) is [K,N]: B is [K,N] with row stride ldb, or [N,K] when trans_b;
 *   C is [M,N] with row stride ldc.
 * Operands are packed into cache-sized panels (transposes absorbed there) and
 * multiplied by a register-blocked kernel. Threads split C tiles only, never
 * K: every C element is one fused multiply-add chain in k order, so results
 * are bit-identical for any thread count.
 * `scratch` holds the packed panels: tg_gemm_scratch_bytes(...) bytes, 64-byte
 * aligned (tg_tape_scratch gives that).
 * The kernel (AVX-512, AVX2+FMA or portable) is chosen at run time from the
 * CPU's features, in every build (ops/gemm.c). */
#ifndef TG_OPS_GEMM_H
#define TG_OPS_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

size_t tg_gemm_scratch_bytes(tg_dtype dtype, int64_t M, int64_t N, int64_t K);

void tg_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, void *scratch);
void tg_gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double *C, int64_t ldc, void *scratch);

/* Which kernel the calls above use: "avx512", "avx2" or "portable", the
 * fastest of those compiled in that this CPU runs (chosen once, at the first
 * call of any tg_gemm_* function). */
const char *tg_gemm_kernel_name(void);

/* One compiled kernel variant (ops/gemm_variant.h); scratch_* are
 * tg_gemm_scratch_bytes and gemm_* tg_gemm_f32/f64 for this variant alone. */
typedef struct {
    const char *name;
    size_t (*scratch_f32)(int64_t M, int64_t N, int64_t K);
    size_t (*scratch_f64)(int64_t M, int64_t N, int64_t K);
    void (*gemm_f32)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, int64_t ldc, void *scratch);
    void (*gemm_f64)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double *C, int64_t ldc, void *scratch);
} tg_gemm_variant;

/* The i-th variant this CPU runs, fastest first (i = 0 is the one in use);
 * NULL past the last. Tests compare them. */
const tg_gemm_variant *tg_gemm_variant_at(int i);

#endif
