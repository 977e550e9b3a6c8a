/* slice and its adjoint pad: contiguous copies along one axis.
 * x viewed as [outer, D, inner]: a slice keeps rows start..end-1 of D, a pad
 * surrounds the D rows with zeros; each outer row is one memcpy. */
#include <stdio.h>
#include <string.h>

#include "ops/blocks.h"
#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"
#include "ops/shape.h"

typedef struct {
    int axis;
    int64_t before, after; /* slice: start, end (normalised); pad: zeros before, after */
} slice_attrs;

/* Python slicing: negative counts from the end, then clamp to [0, size]. */
static int64_t clamp_bound(int64_t i, int64_t size) {
    if (i < 0) i += size;
    return i < 0 ? 0 : (i > size ? size : i);
}

/* d slice = g padded back to x's length: pad(g, start, D - end) */
static tg_status slice_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const slice_attrs *at = node->attrs;
    gi[0] = tg_pad(t, g, at->axis, at->before, node->inputs[0]->shape[at->axis] - at->after);
    return tg_tape_status(t);
}
/* "axis=1 1:3" (normalised start:end) */
static int slice_describe(const tg_node *node, char *buf, size_t size) {
    const slice_attrs *at = node->attrs;
    return snprintf(buf, size, "axis=%d %lld:%lld", at->axis, (long long)at->before, (long long)at->after);
}
static const tg_op slice_op = {"slice", 1, slice_backward, slice_describe};

tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int64_t start, int64_t end) {
    if (!tg_check_inputs(t, "tg_slice", 1, &x)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_slice", x, axis, &a)) return NULL;
    int64_t D = x->shape[a];
    slice_attrs at = {a, clamp_bound(start, D), clamp_bound(end, D)};
    if (at.after < at.before) at.after = at.before; /* empty */
    int64_t shape[TG_MAX_DIMS], outer, inner;
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = at.after - at.before;
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    tg_axis_view(x->ndim, x->shape, a, &outer, &inner);
    size_t es = tg_dtype_size(x->dtype);
    tg_copy_blocks(y->data, shape[a] * inner, (const char *)x->data + (size_t)(at.before * inner) * es, D * inner,
                   outer, shape[a] * inner, es);
    return tg_tape_record(t, &slice_op, 1, &x, y, &at, sizeof at);
}

/* d pad = the middle of g: slice(g, before, before + D) */
static tg_status pad_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const slice_attrs *at = node->attrs;
    gi[0] = tg_slice(t, g, at->axis, at->before, at->before + node->inputs[0]->shape[at->axis]);
    return tg_tape_status(t);
}
/* "axis=1 before=2 after=1" */
static int pad_describe(const tg_node *node, char *buf, size_t size) {
    const slice_attrs *at = node->attrs;
    return snprintf(buf, size, "axis=%d before=%lld after=%lld", at->axis, (long long)at->before,
                    (long long)at->after);
}
static const tg_op pad_op = {"pad", 1, pad_backward, pad_describe};

tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int axis, int64_t before, int64_t after) {
    if (!tg_check_inputs(t, "tg_pad", 1, &x)) return NULL;
    int a;
    if (!tg_check_axis(t, "tg_pad", x, axis, &a)) return NULL;
    int64_t D = x->shape[a];
    if (before < 0 || after < 0 || before > INT64_MAX - D || after > INT64_MAX - D - before) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_pad: padding (before %lld, after %lld) of %s is negative or too large",
                     (long long)before, (long long)after, TG_DESC(x));
        return NULL;
    }
    slice_attrs at = {a, before, after};
    int64_t shape[TG_MAX_DIMS], outer, inner;
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = before + D + after;
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    tg_axis_view(x->ndim, x->shape, a, &outer, &inner);
    size_t es = tg_dtype_size(x->dtype);
    int64_t row = shape[a] * inner;
    char *base = y->data;
    tg_copy_blocks(base, row, NULL, 0, outer, before * inner, es);
    tg_copy_blocks(base + (size_t)(before * inner) * es, row, x->data, D * inner, outer, D * inner, es);
    tg_copy_blocks(base + (size_t)((before + D) * inner) * es, row, NULL, 0, outer, after * inner, es);
    return tg_tape_record(t, &pad_op, 1, &x, y, &at, sizeof at);
}

/* ---- registry entries ---- */
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 5, 2), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_slice(tg_tape *t, tg_tensor **in) { return tg_slice(t, in[0], 1, 1, -1); }
static tg_tensor *apply_slice_last(tg_tape *t, tg_tensor **in) { return tg_slice(t, in[0], -1, -1, 2); }
static tg_tensor *apply_pad(tg_tape *t, tg_tensor **in) { return tg_pad(t, in[0], 1, 2, 1); }
static tg_tensor *apply_pad_first(tg_tape *t, tg_tensor **in) { return tg_pad(t, in[0], 0, 0, 2); }

const tg_op_spec tg_spec_slice = {"slice(axis=1,1:-1)", "tg_slice", 1, sample_3d, apply_slice};
const tg_op_spec tg_spec_slice_last = {"slice(axis=-1,-1:2)", "tg_slice", 1, sample_3d, apply_slice_last};
const tg_op_spec tg_spec_pad = {"pad(axis=1,2,1)", "tg_pad", 1, sample_3d, apply_pad};
const tg_op_spec tg_spec_pad_first = {"pad(axis=0,0,2)", "tg_pad", 1, sample_3d, apply_pad_first};
