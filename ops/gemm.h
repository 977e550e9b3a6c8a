/* General matrix product (private to ops/): C = op(A) @ op(B), overwriting C.
 *   op(A) is [M,K]: A is [M,K] with row stride lda, or [K,M] when trans_a;
 *   op(B) is [K,N]: B is [K,N] with row stride ldb, or [N,K] when trans_b;
 *   C is [M,N] with row stride ldc.
 * Operands are packed into panels (transposes absorbed there) in blocks sized
 * from the CPU's caches and multiplied by register-blocked kernels
 * (ops/gemm_kernel.h, docs/gemm.md). Every C element is one fused
 * multiply-add chain in k order, or (a layer's x @ W, tg_gemm_depth_half)
 * the sum of two such chains over the halves of k: which one depends on the
 * shape alone, so results are bit-identical for any thread count.
 * `scratch` holds the packed panels: scratch_bytes >= tg_gemm_scratch_bytes(...)
 * bytes, 64-byte aligned (tg_tape_scratch gives that). Its size covers the
 * threads available when it was asked for; a product runs on at most as many
 * threads as it has room for (the same bits on any number).
 * The kernel (AVX-512, AVX2+FMA or portable) is chosen at run time from the
 * CPU's features, in every build (ops/gemm.c). */
#ifndef TG_OPS_GEMM_H
#define TG_OPS_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

size_t tg_gemm_scratch_bytes(tg_dtype dtype, int64_t M, int64_t N, int64_t K);

/* Products whose stored B is [K,N] (not transposed) and larger than op(A)
 * and C (K > M and N > M: a layer's x @ W with a batch smaller than its
 * sizes), K >= 256, are computed by depth: C = op(A)[:, :K1] @ B[:K1] +
 * op(A)[:, K1:] @ B[K1:] with K1 = K / 2, each half a chain in k order, the
 * halves added once. With threads, each half has its own threads, which read
 * only their half of W's rows: the rows the optimizer's update gives the same
 * thread (core/parallel.h), so W's lines never travel between cores (the
 * MLP step with two threads 15% faster in the 2-core VM's slow phase,
 * docs/gemm.md). Returns K1, or 0 for one chain. */
static inline int64_t tg_gemm_depth_half(bool trans_b, int64_t M, int64_t N, int64_t K) {
    return !trans_b && K >= 256 && K > M && N > M ? K / 2 : 0;
}

void tg_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, void *scratch, size_t scratch_bytes);
void tg_gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double *C, int64_t ldc, void *scratch, size_t scratch_bytes);

/* Data cache sizes in bytes (L1 and L2 of one core, the shared L3) that the
 * blocking is cut for: the CPU's own (sysconf; L3 at most 32 MiB, as a
 * virtual machine may report its host's), or 32 KiB / 512 KiB / 8 MiB where
 * the system does not say. */
typedef struct {
    int64_t l1, l2, l3;
} tg_gemm_caches;
const tg_gemm_caches *tg_gemm_cache_sizes(void);
/* Tests only, while no product runs: block as if the caches had these sizes
 * (small ones force many rounds on small matrices); NULL restores the CPU's. */
void tg_gemm_set_cache_sizes(const tg_gemm_caches *sizes);

/* Work (M*N*K multiply-adds times the element size) below which a product
 * runs on one thread. Tests only, while no product runs: set it (0 to
 * parallelize everything, a negative value to restore the default). */
double tg_gemm_parallel_work(void);
void tg_gemm_set_parallel_work(double work);

/* Tests only, while no product runs: thread `tid` of every parallel product
 * arrives `microseconds` late (a thread the system delays); tid -1 ends it.
 * Each thread of a product calls tg_gemm_arrive first (a no-op but then). */
void tg_gemm_set_late_thread(int tid, int microseconds);
void tg_gemm_arrive(int tid);

/* Whether a product above the threshold uses threads now: more than one
 * thread, not inside a parallel region, and core/parallel's back-off not
 * running (a caller that waited for late threads in regions in a row sends
 * the next ones to one thread, the same bits; see core/parallel.h). Always
 * while a test has set the threshold with tg_gemm_set_parallel_work. */
bool tg_gemm_threads_pay(void);

/* Then, whether threads are faster for a product of `work` (ops/gemm.c):
 * the faster way measured for products of that octave of work, and each
 * way tried now and then; always while a test has set the threshold. The
 * product reports its time with tg_gemm_note_time. Tests: forget every
 * measurement. */
bool tg_gemm_threads_for(double work);
void tg_gemm_note_time(double work, bool threads, double seconds);
void tg_gemm_forget_times(void);

/* Which kernel the calls above use: "avx512", "avx2" or "portable", the
 * fastest of those compiled in that this CPU runs (chosen once, at the first
 * call of any tg_gemm_* function). */
const char *tg_gemm_kernel_name(void);

/* One compiled kernel variant (ops/gemm_variant.h); scratch_* are
 * tg_gemm_scratch_bytes and gemm_* tg_gemm_f32/f64 for this variant alone. */
typedef struct {
    const char *name;
    /* every C element is the chain c = a[k]*b[k] + c over k = 0..K-1 from
     * c = 0, in k order (or two such chains added, tg_gemm_depth_half), with
     * one rounding per step (fused multiply-add) or two (multiply, then
     * add): the same bits whatever the blocking, the orientation or the
     * thread count */
    bool fused;
    size_t (*scratch_f32)(int64_t M, int64_t N, int64_t K);
    size_t (*scratch_f64)(int64_t M, int64_t N, int64_t K);
    void (*gemm_f32)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, int64_t ldc, void *scratch, size_t scratch_bytes);
    void (*gemm_f64)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double *C, int64_t ldc, void *scratch, size_t scratch_bytes);
} tg_gemm_variant;

/* The i-th variant this CPU runs, fastest first (i = 0 is the one in use);
 * NULL past the last. Tests compare them. */
const tg_gemm_variant *tg_gemm_variant_at(int i);

#endif
