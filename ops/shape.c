/* Shape ops: forward (mostly data movement) and backward rules. */
#include "ops/shape.h"

#include <string.h>

#include "ops/describe.h"
#include "ops/kernel.h"
#include "ops/registry.h"

typedef struct {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} reshape_attrs;

/* d reshape = reshape g back to x's shape */
static tg_status reshape_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    tg_tensor *x = node->inputs[0];
    gi[0] = tg_reshape(t, g, x->ndim, x->shape);
    return tg_tape_status(t);
}
static const tg_op reshape_op = {"reshape", 1, reshape_backward};

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape) {
    if (!tg_check_inputs(t, "tg_reshape", 1, &x)) return NULL;
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_reshape: %d dimensions requested for %s (0 to %d allowed)", ndim,
                     TG_DESC(x), TG_MAX_DIMS);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_reshape: shape is NULL for %d dimensions (reshaping %s)", ndim, TG_DESC(x));
        return NULL;
    }
    /* at most one -1 (inferred), other dimensions >= 0; `known` is the
     * overflow-checked product of the others */
    int64_t resolved[TG_MAX_DIMS], known;
    int infer = -1;
    char buf[160];
    bool ok = true;
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            resolved[i] = 1;
        } else if (shape[i] < 0) {
            ok = false;
        }
    }
    if (!ok || !tg_shape_product(ndim, resolved, &known)) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_reshape: bad target shape %s for %s (%s)",
                     tg_shape_str(ndim, shape, buf, sizeof buf), TG_DESC(x),
                     ok ? "too many elements" : "dimensions must be >= 0, one of them may be -1");
        return NULL;
    }
    if (infer >= 0) resolved[infer] = known ? x->numel / known : 0;
    if (tg_shape_numel(ndim, resolved) != x->numel) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_reshape: cannot reshape %s (%lld elements) to %s", TG_DESC(x),
                     (long long)x->numel, tg_shape_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    tg_tensor *y = tg_tape_alloc(t, sizeof *y);
    if (!y) return NULL;
    *y = *x; /* shares storage: tensors are contiguous */
    y->ndim = ndim;
    memcpy(y->shape, resolved, sizeof(int64_t) * (size_t)ndim);
    y->tape = t;
    y->epoch = tg_tape_epoch(t);
    y->name = NULL;
    y->grad = NULL;
    y->grad_storage = NULL;
    y->node = NULL;
    y->keeps_grad = false;
    y->pending_grad = NULL;
    y->pending_pass = 0;
    reshape_attrs at = {.ndim = ndim};
    memcpy(at.shape, resolved, sizeof(int64_t) * (size_t)ndim);
    return tg_tape_record(t, &reshape_op, 1, &x, y, &at, sizeof at);
}

typedef struct {
    int perm[TG_MAX_DIMS];
} permute_attrs;

/* d permute(perm) = permute(g, inverse perm) */
static tg_status permute_backward(tg_tape *t, const tg_node *node, tg_tensor *g, tg_tensor **gi) {
    const permute_attrs *at = node->attrs;
    int inverse[TG_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inverse[at->perm[i]] = i;
    gi[0] = tg_permute(t, g, inverse);
    return tg_tape_status(t);
}
/* "perm=2,0,1" */
static int permute_describe(const tg_node *node, char *buf, size_t size) {
    const permute_attrs *at = node->attrs;
    tg_text s = tg_text_on(buf, size);
    tg_text_printf(&s, "perm=");
    for (int i = 0; i < node->inputs[0]->ndim; i++) tg_text_printf(&s, "%s%d", i ? "," : "", at->perm[i]);
    return tg_text_length(&s);
}
static const tg_op permute_op = {"permute", 1, permute_backward, permute_describe};

tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, const int *perm) {
    if (!tg_check_inputs(t, "tg_permute", 1, &x)) return NULL;
    permute_attrs at = {{0}};
    bool seen[TG_MAX_DIMS] = {0};
    for (int i = 0; i < x->ndim; i++) {
        int a = perm ? perm[i] : -1;
        if (a < 0) a += x->ndim;
        if (!perm || a < 0 || a >= x->ndim || seen[a]) {
            tg_tape_fail(t, TG_ERR_ARG, "tg_permute: the permutation is not one of the %d axes of %s", x->ndim,
                         TG_DESC(x));
            return NULL;
        }
        seen[a] = true;
        at.perm[i] = a;
    }
    int64_t shape[TG_MAX_DIMS], in_stride[TG_MAX_DIMS];
    int64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= x->shape[i];
    }
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[at.perm[i]];
    tg_tensor *y = tg_tape_result(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    if (y->numel) {
        tg_layout l = {.ndim = x->ndim ? x->ndim : 1};
        l.shape[0] = 1;
        l.stride[0][0] = 0;
        for (int i = 0; i < x->ndim; i++) {
            l.shape[i] = shape[i];
            l.stride[0][i] = in_stride[at.perm[i]];
        }
        tg_layout_run(&l, x->dtype == TG_F32 ? tg_row_copy_f32 : tg_row_copy_f64, y->data,
                      (const void *[]){x->data, NULL, NULL}, tg_dtype_size(x->dtype), NULL);
    }
    return tg_tape_record(t, &permute_op, 1, &x, y, &at, sizeof at);
}

tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int axis0, int axis1) {
    if (!tg_check_inputs(t, "tg_transpose", 1, &x)) return NULL;
    int a, b;
    if (!tg_check_axis(t, "tg_transpose", x, axis0, &a) || !tg_check_axis(t, "tg_transpose", x, axis1, &b))
        return NULL;
    int perm[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return tg_permute(t, x, perm);
}

/* ---- registry entries ---- */
static tg_status sample_3d(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(2, 3, 4), 0.1, 1.5);
    return tg_tape_status(t);
}
static tg_tensor *apply_reshape(tg_tape *t, tg_tensor **in) { return tg_reshape(t, in[0], TG_SHAPE(4, -1)); }

static tg_tensor *apply_permute(tg_tape *t, tg_tensor **in) { return tg_permute(t, in[0], (const int[]){2, 0, 1}); }
static tg_tensor *apply_transpose(tg_tape *t, tg_tensor **in) { return tg_transpose(t, in[0], 0, -1); }

const tg_op_spec tg_spec_permute = {"permute", "tg_permute", 1, sample_3d, apply_permute};
const tg_op_spec tg_spec_transpose = {"transpose", "tg_transpose", 1, sample_3d, apply_transpose};
const tg_op_spec tg_spec_reshape = {"reshape", "tg_reshape", 1, sample_3d, apply_reshape};
