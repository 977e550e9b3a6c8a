/* matmul: C = op(A) @ op(B), 2-D and batched 3-D. */
#include "ops/matmul.h"

#include <string.h>

#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    bool transpose_a, transpose_b;
} matmul_attrs;

enum { ROWS = 4, COLS = 256, DEPTH = 256 };

/* C[M,N] = A[M,K] @ B[K,N], all row-major and contiguous. Blocks of 4 rows of C
 * by 256 columns by 256 of K: one row of B is loaded once and feeds 4 rows of
 * C held in L1. Each C element is summed in k order: deterministic. */
#define GEMM(NAME, T)                                                                                 \
    static void NAME(const T *A, const T *B, T *C, int64_t M, int64_t K, int64_t N) {                 \
        int64_t row_blocks = (M + ROWS - 1) / ROWS, col_blocks = (N + COLS - 1) / COLS;               \
        TG_PARALLEL_FOR_WORK(M * N * K)                                                               \
        for (int64_t task = 0; task < row_blocks * col_blocks; task++) {                              \
            int64_t i0 = (task / col_blocks) * ROWS, j0 = (task % col_blocks) * COLS;                 \
            int64_t rows = M - i0 < ROWS ? M - i0 : ROWS, cols = N - j0 < COLS ? N - j0 : COLS;       \
            T acc[ROWS][COLS];                                                                        \
            memset(acc, 0, sizeof acc);                                                               \
            for (int64_t k0 = 0; k0 < K; k0 += DEPTH) {                                               \
                int64_t k1 = K - k0 < DEPTH ? K : k0 + DEPTH;                                         \
                if (rows == ROWS) {                                                                   \
                    for (int64_t k = k0; k < k1; k++) {                                               \
                        const T *b = B + k * N + j0;                                                  \
                        T a0 = A[(i0 + 0) * K + k], a1 = A[(i0 + 1) * K + k];                         \
                        T a2 = A[(i0 + 2) * K + k], a3 = A[(i0 + 3) * K + k];                         \
                        for (int64_t j = 0; j < cols; j++) {                                          \
                            T bj = b[j];                                                              \
                            acc[0][j] += a0 * bj;                                                     \
                            acc[1][j] += a1 * bj;                                                     \
                            acc[2][j] += a2 * bj;                                                     \
                            acc[3][j] += a3 * bj;                                                     \
                        }                                                                             \
                    }                                                                                 \
                } else {                                                                              \
                    for (int64_t k = k0; k < k1; k++) {                                               \
                        const T *b = B + k * N + j0;                                                  \
                        for (int64_t r = 0; r < rows; r++) {                                          \
                            T a = A[(i0 + r) * K + k];                                                \
                            for (int64_t j = 0; j < cols; j++) acc[r][j] += a * b[j];                 \
                        }                                                                             \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
            for (int64_t r = 0; r < rows; r++) memcpy(C + (i0 + r) * N + j0, acc[r], sizeof(T) * cols); \
        }                                                                                             \
    }
GEMM(gemm_f32, float)
GEMM(gemm_f64, double)

/* dst[C,R] = src[R,C]^T, in tiles for cache friendliness */
#define TRANSPOSE(NAME, T)                                                                 \
    static void NAME(const T *src, T *dst, int64_t R, int64_t C) {                         \
        TG_PARALLEL_FOR_WORK(R * C)                                                        \
        for (int64_t i0 = 0; i0 < R; i0 += 32)                                             \
            for (int64_t j0 = 0; j0 < C; j0 += 32)                                         \
                for (int64_t i = i0; i < R && i < i0 + 32; i++)                            \
                    for (int64_t j = j0; j < C && j < j0 + 32; j++) dst[j * R + i] = src[i * C + j]; \
    }
TRANSPOSE(transpose_f32, float)
TRANSPOSE(transpose_f64, double)

static void transpose_matrix(tg_dtype dt, const void *src, void *dst, int64_t R, int64_t C) {
    if (dt == TG_F32)
        transpose_f32(src, dst, R, C);
    else
        transpose_f64(src, dst, R, C);
}

/* C = op(A) op(B), G = dL/dC:
 *   dA = G op(B)^T        (A not transposed)   dA = op(B) G^T   (A transposed)
 *   dB = op(A)^T G        (B not transposed)   dB = G^T op(A)   (B transposed) */
static tg_status matmul_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const matmul_attrs *at = node->attrs;
    tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    bool ta = at->transpose_a, tb = at->transpose_b;
    if (a->requires_grad) {
        if (!ta)
            gi[0] = tg_matmul_ex(t, g, b, false, !tb);   /* G op(B)^T */
        else if (b->ndim == a->ndim)
            gi[0] = tg_matmul_ex(t, b, g, tb, true);     /* op(B) G^T */
        else /* 3-D A, 2-D B: (G op(B)^T)^T per batch entry */
            gi[0] = tg_transpose(t, tg_matmul_ex(t, g, b, false, !tb), -2, -1);
    }
    if (b->requires_grad) {
        tg_tensor *gb;
        if (!tb)
            gb = tg_matmul_ex(t, a, g, !ta, false);      /* op(A)^T G */
        else
            gb = tg_matmul_ex(t, g, a, true, ta);        /* G^T op(A) */
        /* a 2-D B shared by every batch entry collects the sum over the batch */
        if (gb && b->ndim == 2 && gb->ndim == 3) gb = tg_sum(t, gb, (const int[]){0}, 1, false);
        gi[1] = gb;
    }
    return tg_tape_status(t);
}
static const tg_op matmul_op = {"matmul", 2, matmul_backward};

tg_tensor *tg_matmul_ex(tg_tape *t, tg_tensor *a, tg_tensor *b, bool transpose_a, bool transpose_b) {
    tg_tensor *in[2] = {a, b};
    if (!tg_check_inputs(t, "tg_matmul", 2, in)) return NULL;
    bool ok = (a->ndim == 2 && b->ndim == 2) || (a->ndim == 3 && (b->ndim == 2 || b->ndim == 3));
    if (!ok) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_matmul: expects 2-D @ 2-D, 3-D @ 3-D or 3-D @ 2-D, got %s @ %s", TG_DESC(a),
                     TG_DESC(b));
        return NULL;
    }
    int da = a->ndim - 2, db = b->ndim - 2;
    int64_t batch = a->ndim == 3 ? a->shape[0] : 1;
    int64_t M = transpose_a ? a->shape[da + 1] : a->shape[da];
    int64_t K = transpose_a ? a->shape[da] : a->shape[da + 1];
    int64_t Kb = transpose_b ? b->shape[db + 1] : b->shape[db];
    int64_t N = transpose_b ? b->shape[db] : b->shape[db + 1];
    const char *ops = transpose_a ? (transpose_b ? " (both transposed)" : " (a transposed)")
                                  : (transpose_b ? " (b transposed)" : "");
    if (K != Kb) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_matmul: inner dimensions differ: %s @ %s%s", TG_DESC(a), TG_DESC(b), ops);
        return NULL;
    }
    if (b->ndim == 3 && b->shape[0] != batch) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_matmul: batch sizes differ: %s @ %s", TG_DESC(a), TG_DESC(b));
        return NULL;
    }
    int64_t shape[3] = {batch, M, N};
    tg_tensor *y = a->ndim == 3 ? tg_tape_result(t, a->dtype, 3, shape) : tg_tape_result(t, a->dtype, 2, shape + 1);
    if (!y) return NULL;
    size_t es = tg_dtype_size(a->dtype);
    /* transposed operands are copied once into row-major panels */
    void *pa = NULL, *pb = NULL;
    if (transpose_a && !(pa = tg_tape_alloc(t, (size_t)(M * K) * es))) return NULL;
    if (transpose_b && !(pb = tg_tape_alloc(t, (size_t)(K * N) * es))) return NULL;
    for (int64_t i = 0; i < batch; i++) {
        const char *A = (const char *)a->data + (size_t)(i * M * K) * es;
        const char *B = (const char *)b->data + (size_t)(b->ndim == 3 ? i * K * N : 0) * es;
        if (transpose_a) {
            transpose_matrix(a->dtype, A, pa, K, M);
            A = pa;
        }
        if (transpose_b && (i == 0 || b->ndim == 3)) transpose_matrix(a->dtype, B, pb, N, K);
        if (transpose_b) B = pb;
        char *C = (char *)y->data + (size_t)(i * M * N) * es;
        if (a->dtype == TG_F32)
            gemm_f32((const float *)A, (const float *)B, (float *)C, M, K, N);
        else
            gemm_f64((const double *)A, (const double *)B, (double *)C, M, K, N);
    }
    matmul_attrs at = {transpose_a, transpose_b};
    return tg_tape_record(t, &matmul_op, 2, in, y, &at, sizeof at);
}

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b) { return tg_matmul_ex(t, a, b, false, false); }

/* ---- registry entries: every flag combination, 2-D, batched and shared ---- */
static tg_status sample_2d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 4), 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 5), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_status sample_batched(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 4, 3), 0.1, 1.0); /* used transposed: [2,3,4] */
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 5, 4), 0.1, 1.0); /* used transposed: [2,4,5] */
    return tg_tape_status(t);
}
static tg_status sample_shared(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(5, 4), 0.1, 1.0); /* used transposed: [4,5] */
    return tg_tape_status(t);
}
static tg_tensor *apply_2d(tg_tape *t, tg_tensor **in) { return tg_matmul(t, in[0], in[1]); }
static tg_tensor *apply_batched_tt(tg_tape *t, tg_tensor **in) { return tg_matmul_ex(t, in[0], in[1], true, true); }
static tg_tensor *apply_shared_bt(tg_tape *t, tg_tensor **in) { return tg_matmul_ex(t, in[0], in[1], false, true); }

const tg_op_spec tg_spec_matmul = {"matmul", "tg_matmul", 2, sample_2d, apply_2d};
const tg_op_spec tg_spec_matmul_batched_tt = {"matmul(batched,aT,bT)", "tg_matmul_ex", 2, sample_batched,
                                             apply_batched_tt};
const tg_op_spec tg_spec_matmul_shared_bt = {"matmul(3d@2d,bT)", "tg_matmul_ex", 2, sample_shared, apply_shared_bt};
