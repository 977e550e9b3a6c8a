/* sum, mean, sum_to, broadcast_to: forward kernels and backward rules. */
#include "ops/reduce.h"

#include <string.h>

#include "ops/describe.h"
#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/reduce_pass.h"
#include "ops/registry.h"
#include "ops/shape.h"

enum { MAX_BLOCKS = 1024, COLUMN_BLOCK = TG_REDUCE_COLUMN_BLOCK };

/* One pass: y[o, k] = scale * sum_r x[o, r, k], x viewed as [outer, R, inner].
 * Accumulates in double and rounds once; each output is summed in a fixed order. */
#define SUM_PASS(NAME, T, ROW_SUM)                                                               \
    static void NAME(const T *x, T *y, int64_t outer, int64_t R, int64_t inner, double scale) {        \
        if (outer == 1 && inner == 1) { /* everything: fixed blocks, then blocks in order */     \
            int64_t block = tg_reduce_block(R); /* ops/fusion.c sums with the same blocks */     \
            int64_t blocks = (R + block - 1) / block;                                            \
            double partial[MAX_BLOCKS];                                                          \
            TG_PARALLEL_FOR_WORK(b, blocks, R, {                                                 \
                int64_t end = (b + 1) * block < R ? (b + 1) * block : R;                         \
                partial[b] = ROW_SUM(x + b * block, end - b * block);                            \
            });                                                                                  \
            double s = 0;                                                                        \
            for (int64_t b = 0; b < blocks; b++) s += partial[b];                                \
            y[0] = (T)(s * scale);                                                               \
        } else if (inner == 1) { /* rows: contiguous runs of R */                                \
            TG_PARALLEL_FOR_WORK(o, outer, outer * R, { y[o] = (T)(ROW_SUM(x + o * R, R) * scale); }); \
        } else { /* columns: add R rows of `inner` into a block of accumulators */               \
            int threads = tg_threads_for(outer * R * inner);                                     \
            int64_t cb = tg_reduce_column_block(outer, inner, threads, COLUMN_BLOCK);            \
            int64_t blocks = (inner + cb - 1) / cb;                                              \
            TG_PARALLEL_FOR_WORK(task, outer * blocks, outer * R * inner, {                      \
                int64_t o = task / blocks, k0 = (task % blocks) * cb;                            \
                int64_t len = inner - k0 < cb ? inner - k0 : cb;                                 \
                double acc[COLUMN_BLOCK] = {0};                                                  \
                const T *base = x + o * R * inner + k0;                                          \
                int64_t r = 0;                                                                   \
                /* four rows per pass over the accumulators: each column still adds its rows     \
                 * one after the other, with a quarter of the loads and stores */                \
                for (; r + 4 <= R; r += 4)                                                       \
                    for (int64_t k = 0; k < len; k++) {                                          \
                        const T *c = base + r * inner + k;                                       \
                        acc[k] = (((acc[k] + c[0]) + c[inner]) + c[2 * inner]) + c[3 * inner];   \
                    }                                                                            \
                for (; r < R; r++)                                                               \
                    for (int64_t k = 0; k < len; k++) acc[k] += base[r * inner + k];             \
                for (int64_t k = 0; k < len; k++) y[o * inner + k0 + k] = (T)(acc[k] * scale);   \
            });                                                                                  \
        }                                                                                        \
    }
SUM_PASS(sum_pass_f32, float, tg_row_sum_f32)
SUM_PASS(sum_pass_f64, double, tg_row_sum_f64)

bool tg_sum_into(tg_tape *t, const tg_tensor *x, const bool reduced[TG_MAX_DIMS], tg_tensor *y, double scale) {
    size_t es = tg_dtype_size(x->dtype);
    if (x->numel == 0) {
        for (int64_t i = 0; i < y->numel; i++) tg_set(y, i, 0.0 * scale);
        return true;
    }
    int64_t passes[TG_MAX_DIMS][3];
    int n = tg_reduce_passes(x, reduced, passes);
    const void *src = x->data;
    for (int p = 0; p < n; p++) {
        bool last = p == n - 1;
        void *dst = last ? y->data : tg_tape_alloc(t, (size_t)(passes[p][0] * passes[p][2]) * es);
        if (!dst) return false;
        if (x->dtype == TG_F32)
            sum_pass_f32(src, dst, passes[p][0], passes[p][1], passes[p][2], last ? scale : 1.0);
        else
            sum_pass_f64(src, dst, passes[p][0], passes[p][1], passes[p][2], last ? scale : 1.0);
        src = dst;
    }
    if (n == 0) { /* nothing reduced (size-1 axes only): a scaled copy */
        for (int64_t i = 0; i < x->numel; i++) tg_set(y, i, tg_get(x, i) * scale);
    }
    return true;
}

typedef struct {
    bool reduced[TG_MAX_DIMS];
    bool keepdim;
    double scale; /* 1 for sum, 1/count for mean */
} sum_attrs;

/* d sum = broadcast g back over the reduced axes (scaled for mean) */
static tg_status sum_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const sum_attrs *at = node->attrs;
    tg_tensor *x = node->inputs[0];
    tg_tensor *gk = tg_as_keepdim(t, g, x, at->reduced);
    if (at->scale != 1.0) gk = tg_mul_scalar(t, gk, at->scale);
    gi[0] = tg_broadcast_to(t, gk, x->ndim, x->shape);
    return tg_tape_status(t);
}
/* "axis=1 keepdim"; nothing when every axis is summed (the scale of mean
 * follows from the shapes) */
static int sum_describe(const tg_node *node, char *buf, size_t size) {
    const sum_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_axes(&s, node->inputs[0]->ndim, at->reduced, at->keepdim);
    return tg_text_length(&s);
}
static const tg_op sum_op = {"sum", 1, sum_backward, sum_describe};
static const tg_op mean_op = {"mean", 1, sum_backward, sum_describe};

static tg_tensor *reduce_sum(tg_tape *t, const tg_op *op, const char *who, tg_tensor *x, const int *axes,
                             int n_axes, bool keepdim, bool mean) {
    if (!tg_check_pointwise_inputs(t, who, 1, &x)) return NULL;
    sum_attrs at = {.keepdim = keepdim, .scale = 1.0};
    if (!tg_check_axes(t, who, x, axes, n_axes, at.reduced)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    tg_reduced_shape(x, at.reduced, keepdim, &ndim, shape);
    if (mean) {
        int64_t numel = tg_shape_numel(ndim, shape), count = numel ? x->numel / numel : 0;
        at.scale = count ? 1.0 / (double)count : 0.0 / 0.0;
    }
    if (tg_fuse_sum_waits(t, x, at.reduced)) return tg_fuse_sum(t, op, x, at.reduced, at.scale, ndim, shape, &at, sizeof at);
    if (tg_fuse_realize(t, 1, &x)) return NULL; /* a sum that cannot wait needs x's values */
    tg_tensor *y = tg_tape_result(t, x->dtype, ndim, shape);
    if (!y || !tg_sum_into(t, x, at.reduced, y, at.scale)) return NULL;
    return tg_tape_record(t, op, 1, &x, y, &at, sizeof at);
}

tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce_sum(t, &sum_op, "tg_sum", x, axes, n_axes, keepdim, false);
}

tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce_sum(t, &mean_op, "tg_mean", x, axes, n_axes, keepdim, true);
}

/* ---- sum_to / broadcast_to: adjoint pair ---- */

/* target broadcasts to full? (target right-aligned, each dim 1 or equal) */
static bool broadcasts_to(int ndim, const int64_t *target, const tg_tensor *full) {
    if (ndim > full->ndim) return false;
    for (int i = 0; i < ndim; i++) {
        int64_t d = target[i], f = full->shape[full->ndim - ndim + i];
        if (d != f && d != 1) return false;
    }
    return true;
}

static bool same_dims(int ndim, const int64_t *shape, const tg_tensor *x) {
    if (ndim != x->ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (shape[i] != x->shape[i]) return false;
    return true;
}

typedef struct {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} shape_attrs;

static tg_status sum_to_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *x = node->inputs[0];
    gi[0] = tg_broadcast_to(t, g, x->ndim, x->shape);
    return tg_tape_status(t);
}
static tg_status broadcast_to_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *x = node->inputs[0];
    gi[0] = tg_sum_to(t, g, x->ndim, x->shape);
    return tg_tape_status(t);
}
static const tg_op sum_to_op = {"sum_to", 1, sum_to_backward};
static const tg_op broadcast_to_op = {"broadcast_to", 1, broadcast_to_backward};

tg_tensor *tg_sum_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape) {
    if (!tg_check_pointwise_inputs(t, "tg_sum_to", 1, &x)) return NULL;
    if (tg_check_shape("tg_sum_to", ndim, shape)) {
        tg_tape_fail(t, tg_check_shape("tg_sum_to", ndim, shape), "%s", tg_last_error());
        return NULL;
    }
    if (same_dims(ndim, shape, x)) return x;
    if (!broadcasts_to(ndim, shape, x)) {
        char buf[160];
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_sum_to: %s cannot be summed to %s", TG_DESC(x),
                     tg_shape_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    bool reduced[TG_MAX_DIMS] = {0};
    int lead = x->ndim - ndim;
    for (int i = 0; i < x->ndim; i++) reduced[i] = i < lead || (shape[i - lead] == 1 && x->shape[i] != 1);
    shape_attrs at = {.ndim = ndim};
    memcpy(at.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (tg_fuse_sum_waits(t, x, reduced)) return tg_fuse_sum(t, &sum_to_op, x, reduced, 1.0, ndim, shape, &at, sizeof at);
    if (tg_fuse_realize(t, 1, &x)) return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, ndim, shape);
    if (!y || !tg_sum_into(t, x, reduced, y, 1.0)) return NULL;
    return tg_tape_record(t, &sum_to_op, 1, &x, y, &at, sizeof at);
}


tg_tensor *tg_broadcast_to(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape) {
    if (!tg_check_pointwise_inputs(t, "tg_broadcast_to", 1, &x)) return NULL;
    tg_status st = tg_check_shape("tg_broadcast_to", ndim, shape);
    if (st) {
        tg_tape_fail(t, st, "%s", tg_last_error());
        return NULL;
    }
    if (same_dims(ndim, shape, x)) return x;
    tg_tensor probe = {.ndim = ndim};
    memcpy(probe.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (!broadcasts_to(x->ndim, x->shape, &probe)) {
        char buf[160];
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_broadcast_to: %s cannot be broadcast to %s", TG_DESC(x),
                     tg_shape_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    shape_attrs at = {.ndim = ndim};
    memcpy(at.shape, shape, sizeof(int64_t) * (size_t)ndim);
    /* fused: read in place with stride 0 wherever it broadcasts, never copied out */
    tg_tensor *y;
    if (tg_fuse_pointwise(t, &broadcast_to_op, tg_row_copy_f32, tg_row_copy_f64, 1, &x, ndim, shape, &at, sizeof at,
                          &y))
        return y;
    y = tg_tape_result(t, x->dtype, ndim, shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l;
        tg_layout_make(&l, y, 1, (const tg_tensor *const[]){x});
        tg_layout_run(&l, x->dtype == TG_F32 ? tg_row_copy_f32 : tg_row_copy_f64, y->data, (const void *[]){x->data, NULL, NULL},
                      tg_dtype_size(x->dtype), NULL);
    }
    return tg_tape_record(t, &broadcast_to_op, 1, &x, y, &at, sizeof at);
}

/* ---- registry entries ---- */
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_status sample_row(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 1), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_sum_all(tg_tape *t, tg_tensor **in) { return tg_sum(t, in[0], NULL, 0, false); }
static tg_tensor *apply_sum_axes(tg_tape *t, tg_tensor **in) {
    return tg_sum(t, in[0], (const int[]){0, -1}, 2, true);
}
static tg_tensor *apply_mean_all(tg_tape *t, tg_tensor **in) { return tg_mean(t, in[0], NULL, 0, false); }
static tg_tensor *apply_mean_axis(tg_tape *t, tg_tensor **in) { return tg_mean(t, in[0], (const int[]){1}, 1, false); }
static tg_tensor *apply_sum_to(tg_tape *t, tg_tensor **in) { return tg_sum_to(t, in[0], TG_SHAPE(3, 1)); }
static tg_tensor *apply_broadcast_to(tg_tape *t, tg_tensor **in) {
    return tg_broadcast_to(t, in[0], TG_SHAPE(2, 3, 4));
}

const tg_op_spec tg_spec_sum_all = {"sum", "tg_sum", 1, sample_3d, apply_sum_all};
const tg_op_spec tg_spec_sum_axes = {"sum(axes=0,-1,keepdim)", "tg_sum", 1, sample_3d, apply_sum_axes};
const tg_op_spec tg_spec_mean_all = {"mean", "tg_mean", 1, sample_3d, apply_mean_all};
const tg_op_spec tg_spec_mean_axis = {"mean(axis=1)", "tg_mean", 1, sample_3d, apply_mean_axis};
const tg_op_spec tg_spec_sum_to = {"sum_to", "tg_sum_to", 1, sample_3d, apply_sum_to};
const tg_op_spec tg_spec_broadcast_to = {"broadcast_to", "tg_broadcast_to", 1, sample_row, apply_broadcast_to};
