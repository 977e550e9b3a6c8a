/* matmul: C = op(A) @ op(B), 2-D and batched 3-D. */
#include "ops/matmul.h"

#include <stdio.h>

#include "ops/gemm.h"
#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    bool transpose_a, transpose_b;
} matmul_attrs;

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
/* "aT bT", "aT", "bT"; nothing for a plain product */
static int matmul_describe(const tg_node *node, char *buf, size_t size) {
    const matmul_attrs *at = node->attrs;
    return snprintf(buf, size, "%s%s%s", at->transpose_a ? "aT" : "", at->transpose_a && at->transpose_b ? " " : "",
                    at->transpose_b ? "bT" : "");
}
static const tg_op matmul_op = {"matmul", 2, matmul_backward, matmul_describe};

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
    /* a matrix B shared by every batch entry of a non-transposed A: one
     * product [batch*M, K] @ op(B), packing B once */
    int64_t products = batch, rows = M;
    if (batch > 1 && b->ndim == 2 && !transpose_a) {
        rows = batch * M;
        products = 1;
    }
    size_t scratch_bytes = tg_gemm_scratch_bytes(a->dtype, rows, N, K);
    void *scratch = tg_tape_scratch(t, scratch_bytes);
    if (!scratch) return NULL;
    size_t es = tg_dtype_size(a->dtype);
    int64_t lda = transpose_a ? M : K, ldb = transpose_b ? K : N;
    for (int64_t i = 0; i < products; i++) {
        const char *A = (const char *)a->data + (size_t)(i * M * K) * es;
        const char *B = (const char *)b->data + (size_t)(b->ndim == 3 ? i * K * N : 0) * es;
        char *C = (char *)y->data + (size_t)(i * M * N) * es;
        if (a->dtype == TG_F32)
            tg_gemm_f32(transpose_a, transpose_b, rows, N, K, (const float *)A, lda, (const float *)B, ldb,
                        (float *)C, N, scratch, scratch_bytes);
        else
            tg_gemm_f64(transpose_a, transpose_b, rows, N, K, (const double *)A, lda, (const double *)B, ldb,
                        (double *)C, N, scratch, scratch_bytes);
    }
    matmul_attrs at = {transpose_a, transpose_b};
    return tg_tape_record(t, &matmul_op, 2, in, y, &at, sizeof at);
}

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b) { return tg_matmul_ex(t, a, b, false, false); }

const char *tg_matmul_kernel_name(void) { return tg_gemm_kernel_name(); }

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
