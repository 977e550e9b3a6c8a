/* max, min over axes: forward kernels (NaN-propagating, vectorized lanes) and
 * backward rules. Ties share the gradient evenly, like torch.amax / amin. */
#include "ops/reduce.h"

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/reduce_pass.h"
#include "ops/registry.h"
#include "ops/shape.h"

enum { MAX_BLOCKS = 1024 };

/* One pass [outer, R, inner] -> [outer, inner]. The order of comparisons does
 * not change an extremum, so any partition gives the same bits. */
#define EXTREMUM_PASS(NAME, T, ROW, COLUMN)                                                       \
    static void NAME(const void *xv, void *yv, int64_t outer, int64_t R, int64_t inner) {         \
        const T *x = xv;                                                                          \
        T *y = yv;                                                                                \
        if (outer == 1 && inner == 1) { /* one long row: blocks in parallel, then their results */ \
            int64_t block = (R + MAX_BLOCKS - 1) / MAX_BLOCKS;                                    \
            if (block < TG_REDUCE_BLOCK) block = TG_REDUCE_BLOCK;                                 \
            int64_t blocks = (R + block - 1) / block;                                             \
            T partial[MAX_BLOCKS];                                                                \
            TG_PARALLEL_FOR_WORK(b, blocks, R, {                                                  \
                int64_t end = (b + 1) * block < R ? (b + 1) * block : R;                          \
                partial[b] = ROW(x + b * block, end - b * block);                                 \
            });                                                                                   \
            y[0] = ROW(partial, blocks);                                                          \
        } else if (inner == 1) { /* contiguous rows */                                            \
            TG_PARALLEL_FOR_WORK(o, outer, outer * R, { y[o] = ROW(x + o * R, R); });             \
        } else { /* columns: a block of `inner` accumulators per task */                         \
            int64_t blocks = (inner + TG_REDUCE_COLUMN_BLOCK - 1) / TG_REDUCE_COLUMN_BLOCK;       \
            TG_PARALLEL_FOR_WORK(task, outer * blocks, outer * R * inner, {                       \
                int64_t o = task / blocks, k0 = (task % blocks) * TG_REDUCE_COLUMN_BLOCK;         \
                int64_t len = inner - k0 < TG_REDUCE_COLUMN_BLOCK ? inner - k0 : TG_REDUCE_COLUMN_BLOCK; \
                COLUMN(x + o * R * inner + k0, R, inner, len, y + o * inner + k0);                \
            });                                                                                   \
        }                                                                                         \
    }
EXTREMUM_PASS(max_pass_f32, float, tg_row_max_f32, tg_column_max_f32)
EXTREMUM_PASS(max_pass_f64, double, tg_row_max_f64, tg_column_max_f64)
EXTREMUM_PASS(min_pass_f32, float, tg_row_min_f32, tg_column_min_f32)
EXTREMUM_PASS(min_pass_f64, double, tg_row_min_f64, tg_column_min_f64)

typedef struct {
    bool reduced[TG_MAX_DIMS];
    bool keepdim;
} extremum_attrs;

/* d max = g * [x == max] / count(x == max), over the reduced axes */
static tg_status extremum_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const extremum_attrs *at = node->attrs;
    tg_tensor *x = node->inputs[0];
    int axes[TG_MAX_DIMS], n_axes = 0;
    for (int i = 0; i < x->ndim; i++)
        if (at->reduced[i]) axes[n_axes++] = i;
    tg_tensor *winners = tg_eq(t, x, tg_as_keepdim(t, node->output, x, at->reduced));
    tg_tensor *count = n_axes ? tg_sum(t, winners, axes, n_axes, true) : winners;
    gi[0] = tg_mul(t, winners, tg_div(t, tg_as_keepdim(t, g, x, at->reduced), count));
    return tg_tape_status(t);
}
/* "axes=0,2 keepdim" */
static int extremum_describe(const tg_node *node, char *buf, size_t size) {
    const extremum_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_axes(&s, node->inputs[0]->ndim, at->reduced, at->keepdim);
    return tg_text_length(&s);
}
static const tg_op max_op = {"max", 1, extremum_backward, extremum_describe};
static const tg_op min_op = {"min", 1, extremum_backward, extremum_describe};

static tg_tensor *extremum(tg_tape *t, const tg_op *op, const char *who, tg_reduce_pass_fn f32, tg_reduce_pass_fn f64,
                           tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    if (!tg_check_inputs(t, who, 1, &x)) return NULL;
    extremum_attrs at = {.keepdim = keepdim};
    if (!tg_check_axes(t, who, x, axes, n_axes, at.reduced)) return NULL;
    if (tg_reduced_count(x, at.reduced) == 0) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: cannot reduce over an empty axis of %s", who, TG_DESC(x));
        return NULL;
    }
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    tg_reduced_shape(x, at.reduced, keepdim, &ndim, shape);
    tg_tensor *y = tg_tape_result(t, x->dtype, ndim, shape);
    if (!y) return NULL;
    if (y->numel && !tg_reduce_run(t, x, at.reduced, y, f32, f64)) return NULL;
    return tg_tape_record(t, op, 1, &x, y, &at, sizeof at);
}

tg_tensor *tg_max(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return extremum(t, &max_op, "tg_max", max_pass_f32, max_pass_f64, x, axes, n_axes, keepdim);
}

tg_tensor *tg_min(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return extremum(t, &min_op, "tg_min", min_pass_f32, min_pass_f64, x, axes, n_axes, keepdim);
}

/* ---- registry entries ---- */
/* [2,3,4] of distinct values at least 0.15 apart (no ties, so no kinks):
 * a shuffled grid with jitter */
static tg_status sample_untied(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    tg_tensor *x = tg_tensor_empty(t, dt, TG_SHAPE(2, 3, 4));
    if (!x) return tg_tape_status(t);
    int64_t n = x->numel;
    for (int64_t i = 0; i < n; i++) tg_set(x, i, (double)(i - n / 2) * 0.25 + 0.1 * tg_rng_uniform(rng));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1);
        double v = tg_get(x, i);
        tg_set(x, i, tg_get(x, j));
        tg_set(x, j, v);
    }
    in[0] = x;
    return tg_tape_status(t);
}
static tg_tensor *apply_max_all(tg_tape *t, tg_tensor **in) { return tg_max(t, in[0], NULL, 0, false); }
static tg_tensor *apply_max_axis(tg_tape *t, tg_tensor **in) { return tg_max(t, in[0], (const int[]){1}, 1, false); }
static tg_tensor *apply_max_axes(tg_tape *t, tg_tensor **in) {
    return tg_max(t, in[0], (const int[]){0, -1}, 2, true);
}
static tg_tensor *apply_min_all(tg_tape *t, tg_tensor **in) { return tg_min(t, in[0], NULL, 0, false); }
static tg_tensor *apply_min_axis(tg_tape *t, tg_tensor **in) { return tg_min(t, in[0], (const int[]){-1}, 1, true); }
static tg_tensor *apply_min_axes(tg_tape *t, tg_tensor **in) {
    return tg_min(t, in[0], (const int[]){1, 2}, 2, false);
}

const tg_op_spec tg_spec_max_all = {"max", "tg_max", 1, sample_untied, apply_max_all};
const tg_op_spec tg_spec_max_axis = {"max(axis=1)", "tg_max", 1, sample_untied, apply_max_axis};
const tg_op_spec tg_spec_max_axes = {"max(axes=0,-1,keepdim)", "tg_max", 1, sample_untied, apply_max_axes};
const tg_op_spec tg_spec_min_all = {"min", "tg_min", 1, sample_untied, apply_min_all};
const tg_op_spec tg_spec_min_axis = {"min(axis=-1,keepdim)", "tg_min", 1, sample_untied, apply_min_axis};
const tg_op_spec tg_spec_min_axes = {"min(axes=1,2)", "tg_min", 1, sample_untied, apply_min_axes};
