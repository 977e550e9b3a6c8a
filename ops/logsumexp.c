/* logsumexp over axes: y = s + log sum exp(x - s), s = max x (0 when the max
 * is infinite, as in torch), so no term overflows. */
#include "ops/reduce.h"

#include <math.h>

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/reduce_pass.h"
#include "ops/registry.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "ops/vexp.h"

enum { MAX_BLOCKS = 1024, CB = TG_REDUCE_COLUMN_BLOCK };

static double shift_of(double max) { return isinf(max) ? 0.0 : max; }

/* One pass [outer, R, inner] -> [outer, inner]; each output in a fixed order
 * whatever the thread count. */
#define LSE_PASS(NAME, T, ROW_MAX, COLUMN_MAX, ROW_SUM, VEXP)                                      \
    static void NAME(const void *xv, void *yv, int64_t outer, int64_t R, int64_t inner) {          \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        if (outer == 1 && inner == 1) { /* blocks keep (max, sum relative to it); then merged */   \
            int64_t block = (R + MAX_BLOCKS - 1) / MAX_BLOCKS;                                     \
            if (block < TG_REDUCE_BLOCK) block = TG_REDUCE_BLOCK;                                  \
            int64_t blocks = (R + block - 1) / block;                                              \
            T max[MAX_BLOCKS];                                                                     \
            double sum[MAX_BLOCKS];                                                                \
            TG_PARALLEL_FOR_WORK(b, blocks, R, {                                                   \
                int64_t start = b * block, end = start + block < R ? start + block : R;            \
                max[b] = ROW_MAX(x + start, end - start);                                          \
                sum[b] = ROW_SUM(x + start, end - start, (T)shift_of(max[b]));                     \
            });                                                                                    \
            double shift = shift_of(ROW_MAX(max, blocks)), s = 0;                                  \
            for (int64_t b = 0; b < blocks; b++)                                                   \
                if (sum[b] != 0) s += sum[b] * exp(shift_of(max[b]) - shift);                      \
            y[0] = (T)(log(s) + shift);                                                            \
        } else if (inner == 1) { /* contiguous rows */                                             \
            TG_PARALLEL_FOR_WORK(o, outer, outer * R, {                                            \
                const T *row = x + o * R;                                                          \
                double shift = shift_of(ROW_MAX(row, R));                                          \
                y[o] = (T)(log(ROW_SUM(row, R, (T)shift)) + shift);                                \
            });                                                                                    \
        } else { /* columns: CB running sums per task, rows added in order */                     \
            int64_t blocks = (inner + CB - 1) / CB;                                                \
            TG_PARALLEL_FOR_WORK(task, outer * blocks, outer * R * inner, {                        \
                int64_t o = task / blocks, k0 = (task % blocks) * CB;                              \
                int64_t len = inner - k0 < CB ? inner - k0 : CB;                                   \
                const T *base = x + o * R * inner + k0;                                            \
                T shift[CB];                                                                       \
                double s[CB] = {0};                                                                \
                COLUMN_MAX(base, R, inner, len, shift);                                            \
                for (int64_t k = 0; k < len; k++) shift[k] = (T)shift_of(shift[k]);                \
                for (int64_t r = 0; r < R; r++)                                                    \
                    for (int64_t k = 0; k < len; k++) s[k] += (double)VEXP(base[r * inner + k] - shift[k]); \
                for (int64_t k = 0; k < len; k++) y[o * inner + k0 + k] = (T)(log(s[k]) + shift[k]); \
            });                                                                                      \
        }                                                                                          \
    }
LSE_PASS(lse_pass_f32, float, tg_row_max_f32, tg_column_max_f32, tg_row_sum_exp_f32, tg_vexp_f32)
LSE_PASS(lse_pass_f64, double, tg_row_max_f64, tg_column_max_f64, tg_row_sum_exp_f64, tg_vexp_f64)

typedef struct {
    bool reduced[TG_MAX_DIMS];
    bool keepdim;
} lse_attrs;

/* d logsumexp = g * exp(x - y), g and y broadcast back over the reduced axes */
static tg_status logsumexp_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const lse_attrs *at = node->attrs;
    tg_tensor *x = node->inputs[0];
    tg_tensor *weights = tg_exp(t, tg_sub(t, x, tg_as_keepdim(t, node->output, x, at->reduced)));
    gi[0] = tg_mul(t, tg_as_keepdim(t, g, x, at->reduced), weights);
    return tg_tape_status(t);
}
/* "axis=1 keepdim" */
static int logsumexp_describe(const tg_node *node, char *buf, size_t size) {
    const lse_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_axes(&s, node->inputs[0]->ndim, at->reduced, at->keepdim);
    return tg_text_length(&s);
}
static const tg_op logsumexp_op = {"logsumexp", 1, logsumexp_backward, logsumexp_describe};

tg_tensor *tg_logsumexp(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    if (!tg_check_inputs(t, "tg_logsumexp", 1, &x)) return NULL;
    lse_attrs at = {.keepdim = keepdim};
    if (!tg_check_axes(t, "tg_logsumexp", x, axes, n_axes, at.reduced)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    tg_reduced_shape(x, at.reduced, keepdim, &ndim, shape);
    tg_tensor *y = tg_tape_result(t, x->dtype, ndim, shape);
    if (!y) return NULL;
    if (tg_reduced_count(x, at.reduced) == 0) { /* log of an empty sum */
        for (int64_t i = 0; i < y->numel; i++) tg_set(y, i, -INFINITY);
    } else if (y->numel && !tg_reduce_run(t, x, at.reduced, y, lse_pass_f32, lse_pass_f64)) {
        return NULL;
    }
    return tg_tape_record(t, &logsumexp_op, 1, &x, y, &at, sizeof at);
}

/* ---- registry entries ---- */
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 2.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_all(tg_tape *t, tg_tensor **in) { return tg_logsumexp(t, in[0], NULL, 0, false); }
static tg_tensor *apply_axis(tg_tape *t, tg_tensor **in) {
    return tg_logsumexp(t, in[0], (const int[]){1}, 1, false);
}
static tg_tensor *apply_axes(tg_tape *t, tg_tensor **in) {
    return tg_logsumexp(t, in[0], (const int[]){0, -1}, 2, true);
}

const tg_op_spec tg_spec_logsumexp_all = {"logsumexp", "tg_logsumexp", 1, sample_3d, apply_all};
const tg_op_spec tg_spec_logsumexp_axis = {"logsumexp(axis=1)", "tg_logsumexp", 1, sample_3d, apply_axis};
const tg_op_spec tg_spec_logsumexp_axes = {"logsumexp(axes=0,-1,keepdim)", "tg_logsumexp", 1, sample_3d,
                                           apply_axes};
