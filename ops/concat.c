/* concat: n tensors joined along one axis; its backward slices g apart.
 * Each input viewed as [outer, D_k, inner] lands in y [outer, sum D_k, inner]
 * at offset off_k = D_0 + ... + D_{k-1}: one memcpy per (input, outer row). */
#include <stdio.h>
#include <string.h>

#include "ops/blocks.h"
#include "ops/kernel.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    int axis;
} concat_attrs;

/* d x_k = slice(g, off_k, off_k + D_k) */
static tg_status concat_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const concat_attrs *at = node->attrs;
    int64_t off = 0;
    for (int k = 0; k < node->n_inputs; k++) {
        int64_t d = node->inputs[k]->shape[at->axis];
        if (node->inputs[k]->requires_grad && !(gi[k] = tg_slice(t, g, at->axis, off, off + d)))
            return tg_tape_status(t);
        off += d;
    }
    return tg_tape_status(t);
}
/* "axis=1" */
static int concat_describe(const tg_node *node, char *buf, size_t size) {
    return snprintf(buf, size, "axis=%d", ((const concat_attrs *)node->attrs)->axis);
}
static const tg_op concat_op = {"concat", -1, concat_backward, concat_describe};

/* Every input has x0's rank and x0's sizes outside axis a. */
static bool check_shapes(tg_tape *t, int n, tg_tensor *const *xs, int a) {
    const tg_tensor *x0 = xs[0];
    for (int k = 1; k < n; k++) {
        bool ok = xs[k]->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == a || xs[k]->shape[d] == x0->shape[d];
        if (!ok) {
            tg_tape_fail(t, TG_ERR_SHAPE, "tg_concat: input %d %s does not match input 0 %s outside axis %d", k,
                         TG_DESC(xs[k]), TG_DESC(x0), a);
            return false;
        }
    }
    return true;
}

tg_tensor *tg_concat(tg_tape *t, int n, tg_tensor *const *xs, int axis) {
    if (!tg_check_inputs(t, "tg_concat", 0, NULL)) return NULL; /* the tape itself */
    if (n < 1 || !xs) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_concat: needs at least one tensor (n = %d%s)", n, xs ? "" : ", xs NULL");
        return NULL;
    }
    if (!tg_check_inputs(t, "tg_concat", n, xs)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_concat", xs[0], axis, &a) || !check_shapes(t, n, xs, a)) return NULL;
    int64_t shape[TG_MAX_DIMS], outer, inner;
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[a] = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->shape[a] > TG_MAX_NUMEL - shape[a]) {
            tg_tape_fail(t, TG_ERR_SHAPE, "tg_concat: joining %d tensors along axis %d gives more than %lld rows", n,
                         a, (long long)TG_MAX_NUMEL);
            return NULL;
        }
        shape[a] += xs[k]->shape[a];
    }
    tg_tensor *y = tg_tape_result(t, xs[0]->dtype, xs[0]->ndim, shape);
    if (!y) return NULL;
    tg_axis_view(y->ndim, y->shape, a, &outer, &inner);
    size_t es = tg_dtype_size(y->dtype);
    int64_t off = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = xs[k]->shape[a] * inner;
        tg_copy_blocks((char *)y->data + (size_t)(off * inner) * es, shape[a] * inner, xs[k]->data, len, outer, len,
                       es);
        off += xs[k]->shape[a];
    }
    concat_attrs at = {a};
    return tg_tape_record(t, &concat_op, n, xs, y, &at, sizeof at);
}

/* ---- registry entries ---- */
/* three inputs [2,1,3], [2,2,3], [2,3,3] joined along axis 1 -> [2,6,3] */
static tg_status sample_three(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    for (int k = 0; k < 3; k++) in[k] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, k + 1, 3), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_concat(tg_tape *t, tg_tensor **in) { return tg_concat(t, 3, in, 1); }
/* [2,3,3] twice along the last axis -> [2,3,6] */
static tg_status sample_two(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    for (int k = 0; k < 2; k++) in[k] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 3), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_concat_last(tg_tape *t, tg_tensor **in) { return tg_concat(t, 2, in, -1); }

const tg_op_spec tg_spec_concat = {"concat(axis=1)", "tg_concat", 3, sample_three, apply_concat};
const tg_op_spec tg_spec_concat_last = {"concat(axis=-1)", "tg_concat", 2, sample_two, apply_concat_last};
