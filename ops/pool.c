/* max_pool2d, avg_pool2d (each with its adjoint as a second op, so backward
 * can be differentiated again), global_avg_pool2d and flatten. */
#include "ops/pool.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    int64_t kernel[2], stride[2], padding[2];
    int64_t height, width, out_height, out_width; /* one plane of x and of y */
    /* max pool: for each output element, the index h W + w of its maximum in
     * its plane (in the tape's arena); NULL when not saved */
    const int32_t *argmax;
    /* 2x2 windows with stride 2 (two_by_two), for one call (pool_planes):
     * output rows per block, and for output k of a block the offset 2 p W + 2 j
     * of its first tap from the block's first input row; NULL when a row is
     * longer than a block (one row a block, read in place: offset 2 k) */
    int64_t block_rows;
    const int32_t *block_first;
} pool_attrs;

/* [*lo, *hi) = the rows (or columns) of x under window i: i s - pad + [0, k), clipped to [0, size) */
static inline void window(int64_t i, int64_t stride, int64_t pad, int64_t kernel, int64_t size, int64_t *lo,
                          int64_t *hi) {
    int64_t start = i * stride - pad, end = start + kernel;
    *lo = start < 0 ? 0 : start;
    *hi = end > size ? size : end;
}

/* [*lo, *hi) = the j in [0, n) with 0 <= j stride + offset < size */
static inline void tap_range(int64_t offset, int64_t stride, int64_t size, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t last = size - 1 - offset < 0 ? -1 : (size - 1 - offset) / stride; /* inclusive */
    *lo = first < n ? first : n;
    *hi = last + 1 < n ? last + 1 : n;
    if (*hi < *lo) *hi = *lo;
}

/* Outputs of one row handled at once by max pooling (stack buffers). */
#define POOL_CHUNK 256

/* The common window, 2x2 with stride 2 and no padding: windows that tile x
 * without overlapping, its own kernels (max_plane_2x2, scatter_plane_2x2). */
static bool two_by_two(const pool_attrs *at) {
    return at->kernel[0] == 2 && at->kernel[1] == 2 && at->stride[0] == 2 && at->stride[1] == 2 &&
           at->padding[0] == 0 && at->padding[1] == 0;
}

/* The blocks of whole output rows the 2x2 kernels run (about POOL_CHUNK / 2
 * outputs; one row when a row is longer), with first[POOL_CHUNK / 2]. */
static void plan_blocks(pool_attrs *at, int32_t *first) {
    int64_t OW = at->out_width;
    if (OW > POOL_CHUNK / 2) {
        at->block_rows = 1;
        at->block_first = NULL;
        return;
    }
    at->block_rows = POOL_CHUNK / 2 / OW < at->out_height ? POOL_CHUNK / 2 / OW : at->out_height;
    for (int64_t p = 0; p < at->block_rows; p++)
        for (int64_t j = 0; j < OW; j++) first[p * OW + j] = (int32_t)(2 * p * at->width + 2 * j);
    at->block_first = first;
}

/* One plane (n, c) of a pooling kernel; in/out/arg are the whole tensors. */
typedef void (*plane_fn)(const pool_attrs *at, const void *in, void *out, int32_t *arg, int64_t plane);

#define T float
#define FN(name) name##_f32
#include "ops/pool_body.h"
#undef T
#undef FN
#define T double
#define FN(name) name##_f64
#include "ops/pool_body.h"
#undef T
#undef FN

/* Runs fn on every plane, split over threads when the work (elements of x
 * and y touched) is large enough. Planes are independent: any split gives the
 * same bits, so threads take blocks of planes as they come free (a thread the
 * system pauses holds up nothing). */
static void for_each_plane(const pool_attrs *at, int64_t planes, plane_fn fn, const void *in, void *out,
                           int32_t *arg) {
    double per_plane = (double)at->height * (double)at->width +
                       (double)at->out_height * (double)at->out_width * (double)at->kernel[0] * (double)at->kernel[1];
    if (planes < 2 || !TG_PARALLEL_WORTH((double)planes * per_plane)) {
        for (int64_t p = 0; p < planes; p++) fn(at, in, out, arg, p);
        return;
    }
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t p = 0; p < planes; p++) fn(at, in, out, arg, p);
}

/* "kernel=2x2 stride=2 pad=0" */
static int pool_describe(const tg_node *node, char *buf, size_t size) {
    const pool_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "kernel=%lldx%lld ", (long long)at->kernel[0], (long long)at->kernel[1]);
    tg_text_pair(&s, "stride", at->stride);
    tg_text_printf(&s, " ");
    tg_text_pair(&s, "pad", at->padding);
    return tg_text_length(&s);
}

/* One pooling op on x [N, C, ...]: a new [N, C, rows, cols] result, every
 * plane computed by f32/f64, recorded as op (each op and its adjoint below
 * are one call of this). */
static tg_tensor *pool_planes(tg_tape *t, const tg_op *op, const char *who, tg_tensor *x, const pool_attrs *at,
                              int64_t rows, int64_t cols, plane_fn f32, plane_fn f64) {
    if (!tg_check_inputs(t, who, 1, &x)) return NULL;
    tg_tensor *y = tg_tape_result(t, x->dtype, 4, (const int64_t[]){x->shape[0], x->shape[1], rows, cols});
    if (!y) return NULL;
    pool_attrs call = *at; /* recorded as given: the blocks are this call's */
    int32_t first[POOL_CHUNK / 2];
    if (two_by_two(at)) plan_blocks(&call, first);
    for_each_plane(&call, x->shape[0] * x->shape[1], x->dtype == TG_F32 ? f32 : f64, x->data, y->data,
                   (int32_t *)at->argmax);
    return tg_tape_record(t, op, 1, &x, y, at, sizeof *at);
}

/* ---- max pool: y = gather(x, argmax), dx = scatter(g, argmax), both ops ---- */
static tg_tensor *max_pool_scatter(tg_tape *t, tg_tensor *g, const pool_attrs *at);
static tg_tensor *max_pool_gather(tg_tape *t, tg_tensor *x, const pool_attrs *at);

static tg_status max_pool_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = max_pool_scatter(t, g, node->attrs);
    return tg_tape_status(t);
}
static const tg_op max_pool_op = {"max_pool2d", 1, max_pool_backward, pool_describe};

static tg_status max_pool_scatter_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = max_pool_gather(t, g, node->attrs);
    return tg_tape_status(t);
}
static const tg_op max_pool_scatter_op = {"max_pool2d_backward", 1, max_pool_scatter_backward, pool_describe};

/* dx [N,C,H,W] = 0 with dx[argmax[k]] += g[k] */
static tg_tensor *max_pool_scatter(tg_tape *t, tg_tensor *g, const pool_attrs *at) {
    bool tiles = two_by_two(at);
    return pool_planes(t, &max_pool_scatter_op, "max_pool2d_backward", g, at, at->height, at->width,
                       tiles ? scatter_plane_2x2_f32 : scatter_plane_f32,
                       tiles ? scatter_plane_2x2_f64 : scatter_plane_f64);
}

/* y [N,C,Hout,Wout] = x[argmax[k]]: the max pool again, at the saved positions */
static tg_tensor *max_pool_gather(tg_tape *t, tg_tensor *x, const pool_attrs *at) {
    return pool_planes(t, &max_pool_op, "max_pool2d", x, at, at->out_height, at->out_width, gather_plane_f32,
                       gather_plane_f64);
}

/* ---- average pool and its adjoint ---- */
static tg_tensor *avg_pool(tg_tape *t, tg_tensor *x, const pool_attrs *at);
static tg_tensor *avg_pool_adjoint(tg_tape *t, tg_tensor *g, const pool_attrs *at);

static tg_status avg_pool_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = avg_pool_adjoint(t, g, node->attrs);
    return tg_tape_status(t);
}
static const tg_op avg_pool_op = {"avg_pool2d", 1, avg_pool_backward, pool_describe};

static tg_status avg_pool_adjoint_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    gi[0] = avg_pool(t, g, node->attrs);
    return tg_tape_status(t);
}
static const tg_op avg_pool_adjoint_op = {"avg_pool2d_backward", 1, avg_pool_adjoint_backward, pool_describe};

static tg_tensor *avg_pool(tg_tape *t, tg_tensor *x, const pool_attrs *at) {
    return pool_planes(t, &avg_pool_op, "tg_avg_pool2d", x, at, at->out_height, at->out_width, avg_plane_f32,
                       avg_plane_f64);
}

static tg_tensor *avg_pool_adjoint(tg_tape *t, tg_tensor *g, const pool_attrs *at) {
    return pool_planes(t, &avg_pool_adjoint_op, "avg_pool2d_backward", g, at, at->height, at->width,
                       avg_adjoint_plane_f32, avg_adjoint_plane_f64);
}

/* ---- argument checks ---- */
static bool pool_options(tg_tape *t, const char *who, const tg_tensor *x, const tg_pool2d_opts *o, pool_attrs *at) {
    *at = (pool_attrs){0};
    if (x->ndim != 4) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s must be 4-D [N,C,H,W]", who, TG_DESC(x));
        return false;
    }
    bool default_stride = o->stride[0] == 0 && o->stride[1] == 0;
    const char *name = NULL, *rule = "give both (height, width), each >= 1 (and below 2^60)";
    const int64_t *pair = NULL;
    for (int i = 0; i < 2 && !name; i++) {
        if (o->kernel[i] < 1 || o->kernel[i] > TG_MAX_NUMEL)
            name = "kernel", pair = o->kernel;
        else if (!default_stride && (o->stride[i] < 1 || o->stride[i] > TG_MAX_NUMEL))
            name = "stride", pair = o->stride;
        else if (o->padding[i] < 0 || o->padding[i] > o->kernel[i] / 2)
            name = "padding", pair = o->padding, rule = "each must be >= 0 and at most half the kernel";
    }
    if (!name && !tg_shape_product(2, o->kernel, NULL))
        name = "kernel", rule = "its window must have at most 2^60 elements", pair = o->kernel;
    if (name) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: %s {%lld, %lld} is not valid: %s (x %s, kernel {%lld, %lld})", who, name,
                     (long long)pair[0], (long long)pair[1], rule, TG_DESC(x), (long long)o->kernel[0],
                     (long long)o->kernel[1]);
        return false;
    }
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        at->kernel[i] = o->kernel[i];
        at->stride[i] = default_stride ? o->kernel[i] : o->stride[i];
        at->padding[i] = o->padding[i];
        int64_t padded = x->shape[2 + i] + 2 * o->padding[i];
        if (o->kernel[i] > padded) {
            tg_tape_fail(t, TG_ERR_SHAPE, "%s: the kernel %lldx%lld is larger than the padded input %lldx%lld (x %s)",
                         who, (long long)o->kernel[0], (long long)o->kernel[1],
                         (long long)(x->shape[2] + 2 * o->padding[0]), (long long)(x->shape[3] + 2 * o->padding[1]),
                         TG_DESC(x));
            return false;
        }
        out[i] = (padded - o->kernel[i]) / at->stride[i] + 1;
    }
    if (x->shape[2] * x->shape[3] > INT32_MAX) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: planes of x %s exceed 2^31 elements", who, TG_DESC(x));
        return false;
    }
    at->height = x->shape[2], at->width = x->shape[3];
    at->out_height = out[0], at->out_width = out[1];
    return true;
}

tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, tg_pool2d_opts opts) {
    pool_attrs at;
    if (!tg_check_inputs(t, "tg_max_pool2d", 1, &x) || !pool_options(t, "tg_max_pool2d", x, &opts, &at)) return NULL;
    if (tg_tape_grad_enabled(t) && x->requires_grad) { /* written by the pool, read by backward only */
        int64_t outputs = x->shape[0] * x->shape[1] * at.out_height * at.out_width;
        if (!(at.argmax = tg_tape_alloc(t, sizeof(int32_t) * (size_t)(outputs ? outputs : 1)))) return NULL;
    }
    bool tiles = two_by_two(&at);
    return pool_planes(t, &max_pool_op, "tg_max_pool2d", x, &at, at.out_height, at.out_width,
                       tiles ? max_plane_2x2_f32 : max_plane_f32, tiles ? max_plane_2x2_f64 : max_plane_f64);
}

tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, tg_pool2d_opts opts) {
    pool_attrs at;
    if (!tg_check_inputs(t, "tg_avg_pool2d", 1, &x) || !pool_options(t, "tg_avg_pool2d", x, &opts, &at)) return NULL;
    return avg_pool(t, x, &at);
}

tg_tensor *tg_global_avg_pool2d(tg_tape *t, tg_tensor *x) {
    if (!tg_check_inputs(t, "tg_global_avg_pool2d", 1, &x)) return NULL;
    if (x->ndim != 4) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_global_avg_pool2d: x %s must be 4-D [N,C,H,W]", TG_DESC(x));
        return NULL;
    }
    return tg_mean(t, x, (const int[]){2, 3}, 2, false);
}

tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x) {
    if (!tg_check_inputs(t, "tg_flatten", 1, &x)) return NULL;
    if (x->ndim < 2) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_flatten: x %s needs a batch axis and at least one more", TG_DESC(x));
        return NULL;
    }
    int64_t rest = 1;
    for (int i = 1; i < x->ndim; i++) rest *= x->shape[i];
    return tg_reshape(t, x, 2, (const int64_t[]){x->shape[0], rest});
}

/* ---- registry entries ---- */

/* distinct values (a shuffled ramp, steps of 0.05) so that no window has a
 * tie within the finite-difference step */
static tg_status sample_distinct(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in, int ndim,
                                 const int64_t *shape) {
    in[0] = tg_tensor_empty(t, dt, ndim, shape);
    if (!in[0]) return tg_tape_status(t);
    int64_t n = in[0]->numel;
    for (int64_t i = 0; i < n; i++) tg_set(in[0], i, 0.05 * (double)(i - n / 2));
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1);
        double a = tg_get(in[0], i);
        tg_set(in[0], i, tg_get(in[0], j));
        tg_set(in[0], j, a);
    }
    return tg_tape_status(t);
}
static tg_status sample_small(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    return sample_distinct(t, rng, dt, in, TG_SHAPE(2, 2, 5, 4));
}
static tg_status sample_odd(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    return sample_distinct(t, rng, dt, in, TG_SHAPE(1, 3, 7, 6));
}
static tg_status sample_any(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4, 5), 0.1, 1.0);
    return tg_tape_status(t);
}

static const tg_pool2d_opts pool_2x2 = {.kernel = {2, 2}};
static const tg_pool2d_opts pool_3x3_s2_p1 = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
static const tg_pool2d_opts pool_overlapping = {.kernel = {3, 2}, .stride = {1, 1}, .padding = {1, 0}};

static tg_tensor *apply_max_2x2(tg_tape *t, tg_tensor **in) { return tg_max_pool2d(t, in[0], pool_2x2); }
static tg_tensor *apply_max_3x3(tg_tape *t, tg_tensor **in) { return tg_max_pool2d(t, in[0], pool_3x3_s2_p1); }
static tg_tensor *apply_max_overlap(tg_tape *t, tg_tensor **in) { return tg_max_pool2d(t, in[0], pool_overlapping); }
static tg_tensor *apply_avg_2x2(tg_tape *t, tg_tensor **in) { return tg_avg_pool2d(t, in[0], pool_2x2); }
static tg_tensor *apply_avg_3x3(tg_tape *t, tg_tensor **in) { return tg_avg_pool2d(t, in[0], pool_3x3_s2_p1); }
static tg_tensor *apply_avg_overlap(tg_tape *t, tg_tensor **in) { return tg_avg_pool2d(t, in[0], pool_overlapping); }
static tg_tensor *apply_global(tg_tape *t, tg_tensor **in) { return tg_global_avg_pool2d(t, in[0]); }
static tg_tensor *apply_flatten(tg_tape *t, tg_tensor **in) { return tg_flatten(t, in[0]); }

const tg_op_spec tg_spec_max_pool2d = {"max_pool2d(2x2,odd)", "tg_max_pool2d", 1, sample_small, apply_max_2x2};
const tg_op_spec tg_spec_max_pool2d_padded = {"max_pool2d(3x3,stride=2,pad=1)", "tg_max_pool2d", 1, sample_odd,
                                              apply_max_3x3};
const tg_op_spec tg_spec_max_pool2d_overlapping = {"max_pool2d(3x2,stride=1,pad=1x0)", "tg_max_pool2d", 1,
                                                   sample_small, apply_max_overlap};
const tg_op_spec tg_spec_avg_pool2d = {"avg_pool2d(2x2,odd)", "tg_avg_pool2d", 1, sample_small, apply_avg_2x2};
const tg_op_spec tg_spec_avg_pool2d_padded = {"avg_pool2d(3x3,stride=2,pad=1)", "tg_avg_pool2d", 1, sample_odd,
                                              apply_avg_3x3};
const tg_op_spec tg_spec_avg_pool2d_overlapping = {"avg_pool2d(3x2,stride=1,pad=1x0)", "tg_avg_pool2d", 1,
                                                   sample_small, apply_avg_overlap};
const tg_op_spec tg_spec_global_avg_pool2d = {"global_avg_pool2d", "tg_global_avg_pool2d", 1, sample_any,
                                              apply_global};
const tg_op_spec tg_spec_flatten = {"flatten", "tg_flatten", 1, sample_any, apply_flatten};
