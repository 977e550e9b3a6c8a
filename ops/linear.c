/* Composites: linear layer and L2 penalty. */
#include "ops/elementwise.h"
#include "ops/kernel.h"
#include "ops/matmul.h"
#include "ops/nn.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/shape.h"
#include "ops/unary.h"

/* y = x @ W + b */
tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b) {
    tg_tensor *in[3] = {x, W, b};
    if (!tg_check_inputs(t, "tg_linear", b ? 3 : 2, in)) return NULL;
    if (W->ndim != 2 || (b && (b->ndim != 1 || b->shape[0] != W->shape[1]))) {
        tg_tape_fail(t, TG_ERR_SHAPE, "tg_linear: W must be [in,out] and b [out]: got W %s, b %s", TG_DESC(W),
                     TG_DESC(b));
        return NULL;
    }
    tg_tensor *y;
    TG_IN_SCOPE(t, "linear", y, b ? tg_add(t, tg_matmul(t, x, W), b) : tg_matmul(t, x, W));
    return y;
}

/* lambda/2 * sum_k sum(w_k^2), summed per dtype; a mixed list adds the f32
 * part, cast, to the f64 part */
static tg_tensor *l2(tg_tape *t, int n, tg_tensor *const *tensors, double lambda) {
    tg_tensor *total[2] = {NULL, NULL}; /* [TG_F32], [TG_F64] */
    for (int k = 0; k < n; k++) {
        tg_dtype d = tensors[k]->dtype;
        tg_tensor *s = tg_sum(t, tg_square(t, tensors[k]), NULL, 0, false);
        total[d] = total[d] ? tg_add(t, total[d], s) : s;
        if (!total[d]) return NULL;
    }
    tg_tensor *sum = total[TG_F64] && total[TG_F32] ? tg_add(t, total[TG_F64], tg_cast(t, total[TG_F32], TG_F64))
                     : total[TG_F64]                 ? total[TG_F64]
                                                     : total[TG_F32];
    return tg_mul_scalar(t, sum, lambda / 2.0);
}

tg_tensor *tg_l2_penalty_of(tg_tape *t, int n, tg_tensor *const *tensors, double lambda) {
    if (!t) {
        tg_set_error(TG_ERR_ARG, "tg_l2_penalty: tape is NULL");
        return NULL;
    }
    if (n < 1 || !tensors) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_l2_penalty: no tensors given");
        return NULL;
    }
    /* every tensor checked as an op's input would be (NULL, stale, another tape); dtypes may differ */
    tg_tape_set_op(t, "tg_l2_penalty");
    for (int k = 0; k < n; k++) {
        const char *why = tg_tape_check_tensor(t, tensors[k]);
        if (why) {
            tg_tape_fail(t, tg_tape_is_stale(t, tensors[k]) ? TG_ERR_STATE : TG_ERR_ARG, "tg_l2_penalty: tensor %d %s",
                         k, why);
            return NULL;
        }
    }
    tg_tensor *y;
    TG_IN_FUSED_SCOPE(t, "l2_penalty", y, l2(t, n, tensors, lambda));
    return y;
}

tg_tensor *tg_l2_penalty(tg_tape *t, const tg_params *p, double lambda) {
    if (!t) {
        tg_set_error(TG_ERR_ARG, "tg_l2_penalty: tape is NULL");
        return NULL;
    }
    if (!p) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_l2_penalty: parameter store is NULL");
        return NULL;
    }
    int n = 0, count = tg_params_count(p);
    tg_tensor **weights = tg_tape_alloc(t, sizeof(tg_tensor *) * (size_t)(count ? count : 1));
    if (!weights) return NULL;
    for (int i = 0; i < count; i++)
        if (tg_params_at(p, i)->kind == TG_KIND_PARAM) weights[n++] = tg_params_at(p, i);
    if (n == 0) {
        tg_tape_fail(t, TG_ERR_ARG, "tg_l2_penalty: the store has no trainable parameters");
        return NULL;
    }
    return tg_l2_penalty_of(t, n, weights, lambda);
}

/* ---- registry entries ---- */
static tg_status sample_linear(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(4, 3), 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 2), 0.1, 1.0);
    in[2] = tg_sample_signed(t, rng, dt, TG_SHAPE(2), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_status sample_l2(tg_tape *t, tg_rng *rng, tg_dtype dt, tg_tensor **in) {
    in[0] = tg_sample_signed(t, rng, dt, TG_SHAPE(3, 2), 0.1, 1.0);
    in[1] = tg_sample_signed(t, rng, dt, TG_SHAPE(4), 0.1, 1.0);
    return tg_tape_status(t);
}
static tg_tensor *apply_linear(tg_tape *t, tg_tensor **in) { return tg_linear(t, in[0], in[1], in[2]); }
static tg_tensor *apply_l2(tg_tape *t, tg_tensor **in) { return tg_l2_penalty_of(t, 2, in, 0.3); }

const tg_op_spec tg_spec_linear = {"linear", "tg_linear", 3, sample_linear, apply_linear};
const tg_op_spec tg_spec_l2_penalty = {"l2_penalty", "tg_l2_penalty_of", 2, sample_l2, apply_l2};
